"""``exporters: webhook: {url, headers, bearer_token, ...NotifierConfig}``."""

from __future__ import annotations

from pydantic import Field, SecretStr

from otel_llm_processor.exporter.notify.config import NotifierConfig

__all__ = ["Config"]


class Config(NotifierConfig):
    url: str = Field(min_length=1, description="http(s) URL receiving the POST")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="extra headers (values never logged)"
    )
    bearer_token: SecretStr | None = None
