"""Wrappers of the ``anthropic`` SDK: ``messages.create`` (plain and ``stream=True``),
``messages.parse`` and ``messages.stream()`` (of ``messages`` and ``beta.messages``), sync and async,
plus the switch that replaces the SDK's own span.

Each factory takes the :class:`Settings` (and the instrumentor's :class:`SdkSpans` decision) once,
at instrument time, and returns a wrapt wrapper. The ``anthropic`` package is imported by the
factories, never when this module is imported, so ``otel_llm.anthropic`` imports without the SDK.

The SDK's own span. ``anthropic`` >= 2.x starts a span ``anthropic.messages.create`` (scope
``com.anthropic.sdk.python``) per call, through ``anthropic._base_client.start_api_call_span``. While
our wrapper runs a call whose SDK span we replace, that function is answered by us: with the SDK's
``propagation`` on (its default) we give it a non-recording span carrying *our* span's context, so
requests still carry a ``traceparent`` (now of our span) and the SDK records nothing; with
propagation off we give it ``None``, which is what the SDK does when its tracing is off. Every other
SDK span (other endpoints, other beta APIs, tool runners) is left alone.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span

from otel_llm import semconv
from otel_llm._core.instrumentor import Wrapper, sdk_classes
from otel_llm._core.raw import AsyncRawResponseProxy, RawResponseProxy
from otel_llm._core.settings import Settings
from otel_llm._core.span import (
    LlmCall,
    call_async,
    call_sync,
    instrumenting_context,
    should_instrument,
    start_call,
)
from otel_llm._core.stream import AsyncStreamProxy, StreamState, SyncStreamProxy
from otel_llm.anthropic import extract
from otel_llm.anthropic.stream import MessageStreamHandler

__all__ = [
    "SDK_SPAN_NAME",
    "SdkSpans",
    "messages_create",
    "messages_create_async",
    "messages_stream",
    "sdk_start_span",
    "stream_manager_init",
]

_log = logging.getLogger(__name__)

# span_name of the SDK's own span for messages.create / parse / stream.
SDK_SPAN_NAME = "anthropic.messages.create"

# Our span, while our wrapper runs an SDK call whose own SDK span it replaces.
_REPLACING: contextvars.ContextVar[Span | None] = contextvars.ContextVar(
    "otel_llm_anthropic_replacing", default=None
)
# While Messages.stream runs: turns the api_request given to the stream manager into a traced one.
_PENDING_STREAM: contextvars.ContextVar[Callable[[Any], Any] | None] = contextvars.ContextVar(
    "otel_llm_anthropic_pending_stream", default=None
)


@dataclass(frozen=True)
class SdkSpans:
    """Whether the SDK's own ``anthropic.messages.create`` span is kept beside ours (decided once)."""

    keep: bool = False

    def keeps_for(self, client: Any) -> bool:
        """Kept for every client when ``keep``; else only for a client given its own ``tracer_provider``."""
        if self.keep:
            return True
        options = getattr(client, "_open_telemetry", None)
        return isinstance(options, Mapping) and options.get("tracer_provider") is not None


