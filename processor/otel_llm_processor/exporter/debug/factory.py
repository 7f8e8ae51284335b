"""Factory of the ``debug`` exporter."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.exporter.debug.config import Config
from otel_llm_processor.exporter.debug.exporter import DebugExporter

__all__ = ["FACTORY"]


def _create(settings: CreateSettings, config: Config) -> DebugExporter:
    return DebugExporter(str(settings.id), settings.telemetry, config)


FACTORY: Factory[Config] = Factory(
    type="debug",
    kind=ComponentKind.EXPORTER,
    config_class=Config,
    create=_create,
    signals=frozenset(Signal),
)
