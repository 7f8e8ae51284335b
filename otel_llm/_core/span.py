"""One LLM call = one CLIENT span: start it, fill it, fail it, end it exactly once.

``start_call`` creates the span (name ``"{operation} {model}"``) with the request attributes, so
samplers see them. The call object collects response, usage and timing and writes them, plus the
cost, on :meth:`LlmCall.end`, which also records the optional client metrics. Attributes are only
set when the span is recording. Nothing here raises into the app: every public method swallows
and debug-logs its own failures.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from otel_llm import semconv
from otel_llm._core import content
from otel_llm._core.settings import Settings
from otel_llm.context import current_attributes

__all__ = [
    "LlmCall",
    "Usage",
    "call_async",
    "call_sync",
    "error_type",
    "should_instrument",
    "start_call",
]

_log = logging.getLogger(__name__)

# Set in the OTel context while our wrapper runs the SDK call: a nested wrapped SDK method (one
# public method implemented over another) then passes straight through, so one call = one span.
_ACTIVE_KEY = otel_context.create_key("otel_llm-active-call")
# Secrets that can appear inside provider error messages ("Incorrect API key provided: sk-...").
_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-*.]{4,}|Bearer\s+\S+|api[_-]?key[=:]\s*\S+)", re.IGNORECASE)
_MAX_DESCRIPTION = 512


@dataclass(slots=True)
class Usage:
    """Token counts as reported (or estimated). ``input_tokens`` includes the cache tokens."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    # Set when the counts were estimated locally ("tiktoken:o200k_base", "heuristic:chars/4").
    estimate_method: str | None = None


def should_instrument() -> bool:
    """False when instrumentation is suppressed or we are inside one of our own wrapped calls."""
    return is_instrumentation_enabled() and not otel_context.get_value(_ACTIVE_KEY)


def error_type(exc: BaseException) -> str:
    """Low-cardinality error.type: the exception's public fully-qualified class name.

    Private module segments are dropped: ``openai._exceptions.RateLimitError`` ->
    ``openai.RateLimitError``; builtins keep their bare name (``TimeoutError``).
    """
    cls = type(exc)
    module = cls.__module__ or ""
    if module == "builtins":
        return cls.__qualname__
    public = [seg for seg in module.split(".") if seg and not seg.startswith("_")]
    return ".".join([*public[:2], cls.__qualname__]) if public else cls.__qualname__


