"""``exporters: slack: {webhook_url, ...NotifierConfig}``."""

from __future__ import annotations

from pydantic import Field, SecretStr

from otel_llm_processor.exporter.notify.config import NotifierConfig

__all__ = ["Config"]


class Config(NotifierConfig):
    webhook_url: SecretStr = Field(description="Slack incoming-webhook URL (a secret: never logged)")
