"""Config of the ``otlp`` exporter (what users write under ``exporters: otlp[/name]:``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otel_llm_processor.exporterhelper.config import Duration, QueueConfig, RetryConfig

__all__ = ["Config", "TLSConfig"]


class TLSConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Plaintext. gRPC: also implied by an http:// endpoint. HTTP: the URL's scheme decides;
    # this only applies to an endpoint written without one.
    insecure: bool = False
    ca_file: str | None = None  # PEM roots to verify the backend with (default: system roots)


class Config(BaseModel):
    """``endpoint`` is ``host:port`` (gRPC) or a base URL (HTTP, ``/v1/<signal>`` is appended)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str
    protocol: Literal["grpc", "http/protobuf"] = "grpc"
    # Sent with every request (e.g. authorization); never logged, never in reprs.
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    compression: Literal["gzip", "none"] = "gzip"
    timeout: Duration = Field(default=10.0, gt=0)
    tls: TLSConfig = Field(default_factory=TLSConfig)
    sending_queue: QueueConfig = Field(default_factory=QueueConfig)
    retry_on_failure: RetryConfig = Field(default_factory=RetryConfig)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value