def _description(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return _SECRET.sub("[REDACTED]", text)[:_MAX_DESCRIPTION]


class LlmCall:
    """The state of one LLM call and its span. Create with :func:`start_call`."""

    __slots__ = (
        "_ended",
        "_first_chunk_at",
        "_start",
        "error_type",
        "operation",
        "provider",
        "request_model",
        "response_model",
        "server_address",
        "server_port",
        "settings",
        "span",
        "usage",
    )

    def __init__(
        self,
        settings: Settings,
        span: Span,
        operation: str,
        provider: str,
        request_model: str | None,
        server_address: str | None,
        server_port: int | None,
    ) -> None:
        self.settings = settings
        self.span = span
        self.operation = operation
        self.provider = provider
        self.request_model = request_model
        self.response_model: str | None = None
        self.server_address = server_address
        self.server_port = server_port
        self.usage: Usage | None = None
        self.error_type: str | None = None
        self._start = time.perf_counter()
        self._first_chunk_at: float | None = None
        self._ended = False

    # -- state -------------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        return self.span.is_recording()

    @property
    def ended(self) -> bool:
        return self._ended

    @contextmanager
    def activate(self) -> Iterator[None]:
        """Make the span current (children such as HTTP spans nest under it) without ending it."""
        token = otel_context.attach(
            otel_context.set_value(_ACTIVE_KEY, True, trace.set_span_in_context(self.span))
        )
        try:
            yield
        finally:
            otel_context.detach(token)

    # -- filling -----------------------------------------------------------------------------
    def set(self, key: str, value: Any) -> None:
        if value is not None and self.span.is_recording():
            self.span.set_attribute(key, value)

    def set_many(self, attributes: Mapping[str, Any]) -> None:
        if not self.span.is_recording():
            return
        for key, value in attributes.items():
            if value is not None:
                self.span.set_attribute(key, value)

    def set_response(
        self,
        response_id: str | None = None,
        response_model: str | None = None,
        finish_reasons: Sequence[str] | None = None,
    ) -> None:
        if response_model:
            self.response_model = response_model
        if not self.span.is_recording():
            return
        if response_id:
            self.span.set_attribute(semconv.GEN_AI_RESPONSE_ID, response_id)
        if response_model:
            self.span.set_attribute(semconv.GEN_AI_RESPONSE_MODEL, response_model)
        if finish_reasons:
            self.span.set_attribute(semconv.GEN_AI_RESPONSE_FINISH_REASONS, list(finish_reasons))

    def set_usage(self, usage: Usage | None) -> None:
        if usage is not None:
            self.usage = usage

    def first_chunk(self) -> None:
        """Mark the arrival of the first stream chunk (time to first chunk); later calls are no-ops."""
        if self._first_chunk_at is None:
            self._first_chunk_at = time.perf_counter()

    @property
    def capture_content(self) -> bool:
        return self.settings.capture_content and self.span.is_recording()

    def set_messages(self, key: str, messages: list[dict[str, Any]] | None) -> None:
        """Content attribute (gen_ai.input.messages, ...) only when capture is on."""
        if not messages or not self.capture_content:
            return
        encoded = content.encode(self.settings, messages)
        if encoded is not None:
            self.span.set_attribute(key, encoded)

    # -- failure and end ---------------------------------------------------------------------
    def fail(self, exc: BaseException, type_name: str | None = None) -> None:
        """Record a failure: error.type, status ERROR with a (secret-scrubbed) description."""
        try:
            self.error_type = type_name or error_type(exc)
            if not self.span.is_recording():
                return
            self.span.set_attribute(semconv.ERROR_TYPE, self.error_type)
            status = getattr(exc, "status_code", None)
            if isinstance(status, int) and not isinstance(status, bool):
                self.span.set_attribute(semconv.HTTP_RESPONSE_STATUS_CODE, status)
            self.span.set_status(Status(StatusCode.ERROR, _description(exc)))
        except Exception:
            _log.debug("otel_llm: failing span failed", exc_info=True)

    def fail_type(self, type_name: str, description: str = "") -> None:
        """Record a failure reported in-band (an error event, a failed status) rather than raised."""
        try:
            self.error_type = type_name
            if self.span.is_recording():
                self.span.set_attribute(semconv.ERROR_TYPE, type_name)
                desc = _SECRET.sub("[REDACTED]", description)[:_MAX_DESCRIPTION]
                self.span.set_status(Status(StatusCode.ERROR, desc or type_name))
        except Exception:
            _log.debug("otel_llm: failing span failed", exc_info=True)

    def end(self) -> None:
        """Write usage, cost, time to first chunk; record metrics; end the span. Idempotent."""
        if self._ended:
            return
        self._ended = True
        try:
            end = time.perf_counter()
            self._write_usage()
            if self._first_chunk_at is not None:
                self.set(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, self._first_chunk_at - self._start)
            self._record_metrics(end - self._start)
        except Exception:
            _log.debug("otel_llm: finishing span failed", exc_info=True)
        finally:
            self.span.end()

    def _write_usage(self) -> None:
        usage = self.usage
        if usage is None or not self.span.is_recording():
            return
        span = self.span
        for key, value in (
            (semconv.GEN_AI_USAGE_INPUT_TOKENS, usage.input_tokens),
            (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, usage.output_tokens),
            (semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, usage.cache_read_tokens),
            (semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, usage.cache_creation_tokens),
            (semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS, usage.reasoning_tokens),
        ):
            if value is not None:
                span.set_attribute(key, value)
        if usage.estimate_method is not None:
            span.set_attribute(semconv.OTEL_LLM_USAGE_ESTIMATED, True)
            span.set_attribute(semconv.OTEL_LLM_USAGE_ESTIMATE_METHOD, usage.estimate_method)
        cost = self.settings.prices.cost(
            self.provider,
            self.response_model or self.request_model,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_creation_tokens,
        )
        if cost is not None:
            span.set_attribute(semconv.OTEL_LLM_COST_USD, cost[0])
            span.set_attribute(semconv.OTEL_LLM_COST_SOURCE, cost[1])

    def _record_metrics(self, duration: float) -> None:
        instruments = self.settings.instruments
        if instruments is None:
            return
        attrs: dict[str, Any] = {
            semconv.GEN_AI_OPERATION_NAME: self.operation,
            semconv.GEN_AI_PROVIDER_NAME: self.provider,
        }
        if self.request_model:
            attrs[semconv.GEN_AI_REQUEST_MODEL] = self.request_model
        if self.response_model:
            attrs[semconv.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self.server_address:
            attrs[semconv.SERVER_ADDRESS] = self.server_address
        if self.server_port is not None:
            attrs[semconv.SERVER_PORT] = self.server_port
        if self.error_type:
            attrs[semconv.ERROR_TYPE] = self.error_type
        instruments.duration.record(duration, attrs)
        usage = self.usage
        # Token metrics carry provider-reported counts only, never local estimates.
        if usage is None or usage.estimate_method is not None:
            return
        if usage.input_tokens is not None:
            instruments.token_usage.record(
                usage.input_tokens, {**attrs, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_INPUT}
            )
        if usage.output_tokens is not None:
            instruments.token_usage.record(
                usage.output_tokens, {**attrs, semconv.GEN_AI_TOKEN_TYPE: semconv.TOKEN_TYPE_OUTPUT}
            )


def start_call(
    settings: Settings,
    *,
    operation: str,
    provider: str,
    request_model: str | None,
    server_address: str | None = None,
    server_port: int | None = None,
    stream: bool = False,
    attributes: Mapping[str, Any] | None = None,
) -> LlmCall:
    """Start the CLIENT span ``"{operation} {model}"`` with the request attributes."""
    attrs: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: operation,
        semconv.GEN_AI_PROVIDER_NAME: provider,
    }
    if request_model:
        attrs[semconv.GEN_AI_REQUEST_MODEL] = request_model
    if server_address:
        attrs[semconv.SERVER_ADDRESS] = server_address
        if server_port is not None:
            attrs[semconv.SERVER_PORT] = server_port
    if stream:
        attrs[semconv.GEN_AI_REQUEST_STREAM] = True
    if attributes:
        for key, value in attributes.items():
            if value is not None:
                attrs[key] = value
    for key, value in current_attributes():
        attrs[key] = value
    name = f"{operation} {request_model}" if request_model else operation
    span = settings.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
    return LlmCall(settings, span, operation, provider, request_model, server_address, server_port)


ResultHandler = Callable[[LlmCall, Any], Any]


def call_sync(
    call: LlmCall, wrapped: Callable[..., Any], args: Any, kwargs: Any, on_result: ResultHandler
) -> Any:
    """Run the SDK call under the span; ``on_result(call, result)`` fills the span and returns
    what the app gets (the result itself, or a stream proxy that will end the span later).

    The SDK's own exception is recorded and re-raised unchanged; a failure of ``on_result`` is
    logged, the span ended, and the SDK's result returned untouched.
    """
    try:
        with call.activate():
            result = wrapped(*args, **kwargs)
    except BaseException as exc:
        call.fail(exc)
        call.end()
        raise
    return _handle(call, result, on_result)


async def call_async(
    call: LlmCall, wrapped: Callable[..., Awaitable[Any]], args: Any, kwargs: Any, on_result: ResultHandler
) -> Any:
    """Async twin of :func:`call_sync`."""
    try:
        with call.activate():
            result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        call.fail(exc)
        call.end()
        raise
    return _handle(call, result, on_result)


def _handle(call: LlmCall, result: Any, on_result: ResultHandler) -> Any:
    try:
        return on_result(call, result)
    except Exception:
        _log.debug("otel_llm: reading the response failed", exc_info=True)
        call.end()
        return result
