"""otel_llm beside another OpenAI instrumentation, with the real peer packages and the real SDK.

Peers: OpenLLMetry (``opentelemetry-instrumentation-openai`` 0.62.4) and the official contrib
``opentelemetry-instrumentation-openai-v2`` 2.4b0. Both wrap ``Completions.create`` with wrapt, as
we do; the instrumentor that runs ``instrument()`` last holds the outermost wrapper. Observed and
asserted here (docs/coexistence.md reports it):

- every call gives two LLM spans, one per instrumentation scope; the outer one is the parent of the
  inner one (same trace); both carry the same token counts, so a backend that sums spans doubles;
- our span's attributes are exactly those we record when alone;
- the app gets the same response object / the same chunks as without any instrumentation;
- ``uninstrument()`` of ours leaves the peer's spans intact, whichever instrumented first (we remove
  exactly our wrapper from the chain);
- ours outside contrib's stream wrapper (no ``openai.Stream``) still proxies the stream and records
  response, usage, cost and TTFT; contrib restoring, at stream end, the context it saw inside our
  call leaves neither our span current nor our in-call marker set.
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_llm import semconv
from otel_llm.openai import OpenAIInstrumentor
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_openai import StubOpenAI

MODEL = "gpt-4o-mini"
MESSAGES: Any = [{"role": "user", "content": "Say hello."}]
OURS = "otel_llm.openai"


@dataclass(frozen=True)
class Peer:
    name: str
    module: str
    scope: str
    span_name: str


PEERS = {
    "openllmetry": Peer(
        "openllmetry",
        "opentelemetry.instrumentation.openai",
        "opentelemetry.instrumentation.openai.v1",
        "openai.chat",
    ),
    "contrib_v2": Peer(
        "contrib_v2",
        "opentelemetry.instrumentation.openai_v2",
        "opentelemetry.util.genai.handler",
        f"chat {MODEL}",
    ),
}


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """OpenLLMetry 0.62 defines a pydantic model with class-based config (a deprecation warning at
    import, which this suite turns into an error)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Support for class-based `config` is deprecated")
        return fn(*args, **kwargs)


def _snapshot_sdk() -> dict[tuple[type, str], Any]:
    """Every callable in the class dicts of ``openai.resources`` (all submodules imported first)."""
    import openai.resources as resources

    for info in pkgutil.walk_packages(resources.__path__, "openai.resources."):
        importlib.import_module(info.name)
    saved: dict[tuple[type, str], Any] = {}
    for modname in [m for m in list(importlib.sys.modules) if m.startswith("openai.resources")]:  # type: ignore[attr-defined]
        module = importlib.sys.modules[modname]  # type: ignore[attr-defined]
        for obj in list(vars(module).values()):
            if isinstance(obj, type) and obj.__module__ == modname:
                for attr, value in list(vars(obj).items()):
                    if callable(value):
                        saved[(obj, attr)] = value
    return saved


@pytest.fixture
def pristine_sdk() -> Iterator[None]:
    """Restore the SDK methods afterwards: OpenLLMetry 0.62.4's uninstrument() leaves its chat
    wrapper on openai 3.x (see test_openllmetry_uninstrument_leaves_its_wrapper), and no later test
    in this worker may inherit it."""
    saved = _snapshot_sdk()
    yield
    for (owner, attr), value in saved.items():
        if vars(owner).get(attr) is not value:
            setattr(owner, attr, value)


@pytest.fixture
def client(stub: StubOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=stub.url, api_key="sk-test", max_retries=0)


class Setup:
    """Ours and one peer on the same in-memory TracerProvider."""

    def __init__(self, telemetry: Telemetry, peer: Peer) -> None:
        self.telemetry = telemetry
        self.peer = peer
        self.ours = OpenAIInstrumentor()
        cls = _quiet(importlib.import_module, peer.module).OpenAIInstrumentor
        self.theirs = cls()

    def instrument(self, *order: str) -> None:
        for who in order:
            inst = self.ours if who == "ours" else self.theirs
            _quiet(inst.instrument, tracer_provider=self.telemetry.tracer_provider)

    def uninstrument_all(self) -> None:
        for inst in (self.ours, self.theirs):
            if inst.is_instrumented_by_opentelemetry:
                _quiet(inst.uninstrument)


@pytest.fixture
def pristine_context() -> Iterator[None]:
    """Put back this thread's OpenTelemetry context: contrib's stream wrapper restores, at stream
    end, a context it captured; a failure of test_contrib_stream_inside_ours_restores_context must
    not leak into the next test."""
    saved = otel_context.get_current()
    yield
    otel_context.attach(saved)


@pytest.fixture(params=sorted(PEERS))
def setup(
    request: pytest.FixtureRequest, telemetry: Telemetry, pristine_sdk: None, pristine_context: None
) -> Iterator[Setup]:
    s = Setup(telemetry, PEERS[request.param])
    yield s
    s.uninstrument_all()


def _scope(span: Any) -> str | None:
    return span.instrumentation_scope.name if span.instrumentation_scope is not None else None


def _call(client: openai.OpenAI, stream: bool) -> Any:
    """What the app sees: the response as a dict, or the list of chunk dicts."""
    if stream:
        chunks = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        return [chunk.model_dump() for chunk in chunks]
    return client.chat.completions.create(model=MODEL, messages=MESSAGES).model_dump()


