"""Shared core of the provider instrumentations (OpenAI, Anthropic, ...). Internal API.

A provider package is ``__init__`` (instrumentor + target table) + ``patch`` (wrappers) +
``extract`` (pure request/response -> attributes) + ``stream`` (a StreamHandler). The core gives:

Settings (``settings.py``), resolved once in ``_instrument``::

    settings = resolve_settings(scope, version, kwargs)   # done by LlmInstrumentor for you
    settings.tracer, settings.instruments (None without a MeterProvider), settings.capture_content
    (content goes on spans: SPAN_ONLY, SPAN_AND_EVENT), settings.events (an EventEmitter in
    EVENT_ONLY and SPAN_AND_EVENT, else None), settings.content_mode, settings.max_content_length,
    settings.redact, settings.prices, settings.tokens
    instrument() kwargs: tracer_provider, meter_provider, logger_provider (events; default the
    global one), capture_content (bool|ContentMode), max_content_length (int),
    redact (Callable[[str], str]), price_book, token_counter
    env: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT (NO_CONTENT|SPAN_ONLY|EVENT_ONLY|
    SPAN_AND_EVENT, any case; legacy true/false), OTEL_LLM_CONTENT_MAX_LENGTH (default 8192,
    <= 0 = unlimited), OTEL_LLM_PRICES_FILE (YAML/JSON overrides, see cost.load_price_file).

Instrumentor (``instrumentor.py``)::

    class AnthropicInstrumentor(LlmInstrumentor):
        _scope = "otel_llm.anthropic"
        def instrumentation_dependencies(self): return ("anthropic >= 0.40",)
        def sdk_available(self): ...import check...
        def targets(self): return (WrapTarget("anthropic.resources.messages", "Messages.create",
                                              patch.messages_create),  # factory(settings) -> wrapper
                                   ...)
    # self.settings is available after instrument(); uninstrument() unwraps exactly what attached.

Wrapper shape (``span.py``)::

    def messages_create(settings):
        def wrapper(wrapped, instance, args, kwargs):
            if not should_instrument():                 # suppression + no nested double spans
                return wrapped(*args, **kwargs)
            try:
                call = start_call(settings, operation="chat", provider="anthropic",
                                  request_model=kwargs.get("model"), server_address=host,
                                  server_port=port, stream=bool(kwargs.get("stream")),
                                  attributes=extract.request_attributes(kwargs))
            except Exception:
                return wrapped(*args, **kwargs)
            return call_sync(call, wrapped, args, kwargs, on_result)   # call_async for async
        return wrapper

    on_result(call, result) -> what the app gets; it MUST end the call: either fill it and
    ``call.end()`` (non-stream), or return a stream proxy that ends it later. An exception from
    the SDK is recorded (``call.fail``) and re-raised by call_sync/call_async; an exception in
    on_result is logged, the span ended, and the SDK's result returned untouched.

    LlmCall: .span, .recording, .set(key, value), .set_many(mapping), .set_response(response_id=,
    response_model=, finish_reasons=), .set_usage(Usage(...)), .first_chunk(),
    .set_messages(semconv.GEN_AI_INPUT_MESSAGES, [content.message(...)]),
    .set_system_instructions([content.text_part(...)]), .set_tool_definitions([{"type": "function",
    "name": ..., "description": ..., "parameters": {...}}]) (these three are no-ops unless content
    is collected), .capture_content (True when content is collected: check it before building
    messages), .fail(exc, type_name=None), .end() (idempotent; writes usage, cost + cost source,
    time to first chunk, estimated flags; records metrics).
    Events (``events.py``): with settings.events set, start_call returns an LlmCall subclass that
    collects attributes and content even for a non-recording span, keeps content off the span in
    EVENT_ONLY, and in end() emits one gen_ai.client.inference.operation.details log record
    (DEBUG, timestamp = the span's end time, in the span's context, attributes = the span's plus
    the content ones). Providers need nothing extra: collect content when call.capture_content.
    With settings.events None (NO_CONTENT, SPAN_ONLY) the plain LlmCall runs, unchanged.
    Usage(input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens,
          estimate_method=None)  -- input_tokens INCLUDES cache read/creation tokens (semconv;
          genai-prices prices it that way). Anthropic reports them separately: add them up.
    error_type(exc) -> "openai.RateLimitError" (public FQCN); fail() also sets
    http.response.status_code when the exception has an int status_code, and scrubs secrets
    (sk-..., Bearer ...) from the status description.

Streams (``stream.py``)::

    class Handler:                        # implements StreamHandler
        def on_chunk(self, chunk): ...    # accumulate; never modify the chunk
        def on_finish(self, call): ...    # call.set_response(...); call.set_usage(...)
    state = StreamState(call, Handler())
    return SyncStreamProxy(result, state)          # AsyncStreamProxy for async streams
    return SyncManagerProxy(manager, state, wrap_entered)   # AsyncManagerProxy
    # wrap_entered(entered_obj, state) -> e.g. SyncStreamProxy(entered_obj, state)
    The span ends once: exhaustion, close(), __exit__/__aexit__, error from the stream (recorded
    as failure), or garbage collection of the proxy (weakref.finalize).

Content (``content.py``): message(role, parts, finish_reason=None), text_part(text),
tool_call_part(id, name, arguments), tool_call_response_part(id, response); encode(settings,
messages) -> JSON string (redaction hook on every string, total size limit, TRUNCATED_MARKER);
encode_parts(settings, parts) (system instructions, same rules); encode_tool_definitions(tools)
(plain JSON: written by the developer, not redacted); encode_text(settings, text).

Tokens (``tokens.py``): settings.tokens.count(model, texts) -> (n, method); method
"tiktoken:<encoding>" (only with an encoding already in tiktoken's local cache, loaded in a
background thread) or "heuristic:chars/4". Put the method in Usage.estimate_method.

Cost (``cost.py``): settings.prices.cost(provider, model, input, output, cache_read, cache_write)
-> (usd, source) | None. LlmCall.end() does this for you.

Metrics (``metrics.py``): Instruments(duration, token_usage, time_to_first_chunk,
attach_failures), recorded by LlmCall.end() (token usage only for provider-reported counts).
"""

from __future__ import annotations

from otel_llm._core import content
from otel_llm._core.cost import Price, PriceBook
from otel_llm._core.events import EventEmitter
from otel_llm._core.instrumentor import LlmInstrumentor, WrapTarget
from otel_llm._core.settings import ContentMode, Settings, resolve_settings
from otel_llm._core.span import (
    LlmCall,
    Usage,
    call_async,
    call_sync,
    error_type,
    should_instrument,
    start_call,
)
from otel_llm._core.stream import (
    AsyncManagerProxy,
    AsyncStreamProxy,
    StreamHandler,
    StreamState,
    SyncManagerProxy,
    SyncStreamProxy,
)
from otel_llm._core.tokens import TokenCounter

__all__ = [
    "AsyncManagerProxy",
    "AsyncStreamProxy",
    "ContentMode",
    "EventEmitter",
    "LlmCall",
    "LlmInstrumentor",
    "Price",
    "PriceBook",
    "Settings",
    "StreamHandler",
    "StreamState",
    "SyncManagerProxy",
    "SyncStreamProxy",
    "TokenCounter",
    "Usage",
    "WrapTarget",
    "call_async",
    "call_sync",
    "content",
    "error_type",
    "resolve_settings",
    "should_instrument",
    "start_call",
]
