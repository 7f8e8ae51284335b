"""Writes/checks the OTLP JSON fixtures of our OpenAI spans that the processor's tests consume.

The fixtures in tests/testdata/otlp/otel_llm_openai_*.json are regenerated from real SDK calls on
every run and compared by structure (span names, kinds, status codes, attribute keys and value
types) with the committed files, so the instrumentation and the processor cannot drift apart.
Set OTEL_LLM_REWRITE_FIXTURES=1 to rewrite them after an intended change.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from otel_llm import semconv
from otel_llm._core.tokens import TokenCounter
from otel_llm.openai import OpenAIInstrumentor
from otel_llm.testing.fixtures import check_fixture, spans_to_otlp_json
from otel_llm.testing.stub_openai import Reply, StubOpenAI, ToolCall

FIXTURES = Path(__file__).resolve().parents[1] / "testdata" / "otlp"
BASE_TIME = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]


class SequentialIds(IdGenerator):
    def __init__(self) -> None:
        self.trace = 0x0AF7651916CD43DD8448EB211C80319C
        self.span = 0x00F067AA0BA902B7

    def generate_trace_id(self) -> int:
        self.trace += 1
        return self.trace

    def generate_span_id(self) -> int:
        self.span += 1
        return self.span


def _chat(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, max_tokens=200)


def _stream(client: openai.OpenAI) -> None:
    for _ in client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ):
        pass


def _stream_estimated(client: openai.OpenAI) -> None:
    for _ in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
        pass


def _error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="stub-error-429", messages=MESSAGES)


def _embeddings(client: openai.OpenAI) -> None:
    client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])


def _tool_call(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=tools)


def _text_completion(client: openai.OpenAI) -> None:
    for _ in client.completions.create(
        model="gpt-3.5-turbo-instruct",
        prompt="The weather in Paris is",
        max_tokens=16,
        stream=True,
        stream_options={"include_usage": True},
    ):
        pass


SCENARIOS: dict[str, tuple[Callable[[openai.OpenAI], None], Reply | None]] = {
    "chat": (_chat, None),
    "stream": (_stream, Reply(prompt_tokens=14, completion_tokens=9)),
    "stream_estimated": (_stream_estimated, None),
    "error": (_error, None),
    "embeddings": (_embeddings, Reply(prompt_tokens=2)),
    "text_completion": (_text_completion, Reply(prompt_tokens=6, completion_tokens=5)),
    "tool_call": (
        _tool_call,
        Reply(
            text="",
            tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),),
            prompt_tokens=1200,
            cached_tokens=1024,
            completion_tokens=18,
        ),
    ),
}


def _normalise(spans: list[Any]) -> list[Any]:
    """Fixed times, port and time-to-first-chunk so the committed files are stable."""
    out = []
    for i, span in enumerate(spans):
        attrs = dict(span.attributes or {})
        if semconv.SERVER_PORT in attrs:
            attrs[semconv.SERVER_PORT] = 8001
        if semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attrs:
            attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = 0.125
        start = BASE_TIME + i * 1_000_000_000
        span._attributes = attrs  # a finished ReadableSpan: rewriting its copy before encoding
        span._start_time = start
        span._end_time = start + 250_000_000
        out.append(span)
    return out


def _generate(name: str, stub: StubOpenAI) -> dict[str, Any]:
    run, reply = SCENARIOS[name]
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource({"service.name": "otel-llm-fixtures"}), id_generator=SequentialIds()
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=provider, token_counter=TokenCounter(loader=None))
    try:
        if reply is not None:
            stub.enqueue(reply)
        with openai.OpenAI(base_url=stub.url, api_key="sk-fixture", max_retries=0) as client:
            run(client)
    finally:
        inst.uninstrument()
    return spans_to_otlp_json(_normalise(list(exporter.get_finished_spans())))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fixture_matches_committed_structure(name: str, stub: StubOpenAI) -> None:
    check_fixture(FIXTURES / f"otel_llm_openai_{name}.json", _generate(name, stub))
