"""The anthropic SDK's own spans (scope com.anthropic.sdk.python): by default exactly one LLM span
per call, ours; the SDK's spans kept when the user explicitly asked for them; untouched when we are
not instrumented."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry import trace
from opentelemetry.util._once import Once

from otel_llm.anthropic import AnthropicInstrumentor
from otel_llm.testing import Telemetry
from otel_llm.testing.stub_anthropic import StubAnthropic

MODEL = "claude-haiku-4-5"
OURS = "otel_llm.anthropic"
SDK = "com.anthropic.sdk.python"
REQUEST: dict[str, Any] = {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def stub() -> Iterator[StubAnthropic]:
    with StubAnthropic() as server:
        yield server


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    """A Telemetry whose provider is also the global one, which the SDK's own spans use."""
    for name in ("ANTHROPIC_OPEN_TELEMETRY", "ANTHROPIC_OPEN_TELEMETRY_PROPAGATION"):
        monkeypatch.delenv(name, raising=False)
    tel = Telemetry()
    saved = (trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE)
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    trace.set_tracer_provider(tel.tracer_provider)
    try:
        yield tel
    finally:
        if AnthropicInstrumentor().is_instrumented_by_opentelemetry:
            AnthropicInstrumentor().uninstrument()
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = saved
        tel.shutdown()
        gc.collect()


def _scoped(tel: Telemetry, scope: str) -> list[Any]:
    return [
        s
        for s in tel.spans()
        if s.instrumentation_scope is not None and s.instrumentation_scope.name == scope
    ]


def _call(stub: StubAnthropic, **options: Any) -> None:
    """One non-streaming and one messages.stream() call with a fresh client."""
    with anthropic.Anthropic(base_url=stub.base_url, api_key="k", max_retries=0, **options) as client:
        client.messages.create(**REQUEST)
        with client.messages.stream(**REQUEST) as stream:
            stream.until_done()


def _traceparent_span_ids(stub: StubAnthropic) -> list[str | None]:
    return [
        r.headers["traceparent"].split("-")[2] if "traceparent" in r.headers else None for r in stub.requests
    ]


def test_not_instrumented_the_sdk_span_is_the_only_one(stub: StubAnthropic, telemetry: Telemetry) -> None:
    _call(stub)
    sdk = _scoped(telemetry, SDK)
    assert [s.name for s in sdk] == ["anthropic.messages.create"] * 2
    assert _scoped(telemetry, OURS) == []
    assert _traceparent_span_ids(stub) == [format(s.context.span_id, "016x") for s in sdk]


def test_default_exactly_one_llm_span_ours(stub: StubAnthropic, telemetry: Telemetry) -> None:
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    _call(stub)
    ours = _scoped(telemetry, OURS)
    assert [s.name for s in ours] == [f"chat {MODEL}"] * 2
    assert _scoped(telemetry, SDK) == []
    assert len(telemetry.spans()) == 2
    # The SDK's propagation (on by default) still sends a traceparent: now our span's.
    assert _traceparent_span_ids(stub) == [format(s.context.span_id, "016x") for s in ours]


def test_beta_messages_exactly_one_llm_span_ours(stub: StubAnthropic, telemetry: Telemetry) -> None:
    # The SDK names its span of beta.messages calls anthropic.messages.create too: replaced alike.
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    with anthropic.Anthropic(base_url=stub.base_url, api_key="k", max_retries=0) as client:
        client.beta.messages.create(**REQUEST, betas=["context-management-2025-06-27"])
        with client.beta.messages.stream(**REQUEST) as stream:
            stream.until_done()
    ours = _scoped(telemetry, OURS)
    assert [s.name for s in ours] == [f"chat {MODEL}"] * 2
    assert len(telemetry.spans()) == 2
    assert _traceparent_span_ids(stub) == [format(s.context.span_id, "016x") for s in ours]


def test_uninstrument_restores_the_sdk_span_exactly(stub: StubAnthropic, telemetry: Telemetry) -> None:
    _call(stub)
    before = [(s.name, sorted((s.attributes or {}).keys())) for s in _scoped(telemetry, SDK)]
    telemetry.clear()
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    AnthropicInstrumentor().uninstrument()
    _call(stub)
    assert [(s.name, sorted((s.attributes or {}).keys())) for s in telemetry.spans()] == before


def test_sdk_disabled_by_env_ours_only_no_traceparent(
    stub: StubAnthropic, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "false")
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    _call(stub)
    assert len(_scoped(telemetry, OURS)) == 2
    assert _scoped(telemetry, SDK) == []
    # As without us: the SDK with its telemetry off sends no trace context.
    assert _traceparent_span_ids(stub) == [None, None]


def test_sdk_propagation_off_is_honoured(stub: StubAnthropic, telemetry: Telemetry) -> None:
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    _call(stub, open_telemetry={"propagation": False})
    assert len(_scoped(telemetry, OURS)) == 2
    assert _scoped(telemetry, SDK) == []
    assert _traceparent_span_ids(stub) == [None, None]


def _assert_both_nested(telemetry: Telemetry) -> None:
    ours = _scoped(telemetry, OURS)
    sdk = _scoped(telemetry, SDK)
    assert len(ours) == 2 and len(sdk) == 2
    for parent, child in zip(ours, sdk, strict=True):
        assert child.parent is not None and child.parent.span_id == parent.context.span_id


def test_explicit_env_true_keeps_the_sdk_span(
    stub: StubAnthropic, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY", "true")
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    _call(stub)
    _assert_both_nested(telemetry)


def test_keep_sdk_spans_keyword(stub: StubAnthropic, telemetry: Telemetry) -> None:
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider, keep_sdk_spans=True)
    _call(stub)
    _assert_both_nested(telemetry)


def test_client_with_its_own_tracer_provider_keeps_the_sdk_span(
    stub: StubAnthropic, telemetry: Telemetry
) -> None:
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    _call(stub, open_telemetry={"tracer_provider": telemetry.tracer_provider})
    _assert_both_nested(telemetry)


async def test_async_stream_default_ours_only(stub: StubAnthropic, telemetry: Telemetry) -> None:
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    async with anthropic.AsyncAnthropic(base_url=stub.base_url, api_key="k", max_retries=0) as client:
        stream = await client.messages.create(**REQUEST, stream=True)
        async for _ in stream:
            pass
        async with client.messages.stream(**REQUEST) as managed:
            await managed.until_done()
    assert len(_scoped(telemetry, OURS)) == 2
    assert _scoped(telemetry, SDK) == []


def test_other_endpoints_keep_their_sdk_span(stub: StubAnthropic, telemetry: Telemetry) -> None:
    AnthropicInstrumentor().instrument(tracer_provider=telemetry.tracer_provider)
    with (
        anthropic.Anthropic(base_url=stub.base_url, api_key="k", max_retries=0) as client,
        pytest.raises(anthropic.NotFoundError),  # the stub has no count_tokens route
    ):
        client.messages.count_tokens(model=MODEL, messages=REQUEST["messages"])
    assert [s.name for s in _scoped(telemetry, SDK)] == ["anthropic.messages.count_tokens"]
    assert _scoped(telemetry, OURS) == []
