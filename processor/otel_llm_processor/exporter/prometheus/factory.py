"""Factory of the ``prometheus`` exporter: metrics from any pipeline, served on /metrics."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.exporter.prometheus.config import Config
from otel_llm_processor.exporter.prometheus.exporter import PrometheusExporter

__all__ = ["FACTORY", "create"]


def create(settings: CreateSettings, config: Config) -> PrometheusExporter:
    return PrometheusExporter(settings, config)


FACTORY: Factory[Config] = Factory(
    type="prometheus",
    kind=ComponentKind.EXPORTER,
    config_class=Config,
    create=create,
    signals=frozenset({Signal.METRICS}),
)
