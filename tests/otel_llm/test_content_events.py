"""Content capture modes and the gen_ai.client.inference.operation.details event, through the real
openai and anthropic SDKs against the stub servers: which content attributes are on the span and on
the event, the event's name, severity, timestamp, ids and exact attributes, one event per call;
streams, errors, async clients, redaction, OpenAI tool definitions and Responses instructions."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor, ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from otel_llm import manual, semconv
from otel_llm._core.events import EventEmitter
from otel_llm._core.settings import ContentMode, resolve_settings
from otel_llm._core.tokens import TokenCounter
from otel_llm.anthropic import AnthropicInstrumentor
from otel_llm.manual import llm_call
from otel_llm.openai import OpenAIInstrumentor
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_anthropic import ErrorReply, StubAnthropic
from otel_llm.testing.stub_anthropic import Reply as AnthropicReply
from otel_llm.testing.stub_anthropic import ToolUse as AnthropicToolUse
from otel_llm.testing.stub_openai import StubOpenAI

OPENAI_KEY = "sk-test-SECRETKEY-0123456789"
ANTHROPIC_KEY = "sk-ant-api03-SECRETKEY-do-not-record"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}]
CHAT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": True,
        },
    }
]
TOOL_DEFINITIONS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
CHAT_INPUT = [
    {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
]
CHAT_OUTPUT = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "Hello from the stub."}],
        "finish_reason": "stop",
    }
]
CONTENT_KEYS = {
    semconv.GEN_AI_INPUT_MESSAGES,
    semconv.GEN_AI_OUTPUT_MESSAGES,
    semconv.GEN_AI_SYSTEM_INSTRUCTIONS,
    semconv.GEN_AI_TOOL_DEFINITIONS,
}
EVENT = semconv.EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def openai_stub() -> Iterator[StubOpenAI]:
    with StubOpenAI() as server:
        yield server


@pytest.fixture
def anthropic_stub() -> Iterator[StubAnthropic]:
    with StubAnthropic() as server:
        yield server


@pytest.fixture
def instrumented(telemetry: Telemetry) -> Iterator[Any]:
    """``instrumented(mode, **kwargs)`` instruments both SDKs with the telemetry's three providers."""
    done: list[Any] = []

    def _instrument(mode: ContentMode, **kwargs: Any) -> None:
        params: dict[str, Any] = {
            "tracer_provider": telemetry.tracer_provider,
            "meter_provider": telemetry.meter_provider,
            "logger_provider": telemetry.logger_provider,
            "token_counter": TokenCounter(loader=None),
            "capture_content": mode,
        }
        params.update(kwargs)
        for inst in (OpenAIInstrumentor(), AnthropicInstrumentor()):
            inst.instrument(**params)
            done.append(inst)

    yield _instrument
    for inst in done:
        inst.uninstrument()
    gc.collect()


def _openai(stub: StubOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.url, api_key=OPENAI_KEY, max_retries=0)


def _anthropic(stub: StubAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stub.base_url, api_key=ANTHROPIC_KEY, max_retries=0)


def _event(telemetry: Telemetry) -> ReadableLogRecord:
    logs = telemetry.logs()
    assert len(logs) == 1, f"expected exactly one event, got {len(logs)}"
    return logs[0]


def _plain(value: Any) -> Any:
    """A structured attribute value as the SDK stores it (tuples) in JSON's shape (lists)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _event_attributes(record: ReadableLogRecord) -> dict[str, Any]:
    """The record's attributes; the content ones must be structured (the semantic conventions
    require it on events), given here as lists and dicts."""
    out = {}
    for k, v in (record.log_record.attributes or {}).items():
        if k in CONTENT_KEYS:
            assert isinstance(v, tuple), f"{k} is not structured: {type(v).__name__}"
        out[k] = _plain(v) if k in CONTENT_KEYS else list(v) if isinstance(v, tuple) else v
    return out


def _content(value: Any) -> Any:
    """A content attribute's value: parsed from the JSON string a span holds; as is from an event."""
    return json.loads(value) if isinstance(value, str) else value


