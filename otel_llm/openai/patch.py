"""Wrappers for the OpenAI SDK methods listed in ``otel_llm.openai.TARGETS``.

One span per logical call (``instrumenting_context`` makes nested wrapped methods pass through).
Streams come back wrapped in transparent proxies; ``with_raw_response`` calls return the SDK's raw
response object unchanged (the span reads its parsed body, which the SDK caches for the app).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from opentelemetry.context import Context

from otel_llm import semconv
from otel_llm._core.instrumentor import sdk_classes
from otel_llm._core.raw import AsyncRawResponseProxy, RawResponseProxy, handler_for
from otel_llm._core.settings import Settings
from otel_llm._core.span import LlmCall, call_async, call_sync, instrumenting_context, start_call
from otel_llm._core.stream import AsyncStreamProxy, StreamHandler, StreamState, SyncStreamProxy
from otel_llm.openai import extract
from otel_llm.openai.stream import ChatStreamHandler, CompletionStreamHandler, ResponsesStreamHandler

__all__ = [
    "CHAT",
    "COMPLETIONS",
    "EMBEDDINGS",
    "RESPONSES",
    "Operation",
    "async_wrapper",
    "sync_wrapper",
]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Operation:
    """How to read one API: request attributes, the parsed response, a stream handler."""

    name: str
    request: Callable[[Mapping[str, Any]], dict[str, Any]]
    response: Callable[[LlmCall, Any], None]
    # Records the request's content (messages, system instructions, tool definitions); called
    # only when content is collected.
    record_input: Callable[[LlmCall, Mapping[str, Any]], None] | None
    stream_handler: Callable[[Mapping[str, Any]], StreamHandler] | None


def _choices_response(
    output_messages: Callable[[Any], list[dict[str, Any]]],
) -> Callable[[LlmCall, Any], None]:
    """Fills a call from a chat or a text completion: the same id, model, choices' finish reasons,
    fingerprint, tier and usage; only the output content (a choice's message, or its text) differs."""

    def fill(call: LlmCall, response: Any) -> None:
        attrs, reasons, usage = extract.chat_response(response)
        call.set_response(
            getattr(response, "id", None), getattr(response, "model", None), reasons, usage, attrs, typed=True
        )
        if call.capture_content:
            call.set_messages(semconv.GEN_AI_OUTPUT_MESSAGES, output_messages(response))

    return fill


_chat_response = _choices_response(extract.chat_output_messages)
_completion_response = _choices_response(extract.completion_output_messages)


def _responses_response(call: LlmCall, response: Any) -> None:
    attrs, reasons, usage = extract.responses_response(response)
    call.set_response(getattr(response, "id", None), getattr(response, "model", None), reasons, usage, attrs)
    failure = extract.responses_failure(response)  # status "failed": returned, not raised
    if failure is not None:
        call.fail_type(*failure)
    if call.capture_content:
        call.set_messages(semconv.GEN_AI_OUTPUT_MESSAGES, extract.responses_output_messages(response))


def _chat_input(call: LlmCall, kwargs: Mapping[str, Any]) -> None:
    try:
        call.set_messages(semconv.GEN_AI_INPUT_MESSAGES, extract.chat_input_messages(kwargs.get("messages")))
        if "tools" in kwargs:
            call.set_tool_definitions(extract.chat_tool_definitions(kwargs))
    except Exception:
        _log.debug("otel_llm: recording the chat request content failed", exc_info=True)


def _responses_input(call: LlmCall, kwargs: Mapping[str, Any]) -> None:
    try:
        call.set_messages(semconv.GEN_AI_INPUT_MESSAGES, extract.responses_input_messages(kwargs))
        if "instructions" in kwargs:
            call.set_system_instructions(extract.responses_system_instructions(kwargs))
        if "tools" in kwargs:
            call.set_tool_definitions(extract.responses_tool_definitions(kwargs))
    except Exception:
        _log.debug("otel_llm: recording the Responses request content failed", exc_info=True)


def _completion_input(call: LlmCall, kwargs: Mapping[str, Any]) -> None:
    try:
        call.set_messages(semconv.GEN_AI_INPUT_MESSAGES, extract.completion_input_messages(kwargs))
    except Exception:
        _log.debug("otel_llm: recording the completion request content failed", exc_info=True)


def _embeddings_response(call: LlmCall, response: Any) -> None:
    attrs, usage = extract.embeddings_response(response)
    call.set_response(None, getattr(response, "model", None), None, usage, attrs)


CHAT = Operation(
    name=semconv.OP_CHAT,
    request=extract.chat_request_attributes,
    response=_chat_response,
    record_input=_chat_input,
    stream_handler=lambda kw: ChatStreamHandler(
        kw.get("messages"), extract.choice_count(kw), extract.include_usage(kw)
    ),
)
RESPONSES = Operation(
    name=semconv.OP_CHAT,
    request=extract.responses_request_attributes,
    response=_responses_response,
    record_input=_responses_input,
    stream_handler=lambda kw: ResponsesStreamHandler(),
)
COMPLETIONS = Operation(  # the legacy text completions API (completions.create)
    name=semconv.OP_TEXT_COMPLETION,
    request=extract.chat_request_attributes,  # the sampling parameters it shares with chat
    response=_completion_response,
    record_input=_completion_input,
    stream_handler=lambda kw: CompletionStreamHandler(
        kw.get("prompt"), extract.choice_count(kw), extract.include_usage(kw)
    ),
)
EMBEDDINGS = Operation(
    name=semconv.OP_EMBEDDINGS,
    request=extract.embeddings_request_attributes,
    response=_embeddings_response,
    record_input=None,
    stream_handler=None,
)


def _sdk_types() -> tuple[tuple[type, ...], ...]:
    """(sync streams, async streams, legacy raw responses, lazily-read raw responses)."""
    return sdk_classes(
        [("openai", "Stream")],
        [("openai", "AsyncStream")],
        [("openai._legacy_response", "LegacyAPIResponse")],
        [("openai._response", "BaseAPIResponse")],
    )


def _start(
    settings: Settings, op: Operation, instance: Any, kwargs: Mapping[str, Any], context: Context
) -> LlmCall:
    provider, address, port = extract.endpoint(instance)
    model = kwargs.get("model")  # the SDK's NOT_GIVEN / omit sentinels are no str
    call = start_call(
        settings,
        operation=op.name,
        provider=provider,
        request_model=model if isinstance(model, str) else None,
        server_address=address,
        server_port=port,
        stream=kwargs.get("stream") is True,
        attributes=op.request(kwargs),
        checked=True,
        context=context,
    )
    if op.record_input is not None and call.capture_content:
        op.record_input(call, kwargs)
    return call


def _on_result(op: Operation, kwargs: Mapping[str, Any], is_async: bool, call: LlmCall, result: Any) -> Any:
    """Fill and end the call from the SDK's result; return what the app gets (``functools.partial``
    binds the first three arguments per call: cheaper than a closure)."""
    if type(result) in _PARSED:  # a response model type seen before: nothing to wrap
        op.response(call, result)
        call.end()
        return result
    sync_streams, async_streams, legacy, lazy = _TYPES
    stream_handler = op.stream_handler
    if stream_handler is not None:
        if isinstance(result, sync_streams):
            return SyncStreamProxy(result, StreamState(call, stream_handler(kwargs)))
        if isinstance(result, async_streams):
            return AsyncStreamProxy(result, StreamState(call, stream_handler(kwargs)))
    parsed: Any = result
    if legacy and isinstance(result, legacy):
        # with_raw_response: the SDK caches parse(), so the app gets this very object later. A
        # stream is the app's to parse: the span ends with the stream it gets (raw.py).
        raw: Any = result
        if getattr(raw, "_stream", False):
            handler = handler_for(stream_handler, kwargs)
            return RawResponseProxy(result, call, op.response, handler, (sync_streams, async_streams))
        parsed = raw.parse()
    elif lazy and isinstance(result, lazy):
        # with_streaming_response: the body is the app's to read; its parse() or close() ends the span.
        proxy_type = AsyncRawResponseProxy if is_async else RawResponseProxy
        handler = handler_for(stream_handler, kwargs)
        return proxy_type(result, call, op.response, handler, (sync_streams, async_streams))
    elif stream_handler is not None and kwargs.get("stream") is True:
        # A stream another instrumentation wrapped in its own object (contrib's
        # ChatStreamWrapper is no openai.Stream): proxy whatever iterates like one.
        proxy = _iterating_proxy(result, is_async)
        if proxy is not None:
            return proxy(result, StreamState(call, stream_handler(kwargs)))
    if parsed is not None:
        if parsed is result and hasattr(type(result), "model_fields") and len(_PARSED) < 256:
            _PARSED.add(type(result))  # a pydantic response model (no stream, no raw response)
        op.response(call, parsed)
    call.end()
    return result


# Types of parsed responses (ChatCompletion, Response, ...) _on_result has seen: the same type
# always takes the plain path, whatever the operation or its arguments.
_PARSED: set[type] = set()


def _iterating_proxy(result: Any, is_async: bool) -> type[SyncStreamProxy] | type[AsyncStreamProxy] | None:
    cls = type(result)
    if hasattr(cls, "model_fields") or isinstance(result, (str, bytes, bytearray, Mapping)):
        return None  # a parsed response (pydantic models iterate over their fields) or plain data
    if is_async:
        if hasattr(cls, "__anext__") or hasattr(cls, "__aiter__"):
            return AsyncStreamProxy
    elif hasattr(cls, "__next__") or hasattr(cls, "__iter__"):
        return SyncStreamProxy
    return None


_TYPES: tuple[tuple[type, ...], ...] = ((), (), (), ())


def _load_types() -> None:
    global _TYPES
    try:
        _TYPES = _sdk_types()
    except Exception:
        _log.debug("otel_llm: openai stream/response types not found", exc_info=True)


def sync_wrapper(op: Operation) -> Callable[[Settings], Any]:
    def factory(settings: Settings) -> Any:
        _load_types()

        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            context = instrumenting_context()
            if context is None:
                return wrapped(*args, **kwargs)
            try:
                call = _start(settings, op, instance, kwargs, context)
                on_result = partial(_on_result, op, kwargs, False)
            except Exception:
                _log.debug("otel_llm: starting the span failed", exc_info=True)
                return wrapped(*args, **kwargs)
            return call_sync(call, wrapped, args, kwargs, on_result)

        return wrapper

    return factory


def async_wrapper(op: Operation) -> Callable[[Settings], Any]:
    def factory(settings: Settings) -> Any:
        _load_types()

        async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            context = instrumenting_context()
            if context is None:
                return await wrapped(*args, **kwargs)
            try:
                call = _start(settings, op, instance, kwargs, context)
                on_result = partial(_on_result, op, kwargs, True)
            except Exception:
                _log.debug("otel_llm: starting the span failed", exc_info=True)
                return await wrapped(*args, **kwargs)
            return await call_async(call, wrapped, args, kwargs, on_result)

        return wrapper

    return factory
