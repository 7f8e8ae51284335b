"""``LlmCall``: a read-only view of one LLM span, whatever instrumentation wrote it.

Built in exactly one place, :meth:`LlmCall.from_span`, which maps every dialect (current GenAI
semantic conventions, their older names, OpenLLMetry/Traceloop, OpenInference, OpenLIT) to one
model. Nothing else in the processor reads ``gen_ai.*`` attributes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otel_llm import semconv as sc
from otel_llm_processor.model import dialects as d
from otel_llm_processor.model.dialects import (
    S_CACHE_CREATION,
    S_CACHE_READ,
    S_CACHE_WRITE,
    S_COMPLETION,
    S_CONVERSATION,
    S_COST,
    S_ERROR_TYPE,
    S_FINISH_REASONS,
    S_INPUT,
    S_LF_SESSION,
    S_LF_USER,
    S_OI_CACHE_READ,
    S_OI_CACHE_WRITE,
    S_OI_COMPLETION,
    S_OI_COST,
    S_OI_EMBEDDING_MODEL,
    S_OI_EMBEDDING_PARAMS,
    S_OI_FINISH_REASON,
    S_OI_KIND,
    S_OI_LLM_PARAMS,
    S_OI_MODEL,
    S_OI_PROMPT,
    S_OI_PROVIDER,
    S_OI_REASONING,
    S_OI_REQUEST_MODEL,
    S_OI_RESPONSE_MODEL,
    S_OI_SYSTEM,
    S_OI_TOTAL,
    S_OL_COST,
    S_OL_IS_STREAM,
    S_OL_SDK_NAME,
    S_OL_TTFT,
    S_OPERATION,
    S_OUTPUT,
    S_PROMPT,
    S_PROVIDER,
    S_REASONING,
    S_REQUEST_MODEL,
    S_RESPONSE_ID,
    S_RESPONSE_MODEL,
    S_SESSION,
    S_STREAM,
    S_SYSTEM,
    S_TENANT,
    S_TL_API_BASE,
    S_TL_CACHE_CREATION,
    S_TL_CACHE_READ,
    S_TL_COMPLETION_0_FINISH_REASON,
    S_TL_FINISH_REASON,
    S_TL_GEN_AI_IS_STREAMING,
    S_TL_GEN_AI_REASONING,
    S_TL_GEN_AI_TOTAL,
    S_TL_IS_STREAMING,
    S_TL_REASONING,
    S_TL_REQUEST_TYPE,
    S_TL_SESSION,
    S_TL_SPAN_KIND,
    S_TL_TOTAL,
    S_TL_USER,
    S_TTFT,
    S_USER,
)

__all__ = [
    "LlmCall",
    "Row",
    "calls_from_request",
    "make_call",
    "resolve_span",
    "slots_of",
]


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
    response_id: str = ""  # gen_ai.response.id: the identity de-duplication trusts most

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
        """The call a span records, or ``None`` for a span that is not an LLM call.

        One pass over the attributes into slots (:data:`~otel_llm_processor.model.dialects.SLOTS`),
        then each field from its slots, newest name first; duplicates are never summed. See
        :mod:`otel_llm_processor.model.dialects` for how each dialect's input tokens are normalised.
        """
        return parse_span(span, service_name(resource))


def service_name(resource: Resource | None) -> str:
    """``service.name`` of a resource, ``unknown_service`` when absent (as the SDKs default)."""
    if resource is not None:
        for kv in resource.attributes:
            if kv.key == sc.SERVICE_NAME:
                return kv.value.string_value or UNKNOWN_SERVICE
    return UNKNOWN_SERVICE


def calls_from_request(request: ExportTraceServiceRequest) -> list[LlmCall]:
    """Every LLM call in an export request, in order (non-LLM spans skipped)."""
    out: list[LlmCall] = []
    append = out.append
    for rs in request.resource_spans:
        service = service_name(rs.resource)
        for ss in rs.scope_spans:
            for span in ss.spans:
                call = parse_span(span, service)
                if call is not None:
                    append(call)
    return out


UNKNOWN_SERVICE = "unknown_service"
_SLOTS_GET = d.SLOTS.get
_N = d.N_SLOTS
_STATUS_ERROR = Status.STATUS_CODE_ERROR


def parse_span(span: Span, service: str) -> LlmCall | None:
    """:meth:`LlmCall.from_span` with the service name already resolved (once per resource)."""
    row = resolve_span(span, service)
    return None if row is None else make_call(row)


def make_call(row: Row) -> LlmCall:
    """The :class:`LlmCall` of a :func:`resolve_span` row."""
    call = _new(LlmCall)
    for setter, value in zip(_SETTERS, row, strict=True):
        setter(call, value)
    return call


def slots_of(attributes: Any) -> list[Any] | None:
    """The slots (:data:`~otel_llm_processor.model.dialects.SLOTS`) of a span's ``KeyValue`` list.

    ``None`` when no attribute is known. A repeated key keeps its last value.
    """
    f: list[Any] | None = None
    for kv in attributes:
        slot = _SLOTS_GET(kv.key)
        if slot is not None:
            if f is None:
                f = [None] * _N
            f[slot] = kv.value
    return f


def resolve_span(span: Any, service: str, f: list[Any] | None = None) -> Row | None:
    """The :class:`LlmCall` fields of a span, in field order (a tuple), or ``None`` for a non-LLM span.

    The one mapping of every dialect to the model. ``f``: the span's slots when the caller read them
    already (:func:`slots_of`); by default they are read from ``span.attributes``.
    """
    if f is None:
        f = slots_of(span.attributes)
        if f is None:
            return None

    # ---- dialect and whether this is a model call at all
    v = f[S_OI_KIND]
    if v is not None:
        operation = d.OPENINFERENCE_OPERATIONS.get(v.string_value)
        if operation is None:
            return None  # CHAIN, TOOL, AGENT, RETRIEVER ... are not model calls
        dialect = d.DIALECT_OPENINFERENCE
    else:
        operation = None
        v = f[S_OL_SDK_NAME]
        if (v is not None and v.string_value == sc.OPENLIT_SDK_NAME_VALUE) or f[S_OL_COST] is not None:
            dialect = d.DIALECT_OPENLIT
        elif (
            f[S_TL_REQUEST_TYPE] is not None
            or f[S_TL_GEN_AI_IS_STREAMING] is not None
            or f[S_TL_IS_STREAMING] is not None
            or f[S_TL_TOTAL] is not None
            or f[S_TL_GEN_AI_TOTAL] is not None
            or f[S_TL_CACHE_READ] is not None
            or f[S_TL_API_BASE] is not None
            or f[S_TL_SPAN_KIND] is not None
        ):
            v = f[S_TL_SPAN_KIND]
            if v is not None and v.string_value in sc.TRACELOOP_SPAN_KINDS_NOT_LLM:
                return None
            dialect = d.DIALECT_OPENLLMETRY
        elif f[S_PROVIDER] is None and f[S_SYSTEM] is not None:
            dialect = d.DIALECT_OTEL_LEGACY
        else:
            dialect = d.DIALECT_OTEL

    # ---- operation
    v = f[S_OPERATION]
    if v is not None and v.string_value:
        operation = v.string_value
    elif operation is None:
        v = f[S_TL_REQUEST_TYPE]
        if v is not None:
            operation = d.TRACELOOP_OPERATIONS.get(v.string_value)
        if operation is None:
            head = span.name.partition(" ")[0]
            operation = head if head in d.OPERATIONS else sc.OP_CHAT
    if operation in d.NON_LLM_OPERATIONS:
        return None

    # ---- provider and model
    v = f[S_PROVIDER] or f[S_SYSTEM] or f[S_OI_PROVIDER] or f[S_OI_SYSTEM]
    provider = d.normalize_provider(v.string_value) if v is not None and v.string_value else ""
    v = f[S_REQUEST_MODEL] or f[S_OI_REQUEST_MODEL]
    request_model = v.string_value if v is not None else ""
    v = f[S_RESPONSE_MODEL] or f[S_OI_RESPONSE_MODEL] or f[S_OI_MODEL] or f[S_OI_EMBEDDING_MODEL]
    response_model = v.string_value if v is not None else ""
    if not request_model and not response_model:
        v = f[S_OI_LLM_PARAMS] or f[S_OI_EMBEDDING_PARAMS]
        if v is not None:
            request_model = _model_from_params(v.string_value)
        if not request_model and not provider:
            return None  # no provider, no model: nothing to attribute the call to

    # ---- usage
    v = f[S_INPUT] or f[S_PROMPT] or f[S_OI_PROMPT]
    input_tokens = (v.int_value or _int(v)) if v is not None else None
    v = f[S_OUTPUT] or f[S_COMPLETION] or f[S_OI_COMPLETION]
    output_tokens = (v.int_value or _int(v)) if v is not None else None
    v = f[S_CACHE_READ] or f[S_TL_CACHE_READ] or f[S_OI_CACHE_READ]
    cache_read = (v.int_value or _int(v)) if v is not None else None
    v = f[S_CACHE_CREATION] or f[S_CACHE_WRITE] or f[S_TL_CACHE_CREATION] or f[S_OI_CACHE_WRITE]
    cache_creation = (v.int_value or _int(v)) if v is not None else None
    v = f[S_REASONING] or f[S_TL_GEN_AI_REASONING] or f[S_TL_REASONING] or f[S_OI_REASONING]
    reasoning = (v.int_value or _int(v)) if v is not None else None
    if output_tokens is None and input_tokens is not None:
        v = f[S_TL_GEN_AI_TOTAL] or f[S_TL_TOTAL] or f[S_OI_TOTAL]
        if v is not None:
            total = _int(v)
            if total is not None and total >= input_tokens and operation != sc.OP_EMBEDDINGS:
                output_tokens = total - input_tokens
    if input_tokens is not None and (cache_read or cache_creation):
        cached = (cache_read or 0) + (cache_creation or 0)
        if input_tokens < cached or (dialect == d.DIALECT_OPENLIT and provider == sc.PROVIDER_ANTHROPIC):
            input_tokens += cached  # recorded exclusive of cache tokens: make it inclusive

    # ---- cost, streaming, time to first token
    v = f[S_COST] or f[S_OL_COST] or f[S_OI_COST]
    cost = (v.double_value or _float(v)) if v is not None else None
    v = f[S_STREAM] or f[S_OL_IS_STREAM] or f[S_TL_GEN_AI_IS_STREAMING] or f[S_TL_IS_STREAMING]
    streaming = (v.bool_value or _bool(v)) if v is not None else None
    v = f[S_TTFT]
    if v is None and streaming:
        v = f[S_OL_TTFT]  # OpenLIT also writes it for non-streamed calls (= the whole latency)
    ttft = (v.double_value or _float(v)) if v is not None else None

    # ---- outcome
    v = f[S_ERROR_TYPE]
    error_type = v.string_value if v is not None else ""
    if not error_type and span.status.code == _STATUS_ERROR:
        error_type = sc.ERROR_TYPE_OTHER
    v = f[S_FINISH_REASONS]
    if v is not None:
        finish_reasons = tuple(x.string_value for x in v.array_value.values) or (
            (v.string_value,) if v.string_value else ()
        )
    else:
        v = f[S_TL_FINISH_REASON] or f[S_TL_COMPLETION_0_FINISH_REASON] or f[S_OI_FINISH_REASON]
        finish_reasons = (v.string_value,) if v is not None and v.string_value else ()

    # ---- who
    v = f[S_USER] or f[S_TL_USER] or f[S_LF_USER]
    user_id = v.string_value if v is not None else ""
    v = f[S_SESSION] or f[S_TL_SESSION] or f[S_LF_SESSION]
    session_id = v.string_value if v is not None else ""
    v = f[S_CONVERSATION]
    conversation_id = v.string_value if v is not None else ""
    v = f[S_TENANT]
    tenant_id = v.string_value if v is not None else ""
    v = f[S_RESPONSE_ID]
    response_id = v.string_value if v is not None else ""

    return (
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        service,
        provider,
        operation,
        request_model,
        response_model,
        error_type,
        input_tokens,
        output_tokens,
        cache_read,
        cache_creation,
        reasoning,
        cost,
        ttft,
        streaming,
        user_id,
        session_id,
        conversation_id,
        tenant_id,
        finish_reasons,
        dialect,
        response_id,
    )


# Building a frozen dataclass through __init__ costs a __setattr__ per field; set the slots directly.
Row = tuple[Any, ...]  # LlmCall's fields in order (see resolve_span)
_new = object.__new__
_SETTERS = tuple(getattr(LlmCall, f.name).__set__ for f in fields(LlmCall))
assert len(_SETTERS) == 26, "resolve_span returns the fields positionally: keep them in step"


# ---- value readers: the expected type first, the others tolerated (no exceptions)
def _int(v: Any) -> int | None:
    i: int = v.int_value
    if i:
        return i
    kind = v.WhichOneof("value")
    if kind == "int_value":
        return 0
    if kind == "double_value":
        return int(v.double_value)
    if kind == "string_value":
        text = v.string_value.strip()
        return int(text) if text.isdigit() else None
    return None


def _float(v: Any) -> float | None:
    x: float = v.double_value
    if x:
        return x
    kind = v.WhichOneof("value")
    if kind == "double_value":
        return 0.0
    if kind == "int_value":
        return float(v.int_value)
    if kind == "string_value":
        text = v.string_value.strip()
        return float(text) if _is_number(text) else None
    return None


def _bool(v: Any) -> bool | None:
    kind = v.WhichOneof("value")
    if kind == "bool_value":
        return bool(v.bool_value)
    if kind == "string_value":
        text = v.string_value.lower()
        return True if text == "true" else False if text == "false" else None
    if kind == "int_value":
        return bool(v.int_value)
    return None


def _is_number(text: str) -> bool:
    head, _, tail = text.lstrip("+-").partition(".")
    return (head.isdigit() or (not head and tail.isdigit())) and (not tail or tail.isdigit())


def _model_from_params(params: str) -> str:
    """``model`` from OpenInference's invocation parameters (JSON): read only when no model key exists."""
    if '"model"' not in params:
        return ""
    try:
        parsed = json.loads(params)
    except ValueError:
        return ""
    model = parsed.get("model") if isinstance(parsed, dict) else None
    return model if isinstance(model, str) else ""
