"""AnthropicInstrumentor: every patch has an inverse, re-instrumenting works, suppression honoured,
the entry point is registered."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import anthropic
import pytest
import wrapt
from opentelemetry.instrumentation.utils import suppress_instrumentation

from otel_llm.anthropic import AnthropicInstrumentor
from otel_llm.testing import Telemetry
from otel_llm.testing.stub_anthropic import StubAnthropic

REQUEST = {"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def stub() -> Iterator[StubAnthropic]:
    with StubAnthropic() as server:
        yield server


def _wrapped_targets() -> list[str]:
    instrumentor = AnthropicInstrumentor()
    found = []
    for target in instrumentor.targets():
        owner, attr = target.owner()
        if isinstance(
            vars(owner).get(attr) if isinstance(owner, type) else getattr(owner, attr), wrapt.FunctionWrapper
        ):
            found.append(target.key)
    return found


def test_targets_cover_sync_async_stream_and_the_sdk_span() -> None:
    assert [t.key for t in AnthropicInstrumentor().targets()] == [
        "anthropic.resources.messages.messages:Messages.create",
        "anthropic.resources.messages.messages:Messages.parse",
        "anthropic.resources.messages.messages:Messages.stream",
        "anthropic.resources.messages.messages:AsyncMessages.create",
        "anthropic.resources.messages.messages:AsyncMessages.parse",
        "anthropic.resources.messages.messages:AsyncMessages.stream",
        "anthropic.lib.streaming._messages:MessageStreamManager.__init__",
        "anthropic.lib.streaming._messages:AsyncMessageStreamManager.__init__",
        "anthropic.resources.beta.messages.messages:Messages.create",
        "anthropic.resources.beta.messages.messages:Messages.parse",
        "anthropic.resources.beta.messages.messages:Messages.stream",
        "anthropic.resources.beta.messages.messages:AsyncMessages.create",
        "anthropic.resources.beta.messages.messages:AsyncMessages.parse",
        "anthropic.resources.beta.messages.messages:AsyncMessages.stream",
        "anthropic.lib.streaming._beta_messages:BetaMessageStreamManager.__init__",
        "anthropic.lib.streaming._beta_messages:BetaAsyncMessageStreamManager.__init__",
        "anthropic._base_client:start_api_call_span",
    ]


def test_uninstrument_removes_every_wrapper_and_reinstrument_works(stub: StubAnthropic) -> None:
    all_keys = [t.key for t in AnthropicInstrumentor().targets()]
    assert _wrapped_targets() == []
    tel = Telemetry()
    for _ in range(2):
        AnthropicInstrumentor().instrument(tracer_provider=tel.tracer_provider)
        assert _wrapped_targets() == all_keys
        with anthropic.Anthropic(base_url=stub.base_url, api_key="k", max_retries=0) as client:
            client.messages.create(**REQUEST)
            AnthropicInstrumentor().uninstrument()
            assert _wrapped_targets() == []
            client.messages.create(**REQUEST)
    assert len(tel.spans()) == 2
    assert len(stub.requests) == 4


def test_suppressed_instrumentation_makes_no_span(stub: StubAnthropic) -> None:
    tel = Telemetry()
    AnthropicInstrumentor().instrument(tracer_provider=tel.tracer_provider)
    try:
        with anthropic.Anthropic(base_url=stub.base_url, api_key="k", max_retries=0) as client:
            with suppress_instrumentation():
                client.messages.create(**REQUEST)
                with client.messages.stream(**REQUEST) as stream:
                    stream.until_done()
            assert tel.spans() == []
            client.messages.create(**REQUEST)
    finally:
        AnthropicInstrumentor().uninstrument()
    assert len(tel.spans()) == 1


def test_entry_point_registered() -> None:
    (entry,) = [
        e
        for e in importlib.metadata.entry_points(group="opentelemetry_instrumentor")
        if e.name == "otel_llm_anthropic"
    ]
    assert entry.load() is AnthropicInstrumentor
