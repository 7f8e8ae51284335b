"""Factory of the ``alertmanager`` notifier (an exporter of the alerts signal)."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.exporter.alertmanager.api import AlertmanagerNotifier
from otel_llm_processor.exporter.alertmanager.config import Config

__all__ = ["FACTORY"]


def _create(settings: CreateSettings, config: Config) -> AlertmanagerNotifier:
    return AlertmanagerNotifier(settings, config)


FACTORY: Factory[Config] = Factory(
    type="alertmanager",
    kind=ComponentKind.EXPORTER,
    config_class=Config,
    create=_create,
    signals=frozenset({Signal.ALERTS}),
)
