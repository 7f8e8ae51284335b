"""One LLM call = one CLIENT span: start it, fill it, fail it, end it exactly once.

``start_call`` creates the span (name ``"{operation} {model}"``) with the request attributes, so
samplers see them. The call object collects response attributes, usage and timing and writes them,
plus the cost, in one ``set_attributes`` on :meth:`LlmCall.end`, which also records the optional
client metrics. Attributes are only collected when the span is recording. Nothing here raises into
the app: every public method swallows and debug-logs its own failures.

"Inside one of our calls" is a :class:`contextvars.ContextVar` of ours, not a key of the
OpenTelemetry context: another instrumentation that restores an OpenTelemetry context it captured
inside our call (contrib's stream wrappers do, at stream end) cannot leave it set behind us.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from otel_llm import semconv
from otel_llm._core import content
from otel_llm._core.events import CONTENT_KEYS
from otel_llm._core.sdk_attributes import set_attributes, start_span
from otel_llm._core.settings import Settings
from otel_llm.context import current_attributes

__all__ = [
    "LlmCall",
    "Usage",
    "call_async",
    "call_sync",
    "error_type",
    "instrumenting_context",
    "should_instrument",
    "start_call",
]

_log = logging.getLogger(__name__)

# True while our wrapper runs the SDK call: a nested wrapped SDK method (one public method
# implemented over another) then passes straight through, so one call = one span.
_IN_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar("otel_llm_in_call", default=False)
_in_call_get = _IN_CALL.get
_in_call_set = _IN_CALL.set
_in_call_reset = _IN_CALL.reset
_attach = otel_context.attach
_detach = otel_context.detach
_get_current = otel_context.get_current
_set_span_in_context = trace.set_span_in_context
_perf_counter = time.perf_counter
_time_ns = time.time_ns


def _suppress_keys() -> tuple[str, str] | None:
    """The two context keys ``is_instrumentation_enabled`` reads, when it reads exactly those."""
    try:
        from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
        from opentelemetry.instrumentation import utils

        keys = (_SUPPRESS_INSTRUMENTATION_KEY, utils._SUPPRESS_INSTRUMENTATION_KEY_PLAIN)
        names = utils.is_instrumentation_enabled.__code__.co_names
    except (ImportError, AttributeError):
        return None
    # Its body is ``not (get_value(KEY) or get_value(KEY_PLAIN))``; anything else: call it.
    expected = (
        "context",
        "get_value",
        "_SUPPRESS_INSTRUMENTATION_KEY",
        "_SUPPRESS_INSTRUMENTATION_KEY_PLAIN",
    )
    if names != expected or utils._SUPPRESS_INSTRUMENTATION_KEY is not keys[0]:
        return None
    return keys


_SUPPRESS_KEYS = _suppress_keys()
# Secrets that can appear inside provider error messages ("Incorrect API key provided: sk-..."):
# known forms (OpenAI/Anthropic ``sk-``, bearer tokens, ``api_key=``/``token:``/``secret=``...), and
# any token with a random-looking run: 16+ letters and digits mixing upper case, lower case and
# digits, as the keys of Groq (``gsk_``), Google (``AIza``), Hugging Face (``hf_``) and most others
# are. Model names, UUIDs and request ids (short runs, or no upper case) are kept.
_SECRET = re.compile(
    r"(sk-[A-Za-z0-9_\-*.]{4,}|Bearer\s+\S+|(?:api[_-]?key|token|secret|password)[\"']?\s*[=:]\s*\S+)",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[A-Za-z0-9_\-]{16,}")
_RANDOM_RUN = re.compile(r"(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{16,}")
_MAX_DESCRIPTION = 512


def _redact_token(match: re.Match[str]) -> str:
    token = match.group()
    return "[REDACTED]" if any(_RANDOM_RUN.fullmatch(run) for run in re.split(r"[_\-]", token)) else token


def scrub(text: str) -> str:
    """``text`` (an error message) with anything that looks like a credential replaced by
    ``[REDACTED]``, cut to the status description's length limit."""
    return _TOKEN.sub(_redact_token, _SECRET.sub("[REDACTED]", text))[:_MAX_DESCRIPTION]


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
    return instrumenting_context() is not None


def instrumenting_context() -> otel_context.Context | None:
    """The current OpenTelemetry context, or None when instrumentation is suppressed or we are
    inside one of our own wrapped calls. A wrapper passes it on to :func:`start_call`, so a call
    reads the context once (the SDK's ``start_span``, its sampler and :meth:`LlmCall.run` would
    each read it again)."""
    if _in_call_get():
        return None
    ctx = _get_current()
    if _SUPPRESS_KEYS is None:
        return ctx if is_instrumentation_enabled() else None
    # is_instrumentation_enabled() without re-reading the context twice.
    if ctx.get(_SUPPRESS_KEYS[0]) or ctx.get(_SUPPRESS_KEYS[1]):
        return None
    return ctx