# -- the SDK's own span -------------------------------------------------------------------------
def sdk_start_span(settings: Settings) -> Wrapper:
    """Wraps ``anthropic._base_client.start_api_call_span`` (see the module docstring)."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        ours = _REPLACING.get()
        if ours is None:
            return wrapped(*args, **kwargs)
        options = args[2] if len(args) > 2 else kwargs.get("options")
        if getattr(options, "span_name", None) != SDK_SPAN_NAME:
            return wrapped(*args, **kwargs)
        context = ours.get_span_context()
        if kwargs.get("propagation", True) and context.is_valid:
            return NonRecordingSpan(context)
        return None

    return wrapper


def _replacing(fn: Callable[..., Any], call: LlmCall, keep: bool) -> Callable[..., Any]:
    if keep:
        return fn

    def run(*args: Any, **kwargs: Any) -> Any:
        token = _REPLACING.set(call.span)
        try:
            return fn(*args, **kwargs)
        finally:
            _REPLACING.reset(token)

    return run


def _replacing_async(fn: Callable[..., Any], call: LlmCall, keep: bool) -> Callable[..., Any]:
    if keep:
        return fn

    async def run(*args: Any, **kwargs: Any) -> Any:
        token = _REPLACING.set(call.span)
        try:
            return await fn(*args, **kwargs)
        finally:
            _REPLACING.reset(token)

    return run


# -- starting and filling a call ----------------------------------------------------------------
def _start(
    settings: Settings, instance: Any, kwargs: Mapping[str, Any], stream: bool, context: Context | None = None
) -> LlmCall:
    client = getattr(instance, "_client", None)
    server = extract.server_attributes(getattr(client, "base_url", None))
    call = start_call(
        settings,
        operation=semconv.OP_CHAT,
        provider=extract.provider_for(client),
        request_model=extract.request_model(kwargs),
        server_address=server.get(semconv.SERVER_ADDRESS),
        server_port=server.get(semconv.SERVER_PORT),
        stream=stream,
        attributes=extract.request_attributes(kwargs, stream=stream),
        checked=True,
        context=context,
    )
    if call.capture_content:
        _record_input(call, kwargs)
    return call


def _record_input(call: LlmCall, kwargs: Mapping[str, Any]) -> None:
    try:
        call.set_messages(semconv.GEN_AI_INPUT_MESSAGES, extract.input_messages(kwargs))
        call.set_system_instructions(extract.system_instructions(kwargs))
        call.set_tool_definitions(extract.tool_definitions(kwargs))
    except Exception:
        _log.debug("otel_llm: recording the Anthropic request content failed", exc_info=True)


def _record_message(call: LlmCall, message: Any) -> None:
    call.set_response(**extract.response_fields(message))
    usage = message.get("usage") if isinstance(message, dict) else getattr(message, "usage", None)
    call.set_usage(extract.usage_of(usage))
    if call.capture_content:
        call.set_messages(semconv.GEN_AI_OUTPUT_MESSAGES, extract.output_messages(message))


def _on_result(call: LlmCall, result: Any) -> Any:
    """What the app gets back: the SDK's object, or a transparent proxy of its stream or of its
    not-yet-read raw response."""
    sync_streams, async_streams, raw_types, async_raw = _types()
    if isinstance(result, sync_streams):
        return SyncStreamProxy(result, StreamState(call, MessageStreamHandler(call.capture_content)))
    if isinstance(result, async_streams):
        return AsyncStreamProxy(result, StreamState(call, MessageStreamHandler(call.capture_content)))
    if isinstance(result, raw_types) or getattr(result, "http_response", None) is not None:
        # A raw response (with_raw_response / with_streaming_response). SSE or not, its parse()
        # is the app's to call (the SDK caches it, so the app would get our parse's object).
        stream = bool(getattr(result, "_is_sse_stream", False) or getattr(result, "_stream", False))
        http_response: Any = getattr(result, "http_response", None)
        if not stream and getattr(http_response, "is_closed", False):
            # with_raw_response: the body was read already; its JSON fills the span now.
            if "json" in http_response.headers.get("content-type", ""):
                _record_message(call, http_response.json())
        else:
            # with_streaming_response, or a stream: parse() or close() ends the span (raw.py).
            proxy_type = AsyncRawResponseProxy if isinstance(result, async_raw) else RawResponseProxy
            handler = MessageStreamHandler(call.capture_content) if stream else None
            return proxy_type(result, call, _record_message, handler, (sync_streams, async_streams))
    else:
        _record_message(call, result)
    call.end()
    return result


_TYPES: tuple[tuple[type, ...], ...] | None = None


def _types() -> tuple[tuple[type, ...], ...]:
    """(sync streams, async streams, raw responses, async raw responses) of the installed SDK;
    empty tuples for what it lacks (older SDKs also had ``_legacy_response``). Looked up once."""
    global _TYPES
    if _TYPES is None:
        _TYPES = sdk_classes(
            [("anthropic", "Stream")],
            [("anthropic", "AsyncStream")],
            [("anthropic._response", "BaseAPIResponse"), ("anthropic._legacy_response", "LegacyAPIResponse")],
            [("anthropic._response", "AsyncAPIResponse")],
        )
    return _TYPES


# -- messages.create / messages.parse -----------------------------------------------------------
def messages_create(settings: Settings, sdk: SdkSpans) -> Wrapper:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        context = instrumenting_context()
        if context is None:
            return wrapped(*args, **kwargs)
        try:
            call = _start(settings, instance, kwargs, kwargs.get("stream") is True, context)
            keep = sdk.keeps_for(getattr(instance, "_client", None))
        except Exception:
            _log.debug("otel_llm: starting an Anthropic span failed", exc_info=True)
            return wrapped(*args, **kwargs)
        return call_sync(call, _replacing(wrapped, call, keep), args, kwargs, _on_result)

    return wrapper


def messages_create_async(settings: Settings, sdk: SdkSpans) -> Wrapper:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        # Everything happens when the app awaits the call, in the context it awaits it in: the
        # span's start, parent and scope ids, and the suppression check. A coroutine created and
        # awaited later (or never) starts no span before it runs.
        context = instrumenting_context()
        if context is None:
            return await wrapped(*args, **kwargs)
        try:
            call = _start(settings, instance, kwargs, kwargs.get("stream") is True, context)
            keep = sdk.keeps_for(getattr(instance, "_client", None))
        except Exception:
            _log.debug("otel_llm: starting an Anthropic span failed", exc_info=True)
            return await wrapped(*args, **kwargs)
        return await call_async(call, _replacing_async(wrapped, call, keep), args, kwargs, _on_result)

    return wrapper


# -- messages.stream() --------------------------------------------------------------------------
# The manager that Messages.stream returns sends the request only on __enter__, through the
# ``api_request`` it was constructed with (a callable for the sync manager, an awaitable for the
# async one). Messages.stream's wrapper leaves a hook in a context variable; the manager's __init__
# wrapper uses it to trace that request: the span starts when the request is sent, the raw event
# stream the MessageStream reads is our proxy, so text_stream, get_final_message() and iteration
# all pass through it, and the app still gets the SDK's own manager and MessageStream.


def messages_stream(settings: Settings, sdk: SdkSpans) -> Wrapper:
    """Wraps ``Messages.stream`` and ``AsyncMessages.stream``."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        if not should_instrument():
            return wrapped(*args, **kwargs)

        def hook(api_request: Any) -> Any:
            if callable(api_request):
                return _TracedRequest(settings, sdk, instance, kwargs, api_request)
            return _TracedAwaitable(settings, sdk, instance, kwargs, api_request)

        token = _PENDING_STREAM.set(hook)
        try:
            return wrapped(*args, **kwargs)
        finally:
            _PENDING_STREAM.reset(token)

    return wrapper


