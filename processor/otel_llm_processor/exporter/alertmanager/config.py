"""``exporters: alertmanager: {url, resend_interval_s, generator_url, bearer_token, ...}``."""

from __future__ import annotations

from pydantic import Field, SecretStr

from otel_llm_processor.exporter.notify.config import NotifierConfig

__all__ = ["Config"]


class Config(NotifierConfig):
    url: str = Field(min_length=1, description="Alertmanager base URL, e.g. http://alertmanager:9093")
    resend_interval_s: float = Field(default=60.0, gt=0, description="re-post firing alerts this often")
    generator_url: str = Field(default="", description="link back to us; default: dashboard_url")
    bearer_token: SecretStr | None = None
