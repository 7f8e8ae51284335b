"""``exporters: pagerduty: {routing_key, url, source, ...NotifierConfig}``."""

from __future__ import annotations

from pydantic import Field, SecretStr

from otel_llm_processor.exporter.notify.config import NotifierConfig

__all__ = ["Config"]


class Config(NotifierConfig):
    routing_key: SecretStr = Field(description="integration key of the PagerDuty service (never logged)")
    url: str = "https://events.pagerduty.com/v2/enqueue"
    source: str = Field(default="", description="payload.source; default: the alert's service label")
