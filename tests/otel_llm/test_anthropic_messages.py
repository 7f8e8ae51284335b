"""Anthropic instrumentation against the real SDK and the local stub: messages.create (plain and
stream=True), messages.stream(), sync and async, success and failure, the same calls of
beta.messages, and the Vertex AI and Bedrock clients; exact span contents."""

from __future__ import annotations

import gc
import inspect
import json
import socket
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic import AnthropicBedrock, AnthropicVertex, AsyncAnthropicVertex
from anthropic.types import Message
from anthropic.types.beta import BetaMessage
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm.anthropic import AnthropicInstrumentor
from otel_llm.anthropic.extract import provider_for
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_anthropic import ErrorReply, Reply, StubAnthropic, ToolUse, Usage

MODEL = "claude-haiku-4-5"
API_KEY = "sk-ant-api03-secret-do-not-record"
USER = [{"role": "user", "content": "Weather in Paris?"}]
SOURCE = "genai-prices 0.2.3"
TOOL_REPLY = Reply(
    text="Let me check.",
    tools=(ToolUse("get_weather", {"city": "Paris"}),),
    stop_reason="tool_use",
    usage=Usage(input=5, output=6, cache_read=100, cache_creation=20),
)
# claude-haiku-4-5: $1/MTok input, $5 output, $0.10 cache read, $1.25 cache write.
TOOL_REPLY_COST = (5 * 1.0 + 100 * 0.1 + 20 * 1.25 + 6 * 5.0) / 1e6
DEFAULT_COST = (12 * 1.0 + 7 * 5.0) / 1e6


@pytest.fixture
def stub() -> Iterator[StubAnthropic]:
    with StubAnthropic() as server:
        yield server


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    tel = Telemetry()
    AnthropicInstrumentor().instrument(tracer_provider=tel.tracer_provider, meter_provider=tel.meter_provider)
    try:
        yield tel
    finally:
        AnthropicInstrumentor().uninstrument()
        tel.shutdown()


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> Any:
    yield
    while _OPEN:
        closed = _OPEN.pop().close()
        if inspect.isawaitable(closed):  # the async clients (Anthropic's, Vertex's...)
            await closed
    gc.collect()


def _sync(stub: StubAnthropic, **options: Any) -> anthropic.Anthropic:
    options.setdefault("max_retries", 0)
    client = anthropic.Anthropic(base_url=stub.base_url, api_key=API_KEY, **options)
    _OPEN.append(client)
    return client


def _async(stub: StubAnthropic, **options: Any) -> anthropic.AsyncAnthropic:
    options.setdefault("max_retries", 0)
    client = anthropic.AsyncAnthropic(base_url=stub.base_url, api_key=API_KEY, **options)
    _OPEN.append(client)
    return client


def _request(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 64, "messages": USER, **extra}


def _expected(stub: StubAnthropic, *, stream: bool = False, **more: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": stub.port,
        "gen_ai.request.max_tokens": 64,
    }
    if stream:
        attrs["gen_ai.request.stream"] = True
    attrs.update(more)
    return attrs


def _ok_default(stub: StubAnthropic, *, stream: bool = False) -> dict[str, Any]:
    return _expected(
        stub,
        stream=stream,
        **{
            "gen_ai.response.id": "msg_stub_01",
            "gen_ai.response.model": MODEL,
            "gen_ai.response.finish_reasons": ["end_turn"],
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 7,
            "otel_llm.cost.usd": pytest.approx(DEFAULT_COST),
            "otel_llm.cost.source": SOURCE,
        },
    )


def _ok_tool(stub: StubAnthropic, *, stream: bool = False) -> dict[str, Any]:
    return _expected(
        stub,
        stream=stream,
        **{
            "gen_ai.response.id": "msg_stub_01",
            "gen_ai.response.model": MODEL,
            "gen_ai.response.finish_reasons": ["tool_use"],
            "gen_ai.usage.input_tokens": 125,
            "gen_ai.usage.output_tokens": 6,
            "gen_ai.usage.cache_read.input_tokens": 100,
            "gen_ai.usage.cache_creation.input_tokens": 20,
            "otel_llm.cost.usd": pytest.approx(TOOL_REPLY_COST),
            "otel_llm.cost.source": SOURCE,
        },
    )


