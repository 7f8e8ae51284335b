"""Factory of the ``alert_rules`` connector."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.connector.alert_rules.alert_rules import AlertRulesConnector
from otel_llm_processor.connector.alert_rules.config import Config

__all__ = ["FACTORY"]


def _create(settings: CreateSettings, config: Config) -> AlertRulesConnector:
    return AlertRulesConnector(settings, config)


FACTORY: Factory[Config] = Factory(
    type="alert_rules",
    kind=ComponentKind.CONNECTOR,
    config_class=Config,
    create=_create,
    signals=frozenset({Signal.METRICS}),
    produces=frozenset({Signal.ALERTS}),
)
