"""Config of the ``otlp`` receiver (what users write under ``receivers.otlp``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from otel_llm_processor.config import Duration

__all__ = ["AuthConfig", "Config", "GrpcConfig", "HttpConfig", "ProtocolsConfig", "QueueConfig", "TlsConfig"]

_MIB = 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_endpoint(value: str) -> str:
    from otel_llm_processor.asgi_server import parse_endpoint

    parse_endpoint(value)
    return value


class TlsConfig(_Strict):
    cert_file: str
    key_file: str


class GrpcConfig(_Strict):
    endpoint: str = "127.0.0.1:4317"
    max_recv_msg_size_mib: int = Field(default=16, gt=0, le=1024)
    tls: TlsConfig | None = None

    _endpoint = field_validator("endpoint")(_check_endpoint)


class HttpConfig(_Strict):
    endpoint: str = "127.0.0.1:4318"
    max_request_body_size: int = Field(default=16 * _MIB, gt=0, description="bytes, also after gunzip")
    # Open connections (and requests in progress): a request on the connection that reaches it gets
    # 503 from the HTTP server itself (uvicorn's limit_concurrency), so memory stays bounded by
    # about max_connections x max_request_body_size.
    max_connections: int = Field(default=1024, ge=1, le=100_000)
    tls: TlsConfig | None = None

    _endpoint = field_validator("endpoint")(_check_endpoint)


class ProtocolsConfig(_Strict):
    """A protocol listed (even with no settings: ``grpc:``) is enabled; an omitted one is off."""

    grpc: GrpcConfig | None = None
    http: HttpConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _enable_listed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: ({} if value is None else value) for key, value in data.items()}
        return data

    @model_validator(mode="after")
    def _at_least_one(self) -> ProtocolsConfig:
        if self.grpc is None and self.http is None:
            raise ValueError("enable at least one of grpc, http")
        return self


class AuthConfig(_Strict):
    bearer_token: str | None = Field(default=None, min_length=1)


class QueueConfig(_Strict):
    """The bounded intake between the network and the pipeline. Counts are of requests (batches)
    and of items in them (spans, metric data points, log records)."""

    max_queued_batches: int = Field(default=64, gt=0)
    max_queued_spans: int = Field(default=200_000, gt=0)
    workers: int = Field(default=2, gt=0, le=64)
    retry_after: Duration = Field(default=1.0, gt=0, description="seconds suggested to clients when full")


class Config(_Strict):
    protocols: ProtocolsConfig = ProtocolsConfig(grpc=GrpcConfig(), http=HttpConfig())
    auth: AuthConfig = AuthConfig()
    queue: QueueConfig = QueueConfig()
