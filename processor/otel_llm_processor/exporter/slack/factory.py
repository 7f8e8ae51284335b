"""Factory of the ``slack`` notifier (an exporter of the alerts signal)."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.exporter.slack.config import Config
from otel_llm_processor.exporter.slack.message import SlackNotifier

__all__ = ["FACTORY"]


def _create(settings: CreateSettings, config: Config) -> SlackNotifier:
    return SlackNotifier(settings, config)


FACTORY: Factory[Config] = Factory(
    type="slack",
    kind=ComponentKind.EXPORTER,
    config_class=Config,
    create=_create,
    signals=frozenset({Signal.ALERTS}),
)
