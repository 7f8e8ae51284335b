"""``client.beta.messages`` (beta features: ``betas=[...]``, MCP servers, context management...) is
instrumented as ``client.messages`` is: one span ``chat {model}`` per create / stream=True /
stream() call, sync and async, with the SDK's own span replaced by ours and the app's objects
(Beta* types) unchanged. Real SDK against the local stub (the beta header on ``/v1/messages``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic.types.beta import BetaMessage
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once

from otel_llm.anthropic import AnthropicInstrumentor
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_anthropic import ErrorReply, Reply, StubAnthropic, ToolUse, Usage

MODEL = "claude-haiku-4-5"
OURS = "otel_llm.anthropic"
BETAS = ["context-management-2025-06-27"]
REQUEST: dict[str, Any] = {
    "model": MODEL,
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Weather in Paris?"}],
    "betas": BETAS,
}
TOOL_REPLY = Reply(
    text="Let me check.",
    tools=(ToolUse("get_weather", {"city": "Paris"}),),
    stop_reason="tool_use",
    usage=Usage(input=5, output=6, cache_read=100, cache_creation=20),
)
# claude-haiku-4-5: $1/MTok input, $5 output, $0.10 cache read, $1.25 cache write.
TOOL_COST = (5 * 1.0 + 100 * 0.1 + 20 * 1.25 + 6 * 5.0) / 1e6
DEFAULT_COST = (12 * 1.0 + 7 * 5.0) / 1e6


@pytest.fixture
def stub() -> Iterator[StubAnthropic]:
    with StubAnthropic() as server:
        yield server


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    """Ours instrumented, on a provider that is also the global one (the SDK's own spans use it)."""
    for name in ("ANTHROPIC_OPEN_TELEMETRY", "ANTHROPIC_OPEN_TELEMETRY_PROPAGATION"):
        monkeypatch.delenv(name, raising=False)
    tel = Telemetry()
    saved = (trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE)
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    trace.set_tracer_provider(tel.tracer_provider)
    AnthropicInstrumentor().instrument(tracer_provider=tel.tracer_provider)
    try:
        yield tel
    finally:
        AnthropicInstrumentor().uninstrument()
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = saved
        tel.shutdown()
        gc.collect()


def _expected(stub: StubAnthropic, *, stream: bool = False, tool: bool = False) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": stub.port,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.response.id": "msg_stub_01",
        "gen_ai.response.model": MODEL,
        "otel_llm.cost.source": "genai-prices 0.2.3",
    }
    if stream:
        attrs["gen_ai.request.stream"] = True
    if tool:
        attrs.update(
            {
                "gen_ai.response.finish_reasons": ["tool_use"],
                "gen_ai.usage.input_tokens": 125,
                "gen_ai.usage.output_tokens": 6,
                "gen_ai.usage.cache_read.input_tokens": 100,
                "gen_ai.usage.cache_creation.input_tokens": 20,
                "otel_llm.cost.usd": pytest.approx(TOOL_COST),
            }
        )
    else:
        attrs.update(
            {
                "gen_ai.response.finish_reasons": ["end_turn"],
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 7,
                "otel_llm.cost.usd": pytest.approx(DEFAULT_COST),
            }
        )
    return attrs


def _only_ours(telemetry: Telemetry, count: int = 1) -> list[Any]:
    """The finished spans: ``count`` of ours and nothing else (the SDK's own span replaced)."""
    spans = telemetry.spans()
    assert [(s.name, s.instrumentation_scope.name) for s in spans] == [(f"chat {MODEL}", OURS)] * count
    assert all(s.kind is SpanKind.CLIENT for s in spans)
    return spans


def _without_ttft(span: Any) -> dict[str, Any]:
    attrs = attributes_of(span)
    ttft = attrs.pop("gen_ai.response.time_to_first_chunk")
    assert type(ttft) is float and ttft >= 0.0
    return attrs


def _sent_to_beta(stub: StubAnthropic) -> None:
    request = stub.requests[-1]
    assert request.path.split("?")[0] == "/v1/messages"
    assert request.headers["anthropic-beta"] == ",".join(BETAS)


