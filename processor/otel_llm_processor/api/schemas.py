"""Request and response bodies of the REST API (pydantic: validated at the boundary, documented
in the OpenAPI schema)."""

from __future__ import annotations

import os
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otel_llm_processor.model.llm_call import LlmCall

__all__ = ["RequestRecord", "RequestRecords", "RuleBody", "SilenceBody"]


class RequestRecord(BaseModel):
    """One LLM request measured by a client without OpenTelemetry (``POST /v1/metrics``)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=256, description="model name, e.g. gpt-4o-mini")
    provider: str = Field("openai", max_length=64, description="gen_ai.provider.name value")
    operation: str = Field("chat", max_length=64)
    service: str = Field("unknown_service", max_length=256)
    latency_ms: float = Field(ge=0, le=86_400_000, description="total duration in milliseconds")
    ttft_ms: float | None = Field(None, ge=0, le=86_400_000, description="time to first token (streams)")
    input_tokens: int | None = Field(None, ge=0)
    output_tokens: int | None = Field(None, ge=0)
    cached_tokens: int | None = Field(None, ge=0)
    cost_usd: float | None = Field(None, ge=0)
    error_type: str | None = Field(None, max_length=256, description="set when the request failed")
    user_id: str = Field("", max_length=256)
    session_id: str = Field("", max_length=256)
    tenant_id: str = Field("", max_length=256)
    timestamp: float | None = Field(None, description="unix seconds of the request's end; default now")
    trace_id: str | None = Field(None, pattern="^[0-9a-f]{32}$")
    streaming: bool | None = None

    def to_call(self) -> LlmCall:
        end_ns = int((self.timestamp if self.timestamp is not None else time.time()) * 1e9)
        start_ns = end_ns - int(self.latency_ms * 1e6)
        return LlmCall(
            trace_id=bytes.fromhex(self.trace_id) if self.trace_id else os.urandom(16),
            span_id=os.urandom(8),
            parent_span_id=b"",
            start_ns=start_ns,
            end_ns=end_ns,
            service=self.service,
            provider=self.provider,
            operation=self.operation,
            request_model=self.model,
            response_model=self.model,
            error_type=self.error_type or "",
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cached_tokens,
            cost_usd=self.cost_usd,
            ttft_s=self.ttft_ms / 1000 if self.ttft_ms is not None else None,
            streaming=self.streaming,
            user_id=self.user_id,
            session_id=self.session_id,
            tenant_id=self.tenant_id,
            dialect="api",
        )


class RequestRecords(BaseModel):
    model_config = ConfigDict(extra="forbid")
    records: list[RequestRecord] = Field(min_length=1, max_length=10_000)


class RuleBody(BaseModel):
    """A rule as the API takes it; the alert engine validates the fields it knows."""

    model_config = ConfigDict(extra="allow")
    id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")

    @field_validator("id")
    @classmethod
    def _strip(cls, v: str | None) -> str | None:
        return v.strip() if v else v

    def as_mapping(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        return data


class SilenceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    matchers: dict[str, str] = Field(min_length=1)
    duration_s: float = Field(gt=0, le=30 * 86400)
    by: str = ""


Window = Literal["1m", "5m", "1h"]
