"""Fixtures for the instrumentation tests: in-memory telemetry, the OpenAI stub server, and an
instrumented OpenAI SDK (uninstrumented again after each test)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from otel_llm._core import sdk_attributes
from otel_llm._core.tokens import TokenCounter
from otel_llm.testing import Telemetry
from otel_llm.testing.stub_openai import StubOpenAI

_SCALARS = (str, int, float, bool)


def _vouched_for(key: Any, value: Any) -> bool:
    if type(key) is not str or not key:
        return False
    if type(value) in _SCALARS:
        return True
    return type(value) is tuple and all(type(item) in _SCALARS for item in value)


@pytest.fixture(autouse=True)
def typed_attributes() -> Iterator[None]:
    """Every test checks the promise behind ``set_attributes(..., check=keys)``: each item not
    listed was built typed by us (a non-empty str key; a str/int/float/bool value or a tuple of
    those), so skipping its cleaning stores what the SDK would."""
    broken: list[tuple[Any, Any]] = []

    def verify(attributes: Mapping[str, Any], check: list[str]) -> None:
        listed = set(check)
        broken.extend((k, v) for k, v in attributes.items() if k not in listed and not _vouched_for(k, v))

    sdk_attributes.verify_hook = verify
    try:
        yield
    finally:
        sdk_attributes.verify_hook = None
    assert not broken, f"attributes written unchecked but not built typed: {broken}"


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
