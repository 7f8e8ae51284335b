"""Checks the OTLP/JSON of representative Anthropic spans against tests/testdata/otlp/otel_llm_anthropic_*.json,
the fixtures the processor's tests read, so the two halves cannot drift apart (compared by structure;
``OTEL_LLM_REWRITE_FIXTURES=1`` rewrites them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_llm.anthropic import AnthropicInstrumentor
from otel_llm.testing.fixtures import check_fixture, spans_to_otlp_json
from otel_llm.testing.stub_anthropic import ErrorReply, Reply, StubAnthropic, ToolUse, Usage

OUT = Path(__file__).parents[1] / "testdata" / "otlp"
REQUEST: dict[str, Any] = {
    "model": "claude-haiku-4-5",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Weather in Paris?"}],
}
TOOL_REPLY = Reply(
    text="Let me check.",
    tools=(ToolUse("get_weather", {"city": "Paris"}),),
    stop_reason="tool_use",
    usage=Usage(input=5, output=6, cache_read=100, cache_creation=20),
)


def _create(client: anthropic.Anthropic) -> None:
    client.messages.create(**REQUEST, extra_body={"temperature": 0.5})


def _stream(client: anthropic.Anthropic) -> None:
    with client.messages.stream(**REQUEST) as stream:
        stream.until_done()


def _error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(**REQUEST)


@pytest.fixture
def stub() -> Iterator[StubAnthropic]:
    with StubAnthropic() as server:
        yield server


@pytest.mark.parametrize(
    ("name", "reply", "run"),
    [
        ("chat_tool_cache", TOOL_REPLY, _create),
        ("stream", Reply(), _stream),
        ("error_429", ErrorReply(429, retry_after=30.0), _error),
    ],
)
def test_write_fixture(
    stub: StubAnthropic, name: str, reply: Reply | ErrorReply, run: Callable[[anthropic.Anthropic], None]
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-llm-anthropic-fixture"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    AnthropicInstrumentor().instrument(tracer_provider=provider)
    try:
        stub.script(reply)
        with anthropic.Anthropic(base_url=stub.base_url, api_key="sk-ant-fixture", max_retries=0) as client:
            run(client)
    finally:
        AnthropicInstrumentor().uninstrument()
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat claude-haiku-4-5"]
    check_fixture(OUT / f"otel_llm_anthropic_{name}.json", spans_to_otlp_json(spans))