def _contents(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: _content(v) if k in CONTENT_KEYS else v for k, v in attrs.items()}


def _check_event(record: ReadableLogRecord, span: ReadableSpan, scope: str) -> dict[str, Any]:
    """Name, severity, timestamp, ids and scope of the event of ``span``; returns its attributes."""
    log = record.log_record
    assert log.event_name == EVENT
    assert log.severity_number is SeverityNumber.DEBUG
    assert log.timestamp == span.end_time
    assert log.trace_id == span.context.trace_id
    assert log.span_id == span.context.span_id
    assert log.body is None
    assert record.instrumentation_scope is not None
    assert record.instrumentation_scope.name == scope
    attrs = _event_attributes(record)
    for key in CONTENT_KEYS & attrs.keys():
        assert type(attrs[key]) is list
    return attrs


def _without_content(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k not in CONTENT_KEYS}


# -- modes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", list(ContentMode))
def test_openai_chat_each_mode(
    mode: ContentMode, openai_stub: StubOpenAI, telemetry: Telemetry, instrumented: Any
) -> None:
    instrumented(mode)
    with _openai(openai_stub) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=CHAT_TOOLS)
    span = telemetry.span()
    span_attrs = attributes_of(span)
    content = {
        semconv.GEN_AI_INPUT_MESSAGES: CHAT_INPUT,
        semconv.GEN_AI_OUTPUT_MESSAGES: CHAT_OUTPUT,
        semconv.GEN_AI_TOOL_DEFINITIONS: TOOL_DEFINITIONS,
    }
    if mode in (ContentMode.SPAN_ONLY, ContentMode.SPAN_AND_EVENT):
        assert {k: json.loads(v) for k, v in span_attrs.items() if k in CONTENT_KEYS} == content
    else:
        assert CONTENT_KEYS.isdisjoint(span_attrs)
    if mode in (ContentMode.NO_CONTENT, ContentMode.SPAN_ONLY):
        assert telemetry.logs() == []
        return
    event_attrs = _check_event(_event(telemetry), span, "otel_llm.openai")
    # The span's attribute group, plus the content.
    assert _without_content(event_attrs) == _without_content(span_attrs)
    assert {k: v for k, v in event_attrs.items() if k in CONTENT_KEYS} == content
    assert event_attrs[semconv.GEN_AI_OPERATION_NAME] == "chat"
    assert event_attrs[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert event_attrs[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert event_attrs[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini"
    assert event_attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stub"
    assert event_attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert event_attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert event_attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 6
    assert event_attrs[semconv.SERVER_ADDRESS] == "127.0.0.1"
    assert type(event_attrs[semconv.SERVER_PORT]) is int
    assert semconv.ERROR_TYPE not in event_attrs


def test_one_event_per_call(openai_stub: StubOpenAI, telemetry: Telemetry, instrumented: Any) -> None:
    instrumented(ContentMode.EVENT_ONLY)
    with _openai(openai_stub) as client:
        for _ in range(3):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    spans = telemetry.spans()
    logs = telemetry.logs()
    assert len(spans) == len(logs) == 3
    assert [log.log_record.span_id for log in logs] == [s.context.span_id for s in spans]


def test_settings_per_mode() -> None:
    for mode, on_span, events in (
        (ContentMode.NO_CONTENT, False, False),
        (ContentMode.SPAN_ONLY, True, False),
        (ContentMode.EVENT_ONLY, False, True),
        (ContentMode.SPAN_AND_EVENT, True, True),
    ):
        settings = resolve_settings("t", "0", {"capture_content": mode}, environ={})
        assert settings.capture_content is on_span
        assert (settings.events is not None) is events
    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "event_only"}
    assert resolve_settings("t", "0", {}, environ=env).events is not None


# -- streams ---------------------------------------------------------------------------------------
def test_openai_stream_event_at_stream_end(
    openai_stub: StubOpenAI, telemetry: Telemetry, instrumented: Any
) -> None:
    instrumented(ContentMode.EVENT_ONLY)
    with _openai(openai_stub) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        next(iter(stream))
        assert telemetry.logs() == []  # not before the stream ends
        for _ in stream:
            pass
    span = telemetry.span()
    event_attrs = _check_event(_event(telemetry), span, "otel_llm.openai")
    assert CONTENT_KEYS.isdisjoint(attributes_of(span))
    assert _without_content(event_attrs) == attributes_of(span)
    assert event_attrs[semconv.GEN_AI_REQUEST_STREAM] is True
    assert type(event_attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]) is float
    assert (event_attrs[semconv.GEN_AI_INPUT_MESSAGES]) == CHAT_INPUT
    assert (event_attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == CHAT_OUTPUT


def test_anthropic_messages_stream_span_and_event(
    anthropic_stub: StubAnthropic, telemetry: Telemetry, instrumented: Any
) -> None:
    instrumented(ContentMode.SPAN_AND_EVENT)
    anthropic_stub.script(
        AnthropicReply(text="Let me check.", tools=(AnthropicToolUse("get_weather", {"city": "Paris"}),))
    )
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}]
    with (
        _anthropic(anthropic_stub) as client,
        client.messages.stream(
            model="claude-haiku-4-5",
            max_tokens=64,
            system="Be brief.",
            tools=tools,
            messages=[{"role": "user", "content": "Weather in Paris?"}],
        ) as stream,
    ):
        stream.until_done()
    span = telemetry.span()
    span_attrs = attributes_of(span)
    event_attrs = _check_event(_event(telemetry), span, "otel_llm.anthropic")
    assert _contents(event_attrs) == _contents(span_attrs)
    assert (event_attrs[semconv.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be brief."}]
    assert (event_attrs[semconv.GEN_AI_TOOL_DEFINITIONS]) == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather",
            "parameters": {"type": "object"},
        }
    ]
    assert (event_attrs[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}
    ]
    output = event_attrs[semconv.GEN_AI_OUTPUT_MESSAGES]
    assert output[0]["role"] == "assistant"
    assert [p["type"] for p in output[0]["parts"]] == ["text", "tool_call"]
    assert event_attrs[semconv.GEN_AI_REQUEST_STREAM] is True
    assert event_attrs[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"


def test_anthropic_stream_closed_early_emits_once(
    anthropic_stub: StubAnthropic, telemetry: Telemetry, instrumented: Any
) -> None:
    instrumented(ContentMode.EVENT_ONLY)
    with _anthropic(anthropic_stub) as client:
        stream = client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )
        next(iter(stream))
        stream.close()
        stream.close()
    span = telemetry.span()
    event_attrs = _check_event(_event(telemetry), span, "otel_llm.anthropic")
    assert (event_attrs[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]


# -- errors and async ----------------------------------------------------------------------------
def test_openai_error_event(openai_stub: StubOpenAI, telemetry: Telemetry, instrumented: Any) -> None:
    instrumented(ContentMode.EVENT_ONLY)
    with _openai(openai_stub) as client, pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="stub-error-429", messages=MESSAGES)
    span = telemetry.span()
    event_attrs = _check_event(_event(telemetry), span, "otel_llm.openai")
    assert event_attrs[semconv.ERROR_TYPE] == "openai.RateLimitError"
    assert event_attrs[semconv.HTTP_RESPONSE_STATUS_CODE] == 429
    assert (event_attrs[semconv.GEN_AI_INPUT_MESSAGES]) == CHAT_INPUT
    assert semconv.GEN_AI_OUTPUT_MESSAGES not in event_attrs
    assert _without_content(event_attrs) == attributes_of(span)
    assert "SECRETKEY" not in json.dumps(event_attrs)