def error_type(exc: BaseException) -> str:
    """Low-cardinality error.type: the exception's public fully-qualified class name.

    The name the top-level package exports it under when it does (``openai.RateLimitError``,
    ``asyncio.CancelledError``); else the module path without private segments, two at most
    (``pkg._impl.errors.Oops`` -> ``pkg.errors.Oops``); builtins keep their bare name
    (``TimeoutError``).
    """
    cls = type(exc)
    module = cls.__module__ or ""
    if module == "builtins":
        return cls.__qualname__
    # The name its package exports it under, when it does: asyncio.exceptions.CancelledError ->
    # asyncio.CancelledError, httpx._exceptions.ConnectError -> httpx.ConnectError.
    top = module.partition(".")[0]
    if getattr(sys.modules.get(top), cls.__qualname__, None) is cls:
        return f"{top}.{cls.__qualname__}"
    public = [seg for seg in module.split(".") if seg and not seg.startswith("_")]
    return ".".join([*public[:2], cls.__qualname__]) if public else cls.__qualname__


def _description(exc: BaseException) -> str:
    return scrub(f"{type(exc).__name__}: {exc}")


_TOKEN_TYPES = frozenset((int, type(None)))
_USAGE_KEYS = (
    semconv.GEN_AI_USAGE_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
    semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    semconv.OTEL_LLM_USAGE_ESTIMATE_METHOD,
)


