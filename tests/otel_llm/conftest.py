"""Fixtures for the instrumentation tests: in-memory telemetry, the OpenAI stub server, and an
instrumented OpenAI SDK (uninstrumented again after each test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_llm._core.tokens import TokenCounter
from otel_llm.testing import Telemetry
from otel_llm.testing.stub_openai import StubOpenAI


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    tel = Telemetry()
    yield tel
    tel.shutdown()


@pytest.fixture
def stub() -> Iterator[StubOpenAI]:
    with StubOpenAI() as server:
        yield server


@pytest.fixture
def heuristic_tokens() -> TokenCounter:
    """A token counter that never loads tiktoken (deterministic estimates)."""
    return TokenCounter(loader=None)


@pytest.fixture
def instrument_openai(telemetry: Telemetry, heuristic_tokens: TokenCounter) -> Iterator[object]:
    """Call with extra instrument() kwargs; uninstruments at teardown."""
    from otel_llm.openai import OpenAIInstrumentor

    inst = OpenAIInstrumentor()

    def _instrument(**kwargs: object) -> OpenAIInstrumentor:
        params: dict[str, object] = {
            "tracer_provider": telemetry.tracer_provider,
            "meter_provider": telemetry.meter_provider,
            "token_counter": heuristic_tokens,
        }
        params.update(kwargs)
        inst.instrument(**params)
        return inst

    yield _instrument
    if inst.is_instrumented_by_opentelemetry:
        inst.uninstrument()
