"""Factory of the ``otlp`` exporter: traces, metrics and logs to any OTLP backend."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.exporter.otlp.config import Config
from otel_llm_processor.exporter.otlp.exporter import OtlpExporter

__all__ = ["FACTORY", "create"]


def create(settings: CreateSettings, config: Config) -> OtlpExporter:
    return OtlpExporter(settings, config)


FACTORY: Factory[Config] = Factory(
    type="otlp",
    kind=ComponentKind.EXPORTER,
    config_class=Config,
    create=create,
    signals=frozenset({Signal.TRACES, Signal.METRICS, Signal.LOGS}),
)