class LlmCall:
    """The state of one LLM call and its span. Create with :func:`start_call`."""

    __slots__ = (
        "_attrs",
        "_deferred",
        "_ended",
        "_first_chunk_at",
        "_parent_context",
        "_recording",
        "_span_context",
        "_start",
        "_unchecked",
        "capture_content",
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
        attrs: dict[str, Any],
        unchecked: list[str],
        parent_context: otel_context.Context | None = None,
        deferred: int = 0,
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
        self._recording = recording = span.is_recording()
        # True when content (messages) is collected: here, when it goes on this span (capture is on
        # and the span records); the event-emitting twin (_EventLlmCall) always collects it.
        self.capture_content: bool = recording and settings.capture_content
        # Attributes collected while the call runs, written with one set_attributes at end (with the
        # start attributes too when start_call deferred them).
        self._attrs = attrs
        # The count of start attributes at the head of _attrs when start_call deferred them (the
        # span started bare); they yield to values other code set on the span mid-call.
        self._deferred = deferred
        # The keys in _attrs whose values may need the SDK's cleaning (set_attributes' ``check``):
        # those from the app or read off a response object; the rest were built typed here.
        self._unchecked = unchecked
        # The OTel contexts around the SDK call (see run / restore_context): the parent is the
        # context the span was started in when the caller read it (start_call's ``context``),
        # else the one current when run() starts.
        self._span_context: otel_context.Context | None = None
        self._parent_context = parent_context
        self._start = _perf_counter()
        self._first_chunk_at: float | None = None
        self._ended = False

    # -- state -------------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        """True when attributes are collected: the span records (or, with events on, always)."""
        return self._recording

    @property
    def ended(self) -> bool:
        return self._ended

    def run(self, wrapped: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        """``wrapped(*args, **kwargs)`` with the span current (children such as HTTP spans nest
        under it) and the in-call marker set; the span is not ended."""
        parent = self._parent_context
        if parent is None:
            parent = self._parent_context = _get_current()
        ctx = self._span_context = _set_span_in_context(self.span, parent)
        token = _attach(ctx)
        marker = _in_call_set(True)
        try:
            return wrapped(*args, **kwargs)
        finally:
            _in_call_reset(marker)
            _detach(token)

    async def run_async(self, wrapped: Callable[..., Awaitable[Any]], args: Any, kwargs: Any) -> Any:
        """Async twin of :meth:`run`."""
        parent = self._parent_context
        if parent is None:
            parent = self._parent_context = _get_current()
        ctx = self._span_context = _set_span_in_context(self.span, parent)
        token = _attach(ctx)
        marker = _in_call_set(True)
        try:
            return await wrapped(*args, **kwargs)
        finally:
            _in_call_reset(marker)
            _detach(token)

    def restore_context(self) -> None:
        """Undo a stale restore of our call's context by another instrumentation.

        A wrapper inside ours that keeps its own context attached until its stream ends (contrib
        does) resets the context at that point to what it saw: the context of our call, detached
        long ago. When exactly that context object is current again, put back what was current
        before our call. Any other context is left alone.
        """
        ctx = self._span_context
        if ctx is not None and _get_current() is ctx and self._parent_context is not None:
            _attach(self._parent_context)

    # -- filling -----------------------------------------------------------------------------
    def set(self, key: str, value: Any) -> None:
        if value is not None and self._recording:
            if self._deferred and key in self._attrs:
                self._promote(key)
            self._attrs[key] = value
            self._unchecked.append(key)

    def set_many(self, attributes: Mapping[str, Any]) -> None:
        if not self._recording:
            return
        attrs = self._attrs
        for key, value in attributes.items():
            if value is not None:
                if self._deferred and key in attrs:
                    self._promote(key)
                attrs[key] = value
        self._unchecked.extend(attributes)

    def _promote(self, key: str) -> None:
        """``key``, about to be set by the app, leaves the deferred start attributes (the head of
        _attrs that yields to values other code set mid-call): the app's value is a late write."""
        attrs = self._attrs
        if key in islice(attrs, self._deferred):
            attrs.pop(key)
            self._deferred -= 1

    def set_response(
        self,
        response_id: str | None = None,
        response_model: str | None = None,
        finish_reasons: Sequence[str] | None = None,
        usage: Usage | None = None,
        attributes: Mapping[str, Any] | None = None,
        typed: bool = False,
    ) -> None:
        """The response's id, model and finish reasons; optionally also its usage
        (:meth:`set_usage`) and further attributes (:meth:`set_many`), in one call.

        ``typed=True``: the caller built ``finish_reasons`` (``str`` items) and ``attributes``
        (``str`` keys; str/int/float/bool values, tuples for arrays; no None) itself, so their
        cleaning is skipped. The id and model are checked here either way."""
        if response_model:
            self.response_model = response_model
        if usage is not None:
            self.usage = usage
        if not self._recording:
            return
        attrs = self._attrs
        unchecked = self._unchecked
        if response_id:
            attrs[semconv.GEN_AI_RESPONSE_ID] = response_id
            if type(response_id) is not str:
                unchecked.append(semconv.GEN_AI_RESPONSE_ID)
        if response_model:
            attrs[semconv.GEN_AI_RESPONSE_MODEL] = response_model
            if type(response_model) is not str:
                unchecked.append(semconv.GEN_AI_RESPONSE_MODEL)
        if finish_reasons:
            attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(finish_reasons)
            if not typed:
                unchecked.append(semconv.GEN_AI_RESPONSE_FINISH_REASONS)
        if attributes:
            if typed:
                attrs.update(attributes)
            else:
                for key, value in attributes.items():
                    if value is not None:
                        attrs[key] = value
                unchecked.extend(attributes)

    def set_usage(self, usage: Usage | None) -> None:
        if usage is not None:
            self.usage = usage

    def first_chunk(self) -> None:
        """Mark the arrival of the first stream chunk (time to first chunk); later calls are no-ops."""
        if self._first_chunk_at is None:
            self._first_chunk_at = _perf_counter()

    def set_messages(self, key: str, messages: list[dict[str, Any]] | None) -> None:
        """Content attribute (gen_ai.input.messages, ...) only when capture is on."""
        if not messages or not self.capture_content:
            return
        encoded = content.encode(self.settings, messages)
        if encoded is not None:
            self._attrs[key] = encoded

    def set_system_instructions(self, parts: list[dict[str, Any]] | None) -> None:
        """``gen_ai.system_instructions`` (a list of parts) only when capture is on."""
        if not parts or not self.capture_content:
            return
        encoded = content.encode_parts(self.settings, parts)
        if encoded is not None:
            self._attrs[semconv.GEN_AI_SYSTEM_INSTRUCTIONS] = encoded

    def set_tool_definitions(self, tools: list[dict[str, Any]] | None) -> None:
        """``gen_ai.tool.definitions`` only when capture is on."""
        if not tools or not self.capture_content:
            return
        encoded = content.encode_tool_definitions(self.settings, tools)
        if encoded is not None:
            self._attrs[semconv.GEN_AI_TOOL_DEFINITIONS] = encoded

    def flush(self) -> None:
        """Write the attributes collected so far to the span now (the manual API's ``span``)."""
        if self._attrs and not self._ended:
            attrs, self._attrs = self._attrs, {}
            unchecked, self._unchecked = self._unchecked, []
            self._write(attrs, unchecked)

    def _write(self, attrs: dict[str, Any], unchecked: list[str]) -> None:
        """Put collected attributes on the span (``unchecked``: ``set_attributes``' ``check``)."""
        deferred, self._deferred = self._deferred, 0
        set_attributes(self.span, attrs, unchecked, deferred)

    # -- failure and end ---------------------------------------------------------------------
    def fail(self, exc: BaseException, type_name: str | None = None) -> None:
        """Record a failure: error.type, status ERROR with a (secret-scrubbed) description."""
        try:
            self.error_type = type_name or error_type(exc)
            if not self._recording:
                return
            self._attrs[semconv.ERROR_TYPE] = self.error_type
            if type_name is not None:
                self._unchecked.append(semconv.ERROR_TYPE)
            status = getattr(exc, "status_code", None)
            if isinstance(status, int) and not isinstance(status, bool):
                self._attrs[semconv.HTTP_RESPONSE_STATUS_CODE] = int(status)
            self.span.set_status(Status(StatusCode.ERROR, _description(exc)))
        except Exception:
            _log.debug("otel_llm: failing span failed", exc_info=True)

    def fail_type(self, type_name: str, description: str = "") -> None:
        """Record a failure reported in-band (an error event, a failed status) rather than raised."""
        try:
            self.error_type = type_name
            if self._recording:
                self._attrs[semconv.ERROR_TYPE] = type_name
                self._unchecked.append(semconv.ERROR_TYPE)
                desc = scrub(description)
                self.span.set_status(Status(StatusCode.ERROR, desc or type_name))
        except Exception:
            _log.debug("otel_llm: failing span failed", exc_info=True)

    def end(self) -> None:
        """Write usage, cost, time to first chunk and everything collected (one set_attributes);
        record metrics; end the span. Idempotent."""
        if self._ended:
            return
        self._ended = True
        end_time: int | None = None
        try:
            settings = self.settings
            instruments = settings.instruments
            end = _perf_counter() if instruments is not None else 0.0
            if self._recording:
                attrs = self._attrs
                usage = self.usage
                if usage is not None:
                    self._usage_attributes(attrs, usage)
                if self._first_chunk_at is not None:
                    attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self._first_chunk_at - self._start
                if attrs:
                    self._write(attrs, self._unchecked)
            if instruments is not None:
                self._record_metrics(end - self._start)
            if settings.events is not None:
                end_time = self._emit_event()
        except Exception:
            _log.debug("otel_llm: finishing span failed", exc_info=True)
        finally:
            try:
                self.span.end(end_time=end_time)
            except Exception:  # a span processor's on_end that raises must not reach the app
                _log.debug("otel_llm: ending the span failed", exc_info=True)

    def _emit_event(self) -> int | None:
        """Emit the call's details event (``_EventLlmCall``); its timestamp becomes the span's end."""
        return None

    def _usage_attributes(self, attrs: dict[str, Any], usage: Usage) -> None:
        input_tokens = usage.input_tokens
        output_tokens = usage.output_tokens
        cache_read = usage.cache_read_tokens
        cache_creation = usage.cache_creation_tokens
        reasoning = usage.reasoning_tokens
        # Tokens are plain ints from every SDK we read; anything else is left to the SDK's cleaning.
        odd = type(input_tokens) not in _TOKEN_TYPES or type(output_tokens) not in _TOKEN_TYPES
        if input_tokens is not None:
            attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
        if output_tokens is not None:
            attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
        if cache_read is not None:
            attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = cache_read
            odd = odd or type(cache_read) is not int
        if cache_creation is not None:
            attrs[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = cache_creation
            odd = odd or type(cache_creation) is not int
        if reasoning is not None:
            attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = reasoning
            odd = odd or type(reasoning) is not int
        if odd:
            self._unchecked.extend(_USAGE_KEYS)
        if usage.estimate_method is not None:
            attrs[semconv.OTEL_LLM_USAGE_ESTIMATED] = True
            attrs[semconv.OTEL_LLM_USAGE_ESTIMATE_METHOD] = usage.estimate_method
        cost = self.settings.prices.cost(
            self.provider,
            self.response_model or self.request_model,
            input_tokens,
            output_tokens,
            cache_read,
            cache_creation,
            self.request_model,
            attrs.get(semconv.OPENAI_RESPONSE_SERVICE_TIER),
        )
        if cost is not None:
            attrs[semconv.OTEL_LLM_COST_USD] = cost[0]
            attrs[semconv.OTEL_LLM_COST_SOURCE] = cost[1]

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
        if self._first_chunk_at is not None:  # a stream whose first chunk arrived
            instruments.time_to_first_chunk.record(self._first_chunk_at - self._start, attrs)
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


class _EventLlmCall(LlmCall):
    """An :class:`LlmCall` that also emits the ``gen_ai.client.inference.operation.details`` event
    when it ends (content modes EVENT_ONLY and SPAN_AND_EVENT; see ``events.py``).

    It collects attributes and content even when the span is not recording (the event does not
    depend on trace sampling); content goes on the span only in SPAN_AND_EVENT mode.
    """

    __slots__ = ("_content_on_span", "_flushed", "_span_recording", "_start_attrs")

    def __init__(self, *fields: Any, start_attributes: Mapping[str, Any]) -> None:
        """``fields``: :class:`LlmCall`'s arguments; ``start_attributes``: the span's start
        attributes, wanted on the event."""
        super().__init__(*fields)
        self._span_recording = self._recording
        self._content_on_span = self._recording and self.settings.capture_content
        self._recording = True
        self.capture_content = True
        self._start_attrs = start_attributes
        # Attributes already written to the span by flush(), still wanted on the event.
        self._flushed: dict[str, Any] | None = None

    def _span_part(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self._content_on_span or CONTENT_KEYS.isdisjoint(attrs):
            return attrs
        return {k: v for k, v in attrs.items() if k not in CONTENT_KEYS}

    def flush(self) -> None:
        if self._attrs and not self._ended:
            if self._flushed is None:
                self._flushed = {}
            self._flushed.update(self._attrs)
        super().flush()

    def _write(self, attrs: dict[str, Any], unchecked: list[str]) -> None:
        if self._span_recording:
            on_span = self._span_part(attrs)
            deferred, self._deferred = self._deferred, 0
            if on_span:
                set_attributes(self.span, on_span, unchecked, deferred)

    def _emit_event(self) -> int | None:
        events = self.settings.events
        if events is None:
            return None
        event_attrs = dict(self._start_attrs)
        if self._flushed:
            event_attrs.update(self._flushed)
        event_attrs.update(self._attrs)
        end_time = _time_ns()
        events.emit(self.span, event_attrs, end_time)
        return end_time


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
    checked: bool = False,
    context: otel_context.Context | None = None,
) -> LlmCall:
    """Start the CLIENT span ``"{operation} {model}"`` with the request attributes.

    ``checked=True``: the caller vouches that every argument was built typed (``str`` for the
    names, model and address, ``int`` for the port; ``attributes`` with non-empty ``str`` keys and
    str/int/float/bool values, tuples for arrays), so the SDK's cleaning of them can be skipped.
    Anything taken from the app as is (the manual API) must leave it False.

    ``context``: the current context as the caller read it (:func:`instrumenting_context`), the
    span's parent context and the one restored around the SDK call; None reads it when needed.
    The caller must start the call in that same context, with nothing attached in between.
    """
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
        # ``None in values()`` is true for any None (identity first): only then filter one by one.
        if None in attributes.values():
            for key, value in attributes.items():
                if value is not None:
                    attrs[key] = value
        else:
            attrs.update(attributes)
    scoped = current_attributes()  # str values (llm_context converts them)
    if scoped:
        attrs.update(scoped)
    name = f"{operation} {request_model}" if request_model else operation
    span, deferred = start_span(settings.tracer, name, _CLIENT, attrs, context)
    if deferred:
        # The span was started bare: its start attributes are written at the end with the rest.
        pending = attrs
        unchecked: list[str] = [] if checked else list(attrs)
    else:
        pending = {}
        unchecked = []
    fields = (
        settings,
        span,
        operation,
        provider,
        request_model,
        server_address,
        server_port,
        pending,
        unchecked,
        context,
        len(pending),
    )
    if settings.events is None:
        return LlmCall(*fields)
    return _EventLlmCall(*fields, start_attributes=attrs)


_CLIENT = SpanKind.CLIENT
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
        result = call.run(wrapped, args, kwargs)
    except BaseException as exc:
        call.fail(exc)
        call.end()
        raise
    try:
        return on_result(call, result)
    except Exception:
        _log.debug("otel_llm: reading the response failed", exc_info=True)
        call.end()
        return result


async def call_async(
    call: LlmCall, wrapped: Callable[..., Awaitable[Any]], args: Any, kwargs: Any, on_result: ResultHandler
) -> Any:
    """Async twin of :func:`call_sync`."""
    try:
        result = await call.run_async(wrapped, args, kwargs)
    except BaseException as exc:
        call.fail(exc)
        call.end()
        raise
    try:
        return on_result(call, result)
    except Exception:
        _log.debug("otel_llm: reading the response failed", exc_info=True)
        call.end()
        return result
