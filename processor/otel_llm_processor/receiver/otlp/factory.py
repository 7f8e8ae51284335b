"""Factory of the ``otlp`` receiver."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.receiver.otlp.config import Config
from otel_llm_processor.receiver.otlp.receiver import OtlpReceiver

__all__ = ["FACTORY"]


def _create(settings: CreateSettings, config: Config) -> OtlpReceiver:
    return OtlpReceiver(settings, config)


FACTORY: Factory[Config] = Factory(
    type="otlp",
    kind=ComponentKind.RECEIVER,
    config_class=Config,
    create=_create,
    signals=frozenset({Signal.TRACES, Signal.METRICS, Signal.LOGS}),
)
