"""Factory of the ``pagerduty`` notifier (an exporter of the alerts signal)."""

from __future__ import annotations

from otel_llm_processor.component import ComponentKind, CreateSettings, Factory, Signal
from otel_llm_processor.exporter.pagerduty.config import Config
from otel_llm_processor.exporter.pagerduty.events import PagerDutyNotifier

__all__ = ["FACTORY"]


def _create(settings: CreateSettings, config: Config) -> PagerDutyNotifier:
    return PagerDutyNotifier(settings, config)


FACTORY: Factory[Config] = Factory(
    type="pagerduty",
    kind=ComponentKind.EXPORTER,
    config_class=Config,
    create=_create,
    signals=frozenset({Signal.ALERTS}),
)
