"""Factory of the ``normalize`` processor."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.processor.normalize.config import Config
from otel_llm_processor.processor.normalize.normalize import NormalizeProcessor

__all__ = ["FACTORY", "create"]


def create(settings: CreateSettings, config: Config) -> NormalizeProcessor:
    return NormalizeProcessor(settings, config)


FACTORY: Factory[Config] = Factory(
    type="normalize",
    kind=ComponentKind.PROCESSOR,
    config_class=Config,
    create=create,
    signals=frozenset({Signal.TRACES}),
)