def stream_manager_init(settings: Settings) -> Wrapper:
    """Wraps ``MessageStreamManager.__init__`` and ``AsyncMessageStreamManager.__init__``."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        hook = _PENDING_STREAM.get()
        if hook is not None:
            try:
                if args:
                    args = (hook(args[0]), *args[1:])
                elif "api_request" in kwargs:
                    kwargs = {**kwargs, "api_request": hook(kwargs["api_request"])}
            except Exception:
                _log.debug("otel_llm: tracing an Anthropic stream manager failed", exc_info=True)
        return wrapped(*args, **kwargs)

    return wrapper


class _TracedRequest:
    """The sync manager's ``api_request``: sends it under a new span, returns a proxied stream."""

    __slots__ = ("_inner", "_instance", "_kwargs", "_sdk", "_settings")

    def __init__(
        self,
        settings: Settings,
        sdk: SdkSpans,
        instance: Any,
        kwargs: Mapping[str, Any],
        inner: Callable[[], Any],
    ) -> None:
        self._settings = settings
        self._sdk = sdk
        self._instance = instance
        self._kwargs = kwargs
        self._inner = inner

    def __call__(self) -> Any:
        if not should_instrument():
            return self._inner()
        try:
            call = _start(self._settings, self._instance, self._kwargs, stream=True)
            keep = self._sdk.keeps_for(getattr(self._instance, "_client", None))
        except Exception:
            _log.debug("otel_llm: starting an Anthropic span failed", exc_info=True)
            return self._inner()
        return call_sync(call, _replacing(self._inner, call, keep), (), {}, _on_result)


class _TracedAwaitable:
    """The async manager's ``api_request``: an awaitable, so an unentered manager warns as before."""

    __slots__ = ("_inner", "_instance", "_kwargs", "_sdk", "_settings")

    def __init__(
        self, settings: Settings, sdk: SdkSpans, instance: Any, kwargs: Mapping[str, Any], inner: Any
    ) -> None:
        self._settings = settings
        self._sdk = sdk
        self._instance = instance
        self._kwargs = kwargs
        self._inner = inner

    def __await__(self) -> Generator[Any, None, Any]:
        return self._run().__await__()

    async def _run(self) -> Any:
        if not should_instrument():
            return await self._inner
        try:
            call = _start(self._settings, self._instance, self._kwargs, stream=True)
            keep = self._sdk.keeps_for(getattr(self._instance, "_client", None))
        except Exception:
            _log.debug("otel_llm: starting an Anthropic span failed", exc_info=True)
            return await self._inner

        async def send() -> Any:
            return await self._inner

        return await call_async(call, _replacing_async(send, call, keep), (), {}, _on_result)
