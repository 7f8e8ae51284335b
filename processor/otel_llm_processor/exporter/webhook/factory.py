"""Factory of the ``webhook`` notifier (an exporter of the alerts signal)."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.exporter.webhook.config import Config
from otel_llm_processor.exporter.webhook.post import WebhookNotifier

__all__ = ["FACTORY"]


def _create(settings: CreateSettings, config: Config) -> WebhookNotifier:
    return WebhookNotifier(settings, config)


FACTORY: Factory[Config] = Factory(
    type="webhook",
    kind=ComponentKind.EXPORTER,
    config_class=Config,
    create=_create,
    signals=frozenset({Signal.ALERTS}),
)
