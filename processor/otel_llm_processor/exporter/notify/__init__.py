"""Shared machinery of the alert notifiers: config, persistent outbox sender, HTTP error mapping."""

from __future__ import annotations

from otel_llm_processor.exporter.notify.config import NotifierConfig, RetryConfig
from otel_llm_processor.exporter.notify.errors import PermanentDeliveryError, TransientDeliveryError
from otel_llm_processor.exporter.notify.notifier import Notifier

__all__ = [
    "Notifier",
    "NotifierConfig",
    "PermanentDeliveryError",
    "RetryConfig",
    "TransientDeliveryError",
]