async def test_anthropic_async_error_event(
    anthropic_stub: StubAnthropic, telemetry: Telemetry, instrumented: Any
) -> None:
    instrumented(ContentMode.SPAN_AND_EVENT)
    anthropic_stub.script(ErrorReply(status=429, message="slow down"))
    client = anthropic.AsyncAnthropic(base_url=anthropic_stub.base_url, api_key=ANTHROPIC_KEY, max_retries=0)
    try:
        with pytest.raises(anthropic.RateLimitError):
            await client.messages.create(
                model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        await client.close()
    span = telemetry.span()
    event_attrs = _check_event(_event(telemetry), span, "otel_llm.anthropic")
    assert _contents(event_attrs) == _contents(attributes_of(span))
    assert event_attrs[semconv.ERROR_TYPE] == "anthropic.RateLimitError"
    assert "SECRETKEY" not in json.dumps(event_attrs)


async def test_openai_async_chat_event(
    openai_stub: StubOpenAI, telemetry: Telemetry, instrumented: Any
) -> None:
    instrumented(ContentMode.EVENT_ONLY)
    async with openai.AsyncOpenAI(base_url=openai_stub.url, api_key=OPENAI_KEY, max_retries=0) as client:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.span()
    event_attrs = _check_event(_event(telemetry), span, "otel_llm.openai")
    assert (event_attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == CHAT_OUTPUT
    assert CONTENT_KEYS.isdisjoint(attributes_of(span))


async def test_openai_async_stream_event(
    openai_stub: StubOpenAI, telemetry: Telemetry, instrumented: Any
) -> None:
    instrumented(ContentMode.EVENT_ONLY)
    async with openai.AsyncOpenAI(base_url=openai_stub.url, api_key=OPENAI_KEY, max_retries=0) as client:
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        async for _ in stream:
            pass
    span = telemetry.span()
    event_attrs = _check_event(_event(telemetry), span, "otel_llm.openai")
    assert (event_attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == CHAT_OUTPUT


# -- other APIs ----------------------------------------------------------------------------------
def test_embeddings_event_has_no_content(
    openai_stub: StubOpenAI, telemetry: Telemetry, instrumented: Any
) -> None:
    instrumented(ContentMode.SPAN_AND_EVENT)
    with _openai(openai_stub) as client:
        client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    span = telemetry.span()
    event_attrs = _check_event(_event(telemetry), span, "otel_llm.openai")
    assert event_attrs == attributes_of(span)
    assert event_attrs[semconv.GEN_AI_OPERATION_NAME] == "embeddings"
    assert CONTENT_KEYS.isdisjoint(event_attrs)


RESPONSES_TOOLS = [
    {
        "type": "function",
        "name": "lookup",
        "description": "Find",
        "parameters": {"type": "object"},
        "strict": True,
    },
    {
        "type": "mcp",
        "server_label": "internal",
        "server_url": "https://mcp.example.invalid/sse",
        "headers": {"Authorization": "Bearer SECRETKEY-mcp"},
    },
    {"type": "web_search_preview"},
]


@pytest.mark.parametrize("mode", list(ContentMode))
def test_responses_instructions_and_tools(
    mode: ContentMode, openai_stub: StubOpenAI, telemetry: Telemetry, instrumented: Any
) -> None:
    instrumented(mode)
    with _openai(openai_stub) as client:
        client.responses.create(
            model="gpt-4o-mini", input="find it", instructions="Be exact.", tools=RESPONSES_TOOLS
        )
    span_attrs = attributes_of(telemetry.span())
    logs = telemetry.logs()
    assert len(logs) == (1 if mode in (ContentMode.EVENT_ONLY, ContentMode.SPAN_AND_EVENT) else 0)
    recorded = [span_attrs] if mode in (ContentMode.SPAN_ONLY, ContentMode.SPAN_AND_EVENT) else []
    recorded += [_event_attributes(log) for log in logs]
    if mode is ContentMode.NO_CONTENT:
        assert CONTENT_KEYS.isdisjoint(span_attrs)
    for attrs in recorded:
        assert _content(attrs[semconv.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
            {"type": "text", "content": "Be exact."}
        ]
        assert _content(attrs[semconv.GEN_AI_INPUT_MESSAGES]) == [
            {"role": "user", "parts": [{"type": "text", "content": "find it"}]}
        ]
        assert _content(attrs[semconv.GEN_AI_TOOL_DEFINITIONS]) == [
            {"type": "function", "name": "lookup", "description": "Find", "parameters": {"type": "object"}},
            {"type": "mcp"},
            {"type": "web_search_preview"},
        ]
        assert "SECRETKEY" not in json.dumps(attrs)
        assert "mcp.example" not in json.dumps(attrs)


def test_chat_custom_tool_and_redaction_on_event(
    openai_stub: StubOpenAI, telemetry: Telemetry, instrumented: Any
) -> None:
    instrumented(ContentMode.SPAN_AND_EVENT, redact=lambda s: s.replace("Paris", "<city>"))
    custom = {"name": "grep", "description": "Search text, e.g. Paris"}
    tools = [*CHAT_TOOLS, {"type": "custom", "custom": custom}]
    with _openai(openai_stub) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=tools)
    span_attrs = attributes_of(telemetry.span())
    event_attrs = _event_attributes(_event(telemetry))
    for attrs in (span_attrs, event_attrs):
        assert _content(attrs[semconv.GEN_AI_INPUT_MESSAGES])[1] == {
            "role": "user",
            "parts": [{"type": "text", "content": "Weather in <city>?"}],
        }
        assert _content(attrs[semconv.GEN_AI_TOOL_DEFINITIONS]) == [
            *TOOL_DEFINITIONS,
            {"type": "custom", "name": "grep", "description": "Search text, e.g. <city>"},  # redacted too
        ]
    assert _contents(event_attrs) == _contents(span_attrs)


def test_event_size_limit(openai_stub: StubOpenAI, telemetry: Telemetry, instrumented: Any) -> None:
    instrumented(ContentMode.EVENT_ONLY, max_content_length=12)
    with _openai(openai_stub) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    event_attrs = _event_attributes(_event(telemetry))
    assert (event_attrs[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Wea...[truncated]"}]},
    ]


# -- sampling, providers, failures -----------------------------------------------------------------
def test_event_when_span_is_sampled_out(openai_stub: StubOpenAI, telemetry: Telemetry) -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(telemetry.exporter))
    inst = OpenAIInstrumentor()
    inst.instrument(
        tracer_provider=provider,
        logger_provider=telemetry.logger_provider,
        capture_content=ContentMode.EVENT_ONLY,
        token_counter=TokenCounter(loader=None),
    )
    try:
        with _openai(openai_stub) as client:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        inst.uninstrument()
        provider.shutdown()
    assert telemetry.spans() == []
    log = _event(telemetry).log_record
    assert log.event_name == EVENT
    assert log.trace_id != 0 and log.span_id != 0
    attrs = _event_attributes(_event(telemetry))
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stub"
    assert _content(attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == CHAT_OUTPUT


def test_event_mode_without_logger_provider(openai_stub: StubOpenAI, telemetry: Telemetry) -> None:
    """The global (API, no SDK) LoggerProvider: a no-op logger; the call and span are unaffected."""
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=telemetry.tracer_provider, capture_content=ContentMode.EVENT_ONLY)
    try:
        with _openai(openai_stub) as client:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        inst.uninstrument()
    assert CONTENT_KEYS.isdisjoint(attributes_of(telemetry.span()))
    assert telemetry.logs() == []


class _Exploding(LogRecordProcessor):
    def on_emit(self, log_record: Any) -> None:
        raise RuntimeError("processor failed")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def test_emit_failure_never_reaches_the_app(openai_stub: StubOpenAI, telemetry: Telemetry) -> None:
    provider = LoggerProvider()
    provider.add_log_record_processor(_Exploding())
    inst = OpenAIInstrumentor()
    inst.instrument(
        tracer_provider=telemetry.tracer_provider,
        logger_provider=provider,
        capture_content=ContentMode.EVENT_ONLY,
    )
    try:
        with _openai(openai_stub) as client:
            result = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    finally:
        inst.uninstrument()
        provider.shutdown()
    assert result.choices[0].message.content == "Hello from the stub."
    span = telemetry.span()
    assert span.end_time is not None
    assert attributes_of(span)[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stub"


def test_emitter_for_old_logs_api(telemetry: Telemetry) -> None:
    """opentelemetry-api < 1.35 (no ``event_name`` / ``context``): ids explicit, name as event.name."""
    from opentelemetry._logs import get_logger

    tracer = telemetry.tracer_provider.get_tracer("t")
    span = tracer.start_span("s")
    emitter = EventEmitter(get_logger("t", logger_provider=telemetry.logger_provider), modern=False)
    emitter.emit(span, {"k": "v"}, 123)
    span.end()
    log = _event(telemetry).log_record
    assert log.trace_id == span.get_span_context().trace_id
    assert log.span_id == span.get_span_context().span_id
    assert log.timestamp == 123
    assert log.severity_number is SeverityNumber.DEBUG
    assert dict(log.attributes or {}) == {"k": "v", semconv.EVENT_NAME: EVENT}


# -- manual API ----------------------------------------------------------------------------------
def test_manual_llm_call_event_only_with_flush(telemetry: Telemetry) -> None:
    manual.configure(
        tracer_provider=telemetry.tracer_provider,
        logger_provider=telemetry.logger_provider,
        capture_content=ContentMode.EVENT_ONLY,
    )
    try:
        with llm_call(provider="vllm", model="llama") as call:
            call.set_input_messages([{"role": "user", "content": "hi"}])
            call.set_response(response_id="r1", finish_reasons=["stop"])
            assert call.span.is_recording()  # flushes what was collected so far
            call.set_output_messages([{"role": "assistant", "content": "hello"}])
            call.set_usage(input_tokens=3, output_tokens=4)
    finally:
        manual._settings = None
    span = telemetry.span()
    span_attrs = attributes_of(span)
    assert CONTENT_KEYS.isdisjoint(span_attrs)
    event_attrs = _check_event(_event(telemetry), span, "otel_llm.manual")
    assert _without_content(event_attrs) == span_attrs
    assert event_attrs[semconv.GEN_AI_RESPONSE_ID] == "r1"
    assert (event_attrs[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]
    assert (event_attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}
    ]


# -- OpenAI request content extraction (pure) ----------------------------------------------------
def test_openai_tool_definition_shapes() -> None:
    from types import SimpleNamespace

    from otel_llm.openai import extract

    assert extract.chat_tool_definitions({}) == []
    assert extract.chat_tool_definitions({"tools": openai.NOT_GIVEN}) == []
    assert extract.responses_tool_definitions({"tools": openai.omit}) == []
    fn = SimpleNamespace(name="f", description=None, parameters={"type": "object"})
    assert extract.chat_tool_definitions({"tools": [SimpleNamespace(type="function", function=fn)]}) == [
        {"type": "function", "name": "f", "parameters": {"type": "object"}}
    ]
    assert extract.chat_tool_definitions({"tools": [{"function": {"name": "g"}}]}) == [
        {"type": "function", "name": "g"}
    ]
    assert extract.responses_tool_definitions(
        {"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}
    ) == [{"type": "file_search"}]
    assert extract.responses_system_instructions({"instructions": openai.omit}) == []
    assert extract.responses_system_instructions({"instructions": ""}) == []
    assert extract.responses_system_instructions(
        {"instructions": [{"role": "developer", "content": [{"type": "input_text", "text": "Be exact."}]}]}
    ) == [{"type": "text", "content": "Be exact."}]
