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
from otel_llm_processor.model.spanscan import plain_value

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

    Values are plain Python values (:func:`~otel_llm_processor.model.spanscan.plain_value`, the
    conversion both span scanners use). ``None`` when no attribute is known. A
    repeated key keeps its last value.
    """
    f: list[Any] | None = None
    for kv in attributes:
        slot = _SLOTS_GET(kv.key)
        if slot is not None:
            if f is None:
                f = [None] * _N
            f[slot] = plain_value(kv.value)
    return f


def resolve_span(span: Any, service: str, f: list[Any] | None = None) -> Row | None:
    """:func:`resolve` for a protobuf ``Span`` (its slots read from ``span.attributes`` unless given)."""
    if f is None:
        f = slots_of(span.attributes)
        if f is None:
            return None
    return resolve(
        f,
        span.name,
        span.status.code,
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.start_time_unix_nano,
        span.end_time_unix_nano,
        service,
    )


def resolve(
    f: list[Any],
    name: str,
    status_code: int,
    trace_id: bytes,
    span_id: bytes,
    parent_span_id: bytes,
    start_ns: int,
    end_ns: int,
    service: str,
) -> Row | None:
    """The :class:`LlmCall` fields of a span, in field order (a tuple), or ``None`` for a non-LLM span.

    The one mapping of every dialect to the model. ``f``: the span's slots, plain values (see
    :func:`slots_of`); for each field the newest name present wins (``None`` is absent; an empty
    string or a zero is a value). A value of an unexpected type is converted when it can be
    (``"12"`` tokens) and otherwise read as absent, never an error.
    """
    # ---- dialect and whether this is a model call at all
    v = f[S_OI_KIND]
    if v is not None:
        operation = d.OPENINFERENCE_OPERATIONS.get(_str(v))
        if operation is None:
            return None  # CHAIN, TOOL, AGENT, RETRIEVER ... are not model calls
        dialect = d.DIALECT_OPENINFERENCE
    else:
        operation = None
        v = f[S_OL_SDK_NAME]
        if (v is not None and v == sc.OPENLIT_SDK_NAME_VALUE) or f[S_OL_COST] is not None:
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
            if v is not None and _str(v) in sc.TRACELOOP_SPAN_KINDS_NOT_LLM:
                return None
            dialect = d.DIALECT_OPENLLMETRY
        elif f[S_PROVIDER] is None and f[S_SYSTEM] is not None:
            dialect = d.DIALECT_OTEL_LEGACY
        else:
            dialect = d.DIALECT_OTEL

    # ---- operation
    v = f[S_OPERATION]
    if v is not None and v.__class__ is str and v:
        operation = v
    elif operation is None:
        v = f[S_TL_REQUEST_TYPE]
        if v is not None:
            operation = d.TRACELOOP_OPERATIONS.get(_str(v))
        if operation is None:
            head = name.partition(" ")[0]
            operation = head if head in d.OPERATIONS else sc.OP_CHAT
    if operation in d.NON_LLM_OPERATIONS:
        return None

    # ---- provider and model
    v = f[S_PROVIDER]
    if v is None:
        v = f[S_SYSTEM]
        if v is None:
            v = f[S_OI_PROVIDER]
            if v is None:
                v = f[S_OI_SYSTEM]
    provider = d.normalize_provider(v) if v is not None and v.__class__ is str and v else ""
    v = f[S_REQUEST_MODEL]
    if v is None:
        v = f[S_OI_REQUEST_MODEL]
    request_model = _str(v)
    v = f[S_RESPONSE_MODEL]
    if v is None:
        v = f[S_OI_RESPONSE_MODEL]
        if v is None:
            v = f[S_OI_MODEL]
            if v is None:
                v = f[S_OI_EMBEDDING_MODEL]
    response_model = _str(v)
    if not request_model and not response_model:
        v = f[S_OI_LLM_PARAMS]
        if v is None:
            v = f[S_OI_EMBEDDING_PARAMS]
        if v is not None:
            request_model = _model_from_params(_str(v))
        if not request_model and not provider:
            return None  # no provider, no model: nothing to attribute the call to

    # ---- usage
    v = f[S_INPUT]
    if v is None:
        v = f[S_PROMPT]
        if v is None:
            v = f[S_OI_PROMPT]
    input_tokens = v if v.__class__ is int else _int(v)
    v = f[S_OUTPUT]
    if v is None:
        v = f[S_COMPLETION]
        if v is None:
            v = f[S_OI_COMPLETION]
    output_tokens = v if v.__class__ is int else _int(v)
    v = f[S_CACHE_READ]
    if v is None:
        v = f[S_TL_CACHE_READ]
        if v is None:
            v = f[S_OI_CACHE_READ]
    cache_read = v if v.__class__ is int else _int(v)
    v = f[S_CACHE_CREATION]
    if v is None:
        v = f[S_CACHE_WRITE]
        if v is None:
            v = f[S_TL_CACHE_CREATION]
            if v is None:
                v = f[S_OI_CACHE_WRITE]
    cache_creation = v if v.__class__ is int else _int(v)
    v = f[S_REASONING]
    if v is None:
        v = f[S_TL_GEN_AI_REASONING]
        if v is None:
            v = f[S_TL_REASONING]
            if v is None:
                v = f[S_OI_REASONING]
    reasoning = v if v.__class__ is int else _int(v)
    if output_tokens is None and input_tokens is not None:
        v = f[S_TL_GEN_AI_TOTAL]
        if v is None:
            v = f[S_TL_TOTAL]
            if v is None:
                v = f[S_OI_TOTAL]
        total = _int(v)
        if total is not None and total >= input_tokens and operation != sc.OP_EMBEDDINGS:
            output_tokens = total - input_tokens
    if input_tokens is not None and (cache_read or cache_creation):
        cached = (cache_read or 0) + (cache_creation or 0)
        if input_tokens < cached or (dialect == d.DIALECT_OPENLIT and provider == sc.PROVIDER_ANTHROPIC):
            input_tokens += cached  # recorded exclusive of cache tokens: make it inclusive

    # ---- cost, streaming, time to first token
    v = f[S_COST]
    if v is None:
        v = f[S_OL_COST]
        if v is None:
            v = f[S_OI_COST]
    cost = v if v.__class__ is float else _float(v)
    v = f[S_STREAM]
    if v is None:
        v = f[S_OL_IS_STREAM]
        if v is None:
            v = f[S_TL_GEN_AI_IS_STREAMING]
            if v is None:
                v = f[S_TL_IS_STREAMING]
    streaming = v if v.__class__ is bool else _bool(v)
    v = f[S_TTFT]
    if v is None and streaming:
        v = f[S_OL_TTFT]  # OpenLIT also writes it for non-streamed calls (= the whole latency)
    ttft = v if v.__class__ is float else _float(v)

    # ---- outcome
    error_type = _str(f[S_ERROR_TYPE])
    if not error_type and status_code == _STATUS_ERROR:
        error_type = sc.ERROR_TYPE_OTHER
    v = f[S_FINISH_REASONS]
    if v is not None:
        if v.__class__ is tuple:
            finish_reasons = v  # usually all str: then the tuple itself
            for x in v:
                if x.__class__ is not str:
                    finish_reasons = tuple(x if x.__class__ is str else "" for x in v)
                    break
        else:
            finish_reasons = (v,) if v and v.__class__ is str else ()
    else:
        v = f[S_TL_FINISH_REASON]
        if v is None:
            v = f[S_TL_COMPLETION_0_FINISH_REASON]
            if v is None:
                v = f[S_OI_FINISH_REASON]
        finish_reasons = (v,) if v and v.__class__ is str else ()

    # ---- who
    v = f[S_USER]
    if v is None:
        v = f[S_TL_USER]
        if v is None:
            v = f[S_LF_USER]
    user_id = _str(v)
    v = f[S_SESSION]
    if v is None:
        v = f[S_TL_SESSION]
        if v is None:
            v = f[S_LF_SESSION]
    session_id = _str(v)

    return (
        trace_id,
        span_id,
        parent_span_id,
        start_ns,
        end_ns,
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
        _str(f[S_CONVERSATION]),
        _str(f[S_TENANT]),
        finish_reasons,
        dialect,
        _str(f[S_RESPONSE_ID]),
    )


# Building a frozen dataclass through __init__ costs a __setattr__ per field; set the slots directly.
Row = tuple[Any, ...]  # LlmCall's fields in order (see resolve_span)
_new = object.__new__
_SETTERS = tuple(getattr(LlmCall, f.name).__set__ for f in fields(LlmCall))
assert len(_SETTERS) == 26, "resolve_span returns the fields positionally: keep them in step"


# ---- value readers: plain values; the expected type first, the others tolerated (no exceptions)
def _str(v: Any) -> str:
    return v if v.__class__ is str else ""


def _int(v: Any) -> int | None:
    cls = v.__class__
    if cls is int:
        return int(v)
    if cls is float:
        return int(v) if v == v and v not in (_INF, -_INF) else None
    if cls is str:
        text = v.strip()
        return int(text) if text.isdigit() else None
    return None


def _float(v: Any) -> float | None:
    cls = v.__class__
    if cls is float:
        return float(v)
    if cls is int:
        return float(v)
    if cls is str:
        text = v.strip()
        return float(text) if _is_number(text) else None
    return None


def _bool(v: Any) -> bool | None:
    cls = v.__class__
    if cls is bool:
        return bool(v)
    if cls is str:
        text = v.lower()
        return True if text == "true" else False if text == "false" else None
    if cls is int:
        return bool(v)
    return None


_INF = float("inf")


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
