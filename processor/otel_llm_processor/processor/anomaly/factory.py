"""Factory of the ``anomaly`` processor."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.processor.anomaly.anomaly import AnomalyProcessor
from otel_llm_processor.processor.anomaly.config import Config

__all__ = ["FACTORY"]


def _create(settings: CreateSettings, config: Config) -> AnomalyProcessor:
    return AnomalyProcessor(settings, config)


FACTORY: Factory[Config] = Factory(
    type="anomaly",
    kind=ComponentKind.PROCESSOR,
    config_class=Config,
    create=_create,
    signals=frozenset({Signal.METRICS}),
)
