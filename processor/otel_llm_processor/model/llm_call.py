"""``LlmCall``: a read-only view of one LLM span, whatever instrumentation wrote it.

Built in exactly one place, :meth:`LlmCall.from_span`, which maps every dialect (current GenAI
semantic conventions, their older names, OpenLLMetry/Traceloop, OpenInference, OpenLIT) to one
model. Nothing else in the processor reads ``gen_ai.*`` attributes.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

__all__ = ["LlmCall"]


@dataclass(frozen=True, slots=True)
class LlmCall:
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    start_ns: int
    end_ns: int
    service: str
    provider: str
    operation: str
    request_model: str
    response_model: str
    error_type: str  # "" when the call succeeded
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None  # as recorded on the span; None when absent
    ttft_s: float | None = None
    streaming: bool | None = None
    user_id: str = ""
    session_id: str = ""
    conversation_id: str = ""
    tenant_id: str = ""
    finish_reasons: tuple[str, ...] = ()
    dialect: str = "otel"  # "otel", "otel_legacy", "openllmetry", "openinference", "openlit"

    @property
    def model(self) -> str:
        """The model that answered when known, else the one requested."""
        return self.response_model or self.request_model

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    @property
    def is_error(self) -> bool:
        return bool(self.error_type)

    @classmethod
    def from_span(cls, span: Span, resource: Resource | None = None) -> LlmCall | None:
        """The call a span records, or ``None`` for a span that is not an LLM call."""
        raise NotImplementedError  # implemented by the llm_metrics work (issue 4)