def _attrs_without_ttft(span: Any) -> dict[str, Any]:
    attrs = attributes_of(span)
    ttft = attrs.pop("gen_ai.response.time_to_first_chunk")
    assert type(ttft) is float and ttft >= 0.0
    return attrs


def _one(telemetry: Telemetry) -> Any:
    span = telemetry.span()
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name == "otel_llm.anthropic"
    return span


# -- messages.create ---------------------------------------------------------------------------
def test_create_sync(stub: StubAnthropic, telemetry: Telemetry) -> None:
    message = _sync(stub).messages.create(
        **_request(stop_sequences=["X"], extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 5})
    )
    assert type(message) is Message and message.content[0].text == "Hello from the stub."  # type: ignore[union-attr]
    span = _one(telemetry)
    assert attributes_of(span) == {
        **_ok_default(stub),
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 5,
        "gen_ai.request.stop_sequences": ["X"],
    }
    assert span.status.status_code is StatusCode.UNSET


async def test_create_async_tool_use_and_cache_tokens(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(TOOL_REPLY)
    message = await _async(stub).messages.create(**_request())
    assert message.stop_reason == "tool_use"
    assert attributes_of(_one(telemetry)) == _ok_tool(stub)


def test_extra_body_values_are_recorded_as_sent(stub: StubAnthropic, telemetry: Telemetry) -> None:
    _sync(stub).messages.create(
        **_request(
            max_tokens=100, stop_sequences=["END"], extra_body={"max_tokens": 200, "stop_sequences": ["STOP"]}
        )
    )
    sent = stub.requests[-1].body
    assert sent is not None and sent["max_tokens"] == 200 and sent["stop_sequences"] == ["STOP"]
    attrs = attributes_of(_one(telemetry))
    assert attrs["gen_ai.request.max_tokens"] == 200
    assert attrs["gen_ai.request.stop_sequences"] == ["STOP"]


async def test_async_create_span_starts_when_awaited(stub: StubAnthropic, telemetry: Telemetry) -> None:
    from opentelemetry.sdk.trace import SpanProcessor

    class Starts(SpanProcessor):
        def __init__(self) -> None:
            self.names: list[str] = []

        def on_start(self, span: Any, parent_context: Any = None) -> None:
            self.names.append(span.name)

    starts = Starts()
    telemetry.tracer_provider.add_span_processor(starts)
    client = _async(stub)
    first = client.messages.create(**_request())
    second = client.messages.create(**_request())
    never = client.messages.create(**_request())
    assert starts.names == []  # nothing runs before the app awaits
    never.close()  # a coroutine never awaited: no request, no span
    tracer = telemetry.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("step"):
        await first
    await second
    spans = {s.name: s for s in telemetry.spans() if s.name == "step"}
    chats = [s for s in telemetry.spans() if s.name == f"chat {MODEL}"]
    assert len(chats) == 2 and len(stub.requests) == 2 and starts.names.count(f"chat {MODEL}") == 2
    # the parent is the span current where the call is awaited, not where it was created
    assert chats[0].parent is not None and chats[0].parent.span_id == spans["step"].context.span_id
    assert chats[1].parent is None
    # each span covers its own request only: the second starts after the first ended
    assert chats[1].start_time >= chats[0].end_time


def test_create_stream_sync(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(TOOL_REPLY)
    stream = _sync(stub).messages.create(**_request(stream=True))
    assert isinstance(stream, anthropic.Stream)
    types = [event.type for event in stream]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert _attrs_without_ttft(_one(telemetry)) == _ok_tool(stub, stream=True)


async def test_create_stream_async(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stream = await _async(stub).messages.create(**_request(stream=True))
    assert isinstance(stream, anthropic.AsyncStream)
    async with stream:
        events = [event async for event in stream]
    assert len(events) == 8
    assert _attrs_without_ttft(_one(telemetry)) == _ok_default(stub, stream=True)


# -- messages.stream() --------------------------------------------------------------------------
def test_stream_manager_sync_text_stream(stub: StubAnthropic, telemetry: Telemetry) -> None:
    client = _sync(stub)
    with client.messages.stream(**_request()) as stream:
        assert telemetry.spans() == []
        assert "".join(stream.text_stream) == "Hello from the stub."
        final = stream.get_final_message()
    assert final.usage.output_tokens == 7
    assert _attrs_without_ttft(_one(telemetry)) == _ok_default(stub, stream=True)


async def test_stream_manager_async_final_message(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(TOOL_REPLY)
    async with _async(stub).messages.stream(**_request()) as stream:
        final = await stream.get_final_message()
    assert final.content[1].type == "tool_use" and final.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert _attrs_without_ttft(_one(telemetry)) == _ok_tool(stub, stream=True)


def test_stream_manager_not_entered_sends_nothing_and_makes_no_span(
    stub: StubAnthropic, telemetry: Telemetry
) -> None:
    manager = _sync(stub).messages.stream(**_request())
    del manager
    gc.collect()
    assert stub.requests == []
    assert telemetry.spans() == []


# -- the app gets the same objects -------------------------------------------------------------
def _run_all(stub: StubAnthropic) -> list[Any]:
    client = _sync(stub)
    stub.script(TOOL_REPLY, TOOL_REPLY, TOOL_REPLY)
    out: list[Any] = [client.messages.create(**_request()).model_dump()]
    out.append([e.model_dump() for e in client.messages.create(**_request(stream=True))])
    with client.messages.stream(**_request()) as stream:
        out.append([e.model_dump() for e in stream])
        out.append(stream.get_final_message().model_dump())
    return out


def test_app_receives_identical_results(stub: StubAnthropic) -> None:
    plain = _run_all(stub)
    tel = Telemetry()
    AnthropicInstrumentor().instrument(tracer_provider=tel.tracer_provider)
    try:
        traced = _run_all(stub)
    finally:
        AnthropicInstrumentor().uninstrument()
    assert traced == plain
    assert len(tel.spans()) == 3


# -- failures ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "exc_type", "error_type"),
    [
        (429, anthropic.RateLimitError, "anthropic.RateLimitError"),
        (500, anthropic.InternalServerError, "anthropic.InternalServerError"),
        (529, anthropic.OverloadedError, "anthropic.OverloadedError"),
    ],
)
def test_create_http_error_sync(
    stub: StubAnthropic, telemetry: Telemetry, status: int, exc_type: type[Exception], error_type: str
) -> None:
    stub.script(ErrorReply(status, retry_after=30.0 if status == 429 else None))
    with pytest.raises(exc_type):
        _sync(stub).messages.create(**_request())
    span = _one(telemetry)
    assert attributes_of(span) == _expected(
        stub, **{"error.type": error_type, "http.response.status_code": status}
    )
    assert span.status.status_code is StatusCode.ERROR


async def test_create_http_error_async_stream(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(ErrorReply(529))
    with pytest.raises(anthropic.OverloadedError):
        await _async(stub).messages.create(**_request(stream=True))
    span = _one(telemetry)
    assert attributes_of(span) == _expected(
        stub, stream=True, **{"error.type": "anthropic.OverloadedError", "http.response.status_code": 529}
    )
    assert span.status.status_code is StatusCode.ERROR


def test_stream_manager_http_error(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(ErrorReply(429))
    with pytest.raises(anthropic.RateLimitError), _sync(stub).messages.stream(**_request()):
        pytest.fail("the block must not run")
    assert attributes_of(_one(telemetry)) == _expected(
        stub, stream=True, **{"error.type": "anthropic.RateLimitError", "http.response.status_code": 429}
    )


def test_retries_make_one_span(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(ErrorReply(429, retry_after=0.001), ErrorReply(529, retry_after=0.001))
    _sync(stub, max_retries=2).messages.create(**_request())
    assert len(stub.requests) == 3
    span = _one(telemetry)
    assert attributes_of(span) == _ok_default(stub)
    assert span.status.status_code is StatusCode.UNSET


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tel = Telemetry()
    AnthropicInstrumentor().instrument(tracer_provider=tel.tracer_provider)
    try:
        with (
            anthropic.Anthropic(
                base_url=f"http://127.0.0.1:{port}", api_key=API_KEY, max_retries=0
            ) as client,
            pytest.raises(anthropic.APIConnectionError),
        ):
            client.messages.create(**_request())
    finally:
        AnthropicInstrumentor().uninstrument()
    span = tel.span()
    assert attributes_of(span)["error.type"] == "anthropic.APIConnectionError"
    assert span.status.status_code is StatusCode.ERROR


def test_connection_dropped_mid_stream(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(Reply(drop_after=4))
    seen: list[str] = []
    with pytest.raises(httpx2.RemoteProtocolError):
        for event in _sync(stub).messages.create(**_request(stream=True)):
            seen.append(event.type)
    assert seen == ["message_start", "content_block_start", "content_block_delta"]
    span = _one(telemetry)
    assert _attrs_without_ttft(span) == _expected(
        stub,
        stream=True,
        **{
            "gen_ai.response.id": "msg_stub_01",
            "gen_ai.response.model": MODEL,
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 1,
            "otel_llm.cost.usd": pytest.approx((12 * 1.0 + 1 * 5.0) / 1e6),
            "otel_llm.cost.source": SOURCE,
            "error.type": "httpx2.RemoteProtocolError",
        },
    )
    assert span.status.status_code is StatusCode.ERROR


async def test_error_event_mid_stream_async(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(Reply(stream_error="overloaded_error", error_after=3))
    async with _async(stub).messages.stream(**_request()) as stream:
        with pytest.raises(anthropic.APIStatusError) as raised:
            await stream.get_final_message()
    assert raised.value.type == "overloaded_error"
    span = _one(telemetry)
    attrs = _attrs_without_ttft(span)
    assert attrs["error.type"] == "anthropic.APIStatusError"
    assert "gen_ai.response.finish_reasons" not in attrs
    assert span.status.status_code is StatusCode.ERROR


# -- the span ends exactly once ----------------------------------------------------------------
def test_stream_closed_early_ends_once(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stream = _sync(stub).messages.create(**_request(stream=True))
    assert next(stream).type == "message_start"
    stream.close()
    stream.close()
    span = _one(telemetry)
    attrs = _attrs_without_ttft(span)
    assert attrs["gen_ai.response.id"] == "msg_stub_01"
    assert "gen_ai.response.finish_reasons" not in attrs and "error.type" not in attrs
    assert span.status.status_code is StatusCode.UNSET


def test_stream_exhausted_then_closed_ends_once(stub: StubAnthropic, telemetry: Telemetry) -> None:
    with _sync(stub).messages.create(**_request(stream=True)) as stream:
        for _ in stream:
            pass
        assert len(telemetry.spans()) == 1
    stream.close()
    assert _attrs_without_ttft(_one(telemetry)) == _ok_default(stub, stream=True)


def test_abandoned_stream_ends_on_gc(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stream = _sync(stub).messages.create(**_request(stream=True))
    next(stream)
    assert telemetry.spans() == []
    del stream
    gc.collect()
    assert _one(telemetry).status.status_code is StatusCode.UNSET


async def test_abandoned_async_stream_manager_ends_on_gc(stub: StubAnthropic, telemetry: Telemetry) -> None:
    manager = _async(stub).messages.stream(**_request())
    stream = await manager.__aenter__()
    await stream.__anext__()
    await stream.close()  # releases the connection; the span must still end exactly once
    del stream, manager
    gc.collect()
    assert len(telemetry.spans()) == 1


# -- secrets, content, metrics -----------------------------------------------------------------
def test_no_api_key_anywhere(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(ErrorReply(401, message=f"invalid x-api-key: {API_KEY}"))
    with pytest.raises(anthropic.AuthenticationError):
        _sync(stub).messages.create(**_request())
    _sync(stub).messages.create(**_request())
    for span in telemetry.spans():
        dumped = json.dumps(attributes_of(span)) + str(span.status.description)
        assert API_KEY not in dumped and "api03" not in dumped
        assert not any("key" in k or "authorization" in k for k in attributes_of(span))


def test_content_capture(stub: StubAnthropic) -> None:
    tel = Telemetry()
    AnthropicInstrumentor().instrument(
        tracer_provider=tel.tracer_provider,
        capture_content=True,
        redact=lambda s: s.replace("Paris", "<city>"),
    )
    try:
        stub.script(TOOL_REPLY, TOOL_REPLY)
        kwargs = _request(
            system="Be brief.",
            tools=[{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
            messages=[
                *USER,
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t0", "name": "x", "input": {}}],
                },
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t0", "content": "ok"}]},
            ],
        )
        client = _sync(stub)
        client.messages.create(**kwargs)
        with client.messages.stream(**kwargs) as stream:
            stream.until_done()
    finally:
        AnthropicInstrumentor().uninstrument()
    plain, streamed = tel.spans()
    for span in (plain, streamed):
        attrs = attributes_of(span)
        assert json.loads(attrs["gen_ai.input.messages"]) == [
            {"role": "user", "parts": [{"type": "text", "content": "Weather in <city>?"}]},
            {"role": "assistant", "parts": [{"type": "tool_call", "id": "t0", "name": "x", "arguments": {}}]},
            {"role": "user", "parts": [{"type": "tool_call_response", "id": "t0", "response": "ok"}]},
        ]
        assert json.loads(attrs["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
        assert json.loads(attrs["gen_ai.tool.definitions"]) == [
            {
                "type": "function",
                "name": "get_weather",
                "description": "Weather",
                "parameters": {"type": "object"},
            }
        ]
        assert json.loads(attrs["gen_ai.output.messages"]) == [
            {
                "role": "assistant",
                "parts": [
                    {"type": "text", "content": "Let me check."},
                    {
                        "type": "tool_call",
                        "id": "toolu_stub_01",
                        "name": "get_weather",
                        "arguments": {"city": "<city>"},
                    },
                ],
                "finish_reason": "tool_use",
            }
        ]


def test_content_off_by_default(stub: StubAnthropic, telemetry: Telemetry) -> None:
    _sync(stub).messages.create(**_request(system="secret system prompt"))
    assert not any(
        k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system"))
        for k in attributes_of(_one(telemetry))
    )


def test_client_metrics(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(TOOL_REPLY)
    _sync(stub).messages.create(**_request())
    tokens = {
        attrs["gen_ai.token.type"]: point.sum
        for attrs, point in telemetry.points("gen_ai.client.token.usage")
    }
    assert tokens == {"input": 125, "output": 6}
    ((attrs, point),) = telemetry.points("gen_ai.client.operation.duration")
    assert point.count == 1
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": stub.port,
    }


# -- raw responses: with_raw_response and with_streaming_response ------------------------------
def test_with_raw_response_fills_the_span_before_parse(stub: StubAnthropic, telemetry: Telemetry) -> None:
    """The body was read already: the span ends with the call, and parse() is still the app's."""
    raw = _sync(stub).messages.with_raw_response.create(**_request())
    assert attributes_of(_one(telemetry)) == _ok_default(stub)
    message = raw.parse()
    assert type(message) is Message and message.usage.input_tokens == 12
    assert raw.parse() is message  # the SDK's cache: our wrapper never parsed it
    assert len(telemetry.spans()) == 1


def test_with_raw_response_stream_ends_with_the_stream(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(TOOL_REPLY)
    raw = _sync(stub).messages.with_raw_response.create(**_request(stream=True))
    assert telemetry.spans() == []  # nothing read yet
    stream = raw.parse()
    assert isinstance(stream, anthropic.Stream)
    assert telemetry.spans() == []
    types = [event.type for event in stream]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert _attrs_without_ttft(_one(telemetry)) == _ok_tool(stub, stream=True)


def test_with_streaming_response_parse(stub: StubAnthropic, telemetry: Telemetry) -> None:
    with _sync(stub).messages.with_streaming_response.create(**_request()) as response:
        assert telemetry.spans() == []  # the body is not read yet
        message = response.parse()
        assert attributes_of(_one(telemetry)) == _ok_default(stub)
    assert type(message) is Message and message.id == "msg_stub_01"
    assert len(telemetry.spans()) == 1


def test_with_streaming_response_read_by_the_app(stub: StubAnthropic, telemetry: Telemetry) -> None:
    """The app reads the body itself: the span ends, with the request attributes, when it closes."""
    with _sync(stub).messages.with_streaming_response.create(**_request()) as response:
        body = json.loads(response.read())
        assert telemetry.spans() == []
    assert body["usage"]["input_tokens"] == 12
    assert attributes_of(_one(telemetry)) == _expected(stub)


def test_with_streaming_response_stream(stub: StubAnthropic, telemetry: Telemetry) -> None:
    with _sync(stub).messages.with_streaming_response.create(**_request(stream=True)) as response:
        stream = response.parse()
        assert isinstance(stream, anthropic.Stream)
        events = list(stream)
    assert len(events) == 8
    assert _attrs_without_ttft(_one(telemetry)) == _ok_default(stub, stream=True)


async def test_with_streaming_response_async(stub: StubAnthropic, telemetry: Telemetry) -> None:
    client = _async(stub)
    async with client.messages.with_streaming_response.create(**_request()) as response:
        message = await response.parse()
    assert type(message) is Message
    async with client.messages.with_streaming_response.create(**_request(stream=True)) as response:
        stream = await response.parse()
        assert isinstance(stream, anthropic.AsyncStream)
        events = [event async for event in stream]
    assert len(events) == 8
    first, second = telemetry.spans()
    assert attributes_of(first) == _ok_default(stub)
    assert _attrs_without_ttft(second) == _ok_default(stub, stream=True)


def test_raw_responses_give_the_app_what_it_gets_uninstrumented(stub: StubAnthropic) -> None:
    def run() -> list[Any]:
        client = _sync(stub)
        out: list[Any] = [client.messages.with_raw_response.create(**_request()).parse().model_dump()]
        with client.messages.with_streaming_response.create(**_request()) as response:
            out.append(response.parse().model_dump())
        with client.messages.with_streaming_response.create(**_request(stream=True)) as response:
            out.append([event.model_dump() for event in response.parse()])
        return out

    plain = run()
    tel = Telemetry()
    AnthropicInstrumentor().instrument(tracer_provider=tel.tracer_provider)
    try:
        assert run() == plain
        assert len(tel.spans()) == 3
    finally:
        AnthropicInstrumentor().uninstrument()
        tel.shutdown()


# -- client.beta.messages: the same calls, the SDK's Beta* objects -------------------------------
BETAS = ["context-management-2025-06-27"]


def _sent_to_beta(stub: StubAnthropic) -> None:
    request = stub.requests[-1]
    assert request.path.split("?")[0] == "/v1/messages"
    assert request.headers["anthropic-beta"] == ",".join(BETAS)


def test_beta_create_stream_and_stream_manager_sync(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(TOOL_REPLY)
    client = _sync(stub)
    message = client.beta.messages.create(**_request(betas=BETAS))
    assert type(message) is BetaMessage and message.stop_reason == "tool_use"
    _sent_to_beta(stub)
    assert attributes_of(_one(telemetry)) == _ok_tool(stub)
    telemetry.clear()
    events = [e.type for e in client.beta.messages.create(**_request(betas=BETAS, stream=True))]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    with client.beta.messages.stream(**_request(betas=BETAS)) as stream:
        assert len(telemetry.spans()) == 1  # this call's span is still open
        assert "".join(stream.text_stream) == "Hello from the stub."
    _sent_to_beta(stub)
    first, second = telemetry.spans()
    assert _attrs_without_ttft(first) == _attrs_without_ttft(second) == _ok_default(stub, stream=True)


async def test_beta_async_create_and_stream_manager(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(Reply(), TOOL_REPLY, ErrorReply(529))
    client = _async(stub)
    assert type(await client.beta.messages.create(**_request(betas=BETAS))) is BetaMessage
    async with client.beta.messages.stream(**_request(betas=BETAS)) as stream:
        final = await stream.get_final_message()
    assert isinstance(final, BetaMessage) and final.content[1].type == "tool_use"
    with pytest.raises(anthropic.OverloadedError):
        await client.beta.messages.create(**_request(betas=BETAS))
    plain, streamed, failed = telemetry.spans()
    assert attributes_of(plain) == _ok_default(stub)
    assert _attrs_without_ttft(streamed) == _ok_tool(stub, stream=True)
    assert attributes_of(failed) == _expected(
        stub, **{"error.type": "anthropic.OverloadedError", "http.response.status_code": 529}
    )


def _run_beta(stub: StubAnthropic) -> list[Any]:
    client = _sync(stub)
    stub.script(TOOL_REPLY, TOOL_REPLY, TOOL_REPLY)
    out: list[Any] = [client.beta.messages.create(**_request(betas=BETAS)).model_dump()]
    out.append([e.model_dump() for e in client.beta.messages.create(**_request(betas=BETAS, stream=True))])
    with client.beta.messages.stream(**_request(betas=BETAS)) as stream:
        out.append([e.model_dump() for e in stream])
        out.append(stream.get_final_message().model_dump())
    return out


def test_beta_app_receives_identical_results(stub: StubAnthropic) -> None:
    plain = _run_beta(stub)
    tel = Telemetry()
    AnthropicInstrumentor().instrument(tracer_provider=tel.tracer_provider)
    try:
        traced = _run_beta(stub)
    finally:
        AnthropicInstrumentor().uninstrument()
    assert traced == plain
    assert len(tel.spans()) == 3


# -- the platform clients: Claude on Vertex AI and on Bedrock -------------------------------------
VERTEX_MODEL = "claude-haiku-4-5@20251001"
BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
BEDROCK_KEY = "bedrock-api-key-do-not-record"
# claude-haiku-4-5 on Vertex AI: $1 / MTok input, $5 output; claude-3-5-haiku on Bedrock: $0.80, $4
VERTEX_COST = (12 * 1.0 + 7 * 5.0) / 1e6
BEDROCK_COST = (12 * 0.8 + 7 * 4.0) / 1e6


def _on_platform(stub: StubAnthropic, provider: str, model: str, cost: float, **more: Any) -> dict[str, Any]:
    return {
        **_ok_default(stub, **more),
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "otel_llm.cost.usd": pytest.approx(cost),
    }


def _vertex(stub: StubAnthropic, client_type: Any = AnthropicVertex) -> Any:
    client = client_type(
        region="us-east5", project_id="proj", access_token="ya29.token", base_url=stub.base_url, max_retries=0
    )
    _OPEN.append(client)
    return client


def test_vertex_create_and_stream(stub: StubAnthropic, telemetry: Telemetry) -> None:
    client = _vertex(stub)
    message = client.messages.create(**_request(model=VERTEX_MODEL))
    assert message.content[0].text == "Hello from the stub."
    with client.messages.stream(**_request(model=VERTEX_MODEL)) as stream:
        assert "".join(stream.text_stream) == "Hello from the stub."
    models = f"/projects/proj/locations/us-east5/publishers/anthropic/models/{VERTEX_MODEL}"
    assert [r.path for r in stub.requests] == [f"{models}:rawPredict", f"{models}:streamRawPredict"]
    plain, streamed = telemetry.spans()
    assert plain.name == streamed.name == f"chat {VERTEX_MODEL}"
    assert attributes_of(plain) == _on_platform(stub, "gcp.vertex_ai", VERTEX_MODEL, VERTEX_COST)
    assert _attrs_without_ttft(streamed) == _on_platform(
        stub, "gcp.vertex_ai", VERTEX_MODEL, VERTEX_COST, stream=True
    )


async def test_async_vertex(stub: StubAnthropic, telemetry: Telemetry) -> None:
    await _vertex(stub, AsyncAnthropicVertex).messages.create(**_request(model=VERTEX_MODEL))
    assert attributes_of(telemetry.span()) == _on_platform(stub, "gcp.vertex_ai", VERTEX_MODEL, VERTEX_COST)


def test_bedrock_create_records_no_key(stub: StubAnthropic, telemetry: Telemetry) -> None:
    client = AnthropicBedrock(
        aws_region="us-east-1", api_key=BEDROCK_KEY, base_url=stub.base_url, max_retries=0
    )
    _OPEN.append(client)
    client.messages.create(**_request(model=BEDROCK_MODEL))
    request = stub.requests[-1]
    assert request.path == f"/model/{BEDROCK_MODEL}/invoke"
    assert request.headers["authorization"] == f"Bearer {BEDROCK_KEY}"
    span = telemetry.span()
    assert span.name == f"chat {BEDROCK_MODEL}"
    assert attributes_of(span) == _on_platform(stub, "aws.bedrock", BEDROCK_MODEL, BEDROCK_COST)
    assert all(BEDROCK_KEY not in str(v) for v in attributes_of(span).values())


def test_provider_names_of_client_classes() -> None:
    class OldBedrock:  # an SDK release that does not declare the name: known by its class
        pass

    OldBedrock.__name__ = "AnthropicBedrock"

    class Subclassed(anthropic.Anthropic):
        pass

    assert provider_for(object.__new__(anthropic.Anthropic)) == "anthropic"
    assert provider_for(object.__new__(Subclassed)) == "anthropic"
    assert provider_for(object.__new__(AnthropicVertex)) == "gcp.vertex_ai"
    assert provider_for(object.__new__(AsyncAnthropicVertex)) == "gcp.vertex_ai"
    assert provider_for(object.__new__(AnthropicBedrock)) == "aws.bedrock"
    assert provider_for(OldBedrock()) == "aws.bedrock"
    assert provider_for(None) == "anthropic"
