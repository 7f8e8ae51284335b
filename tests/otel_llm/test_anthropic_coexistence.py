"""otel_llm beside OpenLLMetry's Anthropic instrumentation (``opentelemetry-instrumentation-anthropic``
0.62.4), with the real peer package and the real SDK. Observed and asserted here (docs/coexistence.md
reports it):

- every call gives two LLM spans, ours and theirs. Theirs is never made current (their wrapper
  starts it without attaching it), so only when ours is outside theirs (they instrumented first)
  of a ``create`` call, plain or ``stream=True``, is theirs our child; otherwise each is the root
  of its own trace (also for ``messages.stream()``, where theirs starts at ``stream()`` and ours
  when the manager is entered);
- our span's attributes are exactly those we record alone, and the SDK's own span stays replaced;
- the app gets the same objects and events as without any instrumentation;
- ``uninstrument()`` of ours leaves theirs working, whichever instrumented first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from otel_llm import semconv
from otel_llm.anthropic import AnthropicInstrumentor
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_anthropic import StubAnthropic

OURS = "otel_llm.anthropic"
THEIRS = "opentelemetry.instrumentation.anthropic"
REQUEST: dict[str, Any] = {
    "model": "claude-haiku-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}
KINDS = ["create", "stream", "manager"]


@pytest.fixture
def stub() -> Iterator[StubAnthropic]:
    with StubAnthropic() as server:
        yield server


class Both:
    """Ours and OpenLLMetry's on one in-memory TracerProvider; both uninstrumented at teardown."""

    def __init__(self, telemetry: Telemetry) -> None:
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as Theirs

        self.telemetry = telemetry
        self.ours = AnthropicInstrumentor()
        self.theirs = Theirs()

    def instrument(self, *order: str) -> None:
        for who in order:
            (self.ours if who == "ours" else self.theirs).instrument(
                tracer_provider=self.telemetry.tracer_provider
            )

    def uninstrument_all(self) -> None:
        for inst in (self.ours, self.theirs):
            if inst.is_instrumented_by_opentelemetry:
                inst.uninstrument()


@pytest.fixture
def both(telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch) -> Iterator[Both]:
    monkeypatch.delenv("ANTHROPIC_OPEN_TELEMETRY", raising=False)
    b = Both(telemetry)
    yield b
    b.uninstrument_all()


def _call(stub: StubAnthropic, kind: str) -> Any:
    """What the app sees: the message, the events, or the manager's events and final message."""
    with anthropic.Anthropic(base_url=stub.base_url, api_key="sk-ant-x", max_retries=0) as client:
        if kind == "create":
            return client.messages.create(**REQUEST).model_dump()
        if kind == "stream":
            return [event.model_dump() for event in client.messages.create(**REQUEST, stream=True)]
        with client.messages.stream(**REQUEST) as stream:
            events = [event.model_dump() for event in stream]
            return events, stream.get_final_message().model_dump()


def _without_ttft(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k != semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK}


def _by_scope(telemetry: Telemetry) -> dict[str, Any]:
    spans = telemetry.spans()
    scopes = {s.instrumentation_scope.name: s for s in spans if s.instrumentation_scope is not None}
    assert len(scopes) == len(spans), [(s.name, s.instrumentation_scope) for s in spans]
    return scopes


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("order", ["ours_first", "peer_first"])
def test_two_spans_ours_unchanged(stub: StubAnthropic, both: Both, order: str, kind: str) -> None:
    plain = _call(stub, kind)
    both.instrument("ours")
    assert _call(stub, kind) == plain
    alone = attributes_of(both.telemetry.span())
    both.ours.uninstrument()
    both.telemetry.clear()

    both.instrument(*(("ours", "peer") if order == "ours_first" else ("peer", "ours")))
    assert _call(stub, kind) == plain  # the app's objects and events are untouched
    scopes = _by_scope(both.telemetry)
    assert sorted(scopes) == sorted([OURS, THEIRS])  # one LLM span each, no SDK span
    ours, theirs = scopes[OURS], scopes[THEIRS]
    assert ours.parent is None
    if order == "peer_first" and kind != "manager":  # ours outside theirs: theirs is our child
        assert theirs.parent is not None and theirs.parent.span_id == ours.context.span_id
    else:
        # OpenLLMetry never makes its span current, so ours inside it starts a trace of its own;
        # and messages.stream() starts theirs at stream(), ours when the manager is entered.
        assert theirs.parent is None and theirs.context.trace_id != ours.context.trace_id
    assert theirs.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert semconv.OTEL_LLM_COST_USD not in theirs.attributes
    mine = attributes_of(ours)
    assert _without_ttft(mine) == _without_ttft(alone)
    assert mine[semconv.OTEL_LLM_COST_USD] > 0
    assert (semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in mine) is (kind != "create")


@pytest.mark.parametrize("order", ["ours_first", "peer_first"])
def test_uninstrument_ours_leaves_theirs_working(stub: StubAnthropic, both: Both, order: str) -> None:
    both.instrument(*(("ours", "peer") if order == "ours_first" else ("peer", "ours")))
    both.ours.uninstrument()
    for kind in KINDS:
        both.telemetry.clear()
        _call(stub, kind)
        assert [s.instrumentation_scope.name for s in both.telemetry.spans()] == [THEIRS]