def _by_scope(telemetry: Telemetry) -> dict[str, Any]:
    spans = telemetry.spans()
    scopes = {s.instrumentation_scope.name: s for s in spans if s.instrumentation_scope is not None}
    assert len(scopes) == len(spans), [s.name for s in spans]
    return scopes


def _ours_alone(setup: Setup, client: openai.OpenAI, stream: bool) -> tuple[Any, dict[str, Any]]:
    """(what the app got uninstrumented, our span's attributes when we are the only instrumentation)."""
    plain = _call(client, stream)
    setup.instrument("ours")
    assert _call(client, stream) == plain
    attrs = attributes_of(setup.telemetry.span())
    _quiet(setup.ours.uninstrument)
    setup.telemetry.clear()
    return plain, attrs


def _without_ttft(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k != semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK}


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("order", ["ours_first", "peer_first"])
def test_two_spans_nested_ours_unchanged(
    setup: Setup, client: openai.OpenAI, order: str, stream: bool
) -> None:
    plain, alone = _ours_alone(setup, client, stream)

    setup.instrument(*(("ours", "peer") if order == "ours_first" else ("peer", "ours")))
    got = _call(client, stream)

    assert got == plain  # the app's object / chunks are untouched
    scopes = _by_scope(setup.telemetry)
    assert sorted(scopes) == sorted([OURS, setup.peer.scope])  # two LLM spans, one each
    ours, theirs = scopes[OURS], scopes[setup.peer.scope]
    # The last instrumentor to wrap is the outer one: its span is the parent of the other's.
    outer, inner = (theirs, ours) if order == "ours_first" else (ours, theirs)
    assert inner.parent is not None and outer.context is not None
    assert inner.parent.span_id == outer.context.span_id
    assert outer.parent is None
    assert inner.context.trace_id == outer.context.trace_id
    assert theirs.name == setup.peer.span_name
    # Both record the same usage of the one call.
    assert theirs.attributes[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert theirs.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 6
    assert semconv.OTEL_LLM_COST_USD not in theirs.attributes
    # Ours: exactly the attributes recorded alone (TTFT is a measurement: present and positive).
    mine = attributes_of(ours)
    assert _without_ttft(mine) == _without_ttft(alone)
    assert mine[semconv.OTEL_LLM_COST_USD] == alone[semconv.OTEL_LLM_COST_USD] > 0
    if stream:
        ttft = mine[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
        assert isinstance(ttft, float) and ttft > 0
        assert ours.end_time is not None and inner.end_time is not None
        assert outer.end_time >= inner.end_time  # the outer span covers the stream
    else:
        assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in mine


@pytest.mark.parametrize("order", ["ours_first", "peer_first"])
def test_uninstrument_ours_leaves_peer_working(setup: Setup, client: openai.OpenAI, order: str) -> None:
    plain = _call(client, stream=False)
    setup.instrument(*(("ours", "peer") if order == "ours_first" else ("peer", "ours")))
    _quiet(setup.ours.uninstrument)

    for stream in (False, True):
        setup.telemetry.clear()
        got = _call(client, stream)
        if not stream:
            assert got == plain
        assert [(s.name, _scope(s)) for s in setup.telemetry.spans()] == [
            (setup.peer.span_name, setup.peer.scope)
        ]


def test_contrib_stream_inside_ours_restores_context(
    telemetry: Telemetry, client: openai.OpenAI, pristine_sdk: None, pristine_context: None
) -> None:
    s = Setup(telemetry, PEERS["contrib_v2"])
    try:
        s.instrument("peer", "ours")  # ours outer
        _call(client, stream=True)
        assert not trace.get_current_span().get_span_context().is_valid
        telemetry.clear()
        _call(client, stream=False)
        scopes = _by_scope(telemetry)
        assert sorted(scopes) == sorted([OURS, s.peer.scope])
        assert scopes[OURS].parent is None
    finally:
        s.uninstrument_all()


def test_openllmetry_uninstrument_leaves_its_wrapper(telemetry: Telemetry, pristine_sdk: None) -> None:
    """Documented peer behaviour (OpenLLMetry 0.62.4 on openai 3.x): after its uninstrument() its chat
    wrapper is still in place (and its spans keep coming). This is why ``pristine_sdk`` exists."""
    from openai.resources.chat.completions import completions

    original = vars(completions.Completions)["create"]
    inst = _quiet(importlib.import_module, PEERS["openllmetry"].module).OpenAIInstrumentor()
    _quiet(inst.instrument, tracer_provider=telemetry.tracer_provider)
    _quiet(inst.uninstrument)
    still = vars(completions.Completions)["create"]
    assert still is not original
    assert still.__wrapped__ is original


def test_processor_counts_the_call_once(setup: Setup, client: openai.OpenAI) -> None:
    """Both spans reach the processor: its dedup keeps one call per SDK call, and keeps ours (the
    most complete: cost, current semconv dialect)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from otel_llm_processor.model.dedup import dedup_calls
    from otel_llm_processor.model.llm_call import calls_from_request

    setup.instrument("ours", "peer")
    _call(client, stream=False)
    _call(client, stream=True)
    spans = setup.telemetry.spans()
    assert len(spans) == 4
    calls = calls_from_request(encode_spans(spans))
    assert len(calls) == 4
    kept = dedup_calls(calls)
    assert len(kept) == 2
    ours_ids = {s.context.span_id.to_bytes(8, "big") for s in spans if _scope(s) == OURS}
    assert {c.span_id for c in kept} == ours_ids
