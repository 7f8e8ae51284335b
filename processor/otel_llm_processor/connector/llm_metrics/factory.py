"""Factory of the ``llm_metrics`` connector: traces in, metrics out."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.connector.llm_metrics.config import Config
from otel_llm_processor.connector.llm_metrics.connector import LlmMetricsConnector

__all__ = ["FACTORY", "create"]


def create(settings: CreateSettings, config: Config) -> LlmMetricsConnector:
    return LlmMetricsConnector(settings, config)


FACTORY: Factory[Config] = Factory(
    type="llm_metrics",
    kind=ComponentKind.CONNECTOR,
    config_class=Config,
    create=create,
    signals=frozenset({Signal.TRACES}),
    produces=frozenset({Signal.METRICS}),
)
