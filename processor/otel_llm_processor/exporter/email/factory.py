"""Factory of the ``email`` notifier (an exporter of the alerts signal)."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.exporter.email.config import Config
from otel_llm_processor.exporter.email.smtp import EmailNotifier

__all__ = ["FACTORY"]


def _create(settings: CreateSettings, config: Config) -> EmailNotifier:
    return EmailNotifier(settings, config)


FACTORY: Factory[Config] = Factory(
    type="email",
    kind=ComponentKind.EXPORTER,
    config_class=Config,
    create=_create,
    signals=frozenset({Signal.ALERTS}),
)