def test_beta_create_sync(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(TOOL_REPLY)
    with anthropic.Anthropic(base_url=stub.base_url, api_key="k", max_retries=0) as client:
        message = client.beta.messages.create(**REQUEST)
    assert type(message) is BetaMessage and message.stop_reason == "tool_use"
    _sent_to_beta(stub)
    (span,) = _only_ours(telemetry)
    assert attributes_of(span) == _expected(stub, tool=True)
    # the request carried our span's context (the SDK's propagation, its span replaced)
    assert stub.requests[-1].headers["traceparent"].split("-")[2] == format(span.context.span_id, "016x")


def test_beta_create_stream_and_stream_manager_sync(stub: StubAnthropic, telemetry: Telemetry) -> None:
    with anthropic.Anthropic(base_url=stub.base_url, api_key="k", max_retries=0) as client:
        events = [e.type for e in client.beta.messages.create(**REQUEST, stream=True)]
        assert events[0] == "message_start" and events[-1] == "message_stop"
        _sent_to_beta(stub)
        assert len(telemetry.spans()) == 1
        with client.beta.messages.stream(**REQUEST) as stream:
            assert len(telemetry.spans()) == 1  # this call's span is open
            assert "".join(stream.text_stream) == "Hello from the stub."
        _sent_to_beta(stub)
    first, second = _only_ours(telemetry, 2)
    assert _without_ttft(first) == _without_ttft(second) == _expected(stub, stream=True)


async def test_beta_async_create_and_stream_manager(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(Reply(), TOOL_REPLY)
    async with anthropic.AsyncAnthropic(base_url=stub.base_url, api_key="k", max_retries=0) as client:
        message = await client.beta.messages.create(**REQUEST)
        assert type(message) is BetaMessage
        async with client.beta.messages.stream(**REQUEST) as stream:
            final = await stream.get_final_message()
        assert isinstance(final, BetaMessage) and final.content[1].type == "tool_use"
    plain, streamed = _only_ours(telemetry, 2)
    assert attributes_of(plain) == _expected(stub)
    assert _without_ttft(streamed) == _expected(stub, stream=True, tool=True)


def test_beta_http_error(stub: StubAnthropic, telemetry: Telemetry) -> None:
    stub.script(ErrorReply(529))
    with (
        anthropic.Anthropic(base_url=stub.base_url, api_key="k", max_retries=0) as client,
        pytest.raises(anthropic.OverloadedError),
    ):
        client.beta.messages.create(**REQUEST)
    (span,) = _only_ours(telemetry)
    assert attributes_of(span) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": MODEL,
        "server.address": "127.0.0.1",
        "server.port": stub.port,
        "gen_ai.request.max_tokens": 64,
        "error.type": "anthropic.OverloadedError",
        "http.response.status_code": 529,
    }
    assert span.status.status_code is StatusCode.ERROR


def _beta_calls(stub: StubAnthropic) -> list[Any]:
    stub.script(TOOL_REPLY, TOOL_REPLY, TOOL_REPLY)
    with anthropic.Anthropic(base_url=stub.base_url, api_key="k", max_retries=0) as client:
        out: list[Any] = [client.beta.messages.create(**REQUEST).model_dump()]
        out.append([e.model_dump() for e in client.beta.messages.create(**REQUEST, stream=True)])
        with client.beta.messages.stream(**REQUEST) as stream:
            out.append([e.model_dump() for e in stream])
            out.append(stream.get_final_message().model_dump())
    return out


def test_beta_app_receives_identical_results_and_uninstrument_restores(
    stub: StubAnthropic, telemetry: Telemetry
) -> None:
    traced = _beta_calls(stub)
    assert len(_only_ours(telemetry, 3)) == 3
    AnthropicInstrumentor().uninstrument()
    telemetry.clear()
    plain = _beta_calls(stub)
    assert plain == traced
    # uninstrumented: only the SDK's own spans are left
    assert {s.instrumentation_scope.name for s in telemetry.spans()} == {"com.anthropic.sdk.python"}
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)  # for the fixture
