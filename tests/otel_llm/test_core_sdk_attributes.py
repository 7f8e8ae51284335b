"""The direct attribute insert on SDK spans gives exactly what the SDK's own set_attributes gives."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits, TracerProvider

from otel_llm._core import sdk_attributes
from otel_llm._core.sdk_attributes import set_attributes

ATTRS: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.usage.input_tokens": 12,
    "otel_llm.cost.usd": 0.25,
    "gen_ai.request.stream": True,
    "gen_ai.response.finish_reasons": ["stop", "length"],
    "gen_ai.response.id": "r1",
}


def both(limits: SpanLimits | None = None, first: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """Two live SDK spans with the same starting attributes: one for ours, one for the SDK's path."""
    tracer = TracerProvider(span_limits=limits or SpanLimits()).get_tracer("t")
    return tracer.start_span("ours", attributes=first), tracer.start_span("sdk", attributes=first)


def stored(span: Any) -> list[tuple[str, Any, type]]:
    return [(k, v, type(v)) for k, v in span.attributes.items()]


def test_the_fast_path_is_available_with_the_pinned_sdk() -> None:
    assert sdk_attributes.fast_path_available is True


def test_same_keys_order_values_and_types_as_the_sdk() -> None:
    ours, sdk = both(first={"gen_ai.response.id": "old", "keep": 1})
    set_attributes(ours, ATTRS)
    sdk.set_attributes(ATTRS)
    assert stored(ours) == stored(sdk)
    assert ours.attributes["gen_ai.response.finish_reasons"] == ("stop", "length")  # list -> tuple
    assert list(ours.attributes)[-1] == "gen_ai.response.id"  # an overwritten key moves to the end


@pytest.mark.parametrize(
    "limits",
    [SpanLimits(max_span_attribute_length=3), SpanLimits(max_span_attributes=4)],
    ids=["value-length-limit", "count-limit"],
)
def test_span_limits_are_honoured_exactly(limits: SpanLimits) -> None:
    ours, sdk = both(limits, first={"a": "first"})
    set_attributes(ours, ATTRS)
    sdk.set_attributes(ATTRS)
    assert stored(ours) == stored(sdk)
    assert ours.dropped_attributes == sdk.dropped_attributes


def test_odd_values_and_ended_spans_take_the_sdk_path(caplog: pytest.LogCaptureFixture) -> None:
    ours, sdk = both()
    odd = {"ok": 1, "mixed": [1, object()], "nested": {"x": 1}}
    set_attributes(ours, odd)
    sdk.set_attributes(odd)
    assert stored(ours) == stored(sdk)
    ours.end()
    with caplog.at_level(logging.WARNING):
        set_attributes(ours, {"late": "x"})
    assert "late" not in ours.attributes


def test_check_lists_the_only_items_cleaned() -> None:
    typed = {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 12, "a.tuple": ("x", "y")}
    # listed items are cleaned as the SDK does (a list becomes a tuple); absent listed keys are skipped
    ours, sdk = both()
    mixed = {**typed, "gen_ai.response.model": ["m1", "m2"]}
    set_attributes(ours, mixed, ["gen_ai.response.model", "not.there"])
    sdk.set_attributes(mixed)
    assert stored(ours) == stored(sdk)
    assert ours.attributes["gen_ai.response.model"] == ("m1", "m2")
    # a listed value the insert cannot store as is sends everything through the SDK's method
    ours, sdk = both()
    odd = {**typed, "x.odd": [1, object()], "": "empty key"}
    set_attributes(ours, odd, ["x.odd", ""])
    sdk.set_attributes(odd)
    assert stored(ours) == stored(sdk)
    assert ours.attributes["x.odd"] == (1, None) and "" not in ours.attributes  # the SDK's cleaning
    # nothing listed: inserted as is
    ours, sdk = both()
    set_attributes(ours, typed, [])
    sdk.set_attributes(typed)
    assert stored(ours) == stored(sdk)


def test_non_sdk_spans_are_left_to_their_own_method() -> None:
    span = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    set_attributes(span, ATTRS)  # no error, nothing recorded
    assert not span.is_recording()


# ---- start_span ----------------------------------------------------------------------------------
class _SeeingSampler:
    """A custom sampler: it must get the start attributes."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ):  # type: ignore[no-untyped-def]
        from opentelemetry.sdk.trace.sampling import Decision, SamplingResult

        self.seen.append(dict(attributes or {}))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "seeing"


class _SeeingProcessor:
    """A custom span processor: its on_start must see the start attributes on the span."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.seen.append(dict(span.attributes))

    def on_end(self, span: Any) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _started(provider: TracerProvider, fast: bool) -> Any:
    tracer = provider.get_tracer("t")
    kind = trace.SpanKind.CLIENT
    if fast:
        # as LlmCall does: attributes the start deferred are written before the span ends
        span, deferred = sdk_attributes.start_span(tracer, "chat m", kind, ATTRS)
        if deferred:
            set_attributes(span, ATTRS)
        return span
    return tracer.start_span("chat m", kind=kind, attributes=ATTRS)


def _content(span: Any) -> tuple[Any, ...]:
    return (span.name, span.kind, stored(span), span.dropped_attributes, span.is_recording())


@pytest.mark.parametrize(
    "sampler",
    ["default", "ratio", "parent-ratio", "always-off"],
)
def test_start_span_gives_the_span_the_sdk_gives(sampler: str) -> None:
    from opentelemetry.sdk.trace import sampling
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    chosen = {
        "default": None,
        "ratio": sampling.TraceIdRatioBased(1.0),
        "parent-ratio": sampling.ParentBasedTraceIdRatio(1.0),
        "always-off": sampling.ALWAYS_OFF,
    }[sampler]
    provider = TracerProvider(sampler=chosen) if chosen is not None else TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    ours, sdk = _started(provider, True), _started(provider, False)
    assert ours.is_recording() is (sampler != "always-off")
    if ours.is_recording():
        assert _content(ours) == _content(sdk)
        assert ours.attributes["gen_ai.response.finish_reasons"] == ("stop", "length")
    provider.shutdown()


def test_start_span_lets_a_custom_sampler_and_processor_see_the_start_attributes() -> None:
    sampler = _SeeingSampler()
    provider = TracerProvider(sampler=sampler)  # type: ignore[arg-type]
    ours = _started(provider, True)
    assert sampler.seen == [ATTRS]
    assert stored(ours) == stored(_started(provider, False))

    provider = TracerProvider()
    seeing = _SeeingProcessor()
    provider.add_span_processor(seeing)
    _started(provider, True)
    assert seeing.seen == [{**ATTRS, "gen_ai.response.finish_reasons": ("stop", "length")}]
    # a processor added later is noticed (the verdict is per processor set)
    provider = TracerProvider()
    _started(provider, True)
    late = _SeeingProcessor()
    provider.add_span_processor(late)
    _started(provider, True)
    assert len(late.seen) == 1 and late.seen[0]["gen_ai.response.id"] == "r1"


def test_start_span_with_limits_matches_the_sdk() -> None:
    for limits in (SpanLimits(max_span_attribute_length=3), SpanLimits(max_span_attributes=4)):
        provider = TracerProvider(span_limits=limits)
        ours, sdk = _started(provider, True), _started(provider, False)
        assert _content(ours) == _content(sdk)


def test_start_span_skips_the_sdk_cleaning_with_the_default_sampler_and_processors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    cleaned: list[str] = []
    real = BoundedAttributes._set_items

    def counting(self: Any, attributes: Any) -> None:
        cleaned.extend(attributes)
        real(self, attributes)

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(InMemorySpanExporter()))
    monkeypatch.setattr(BoundedAttributes, "_set_items", counting)
    _started(provider, False)
    assert sorted(cleaned) == sorted(ATTRS)  # the SDK's path cleans each one
    cleaned.clear()
    ours = _started(provider, True)
    assert cleaned == []  # ours does not, and gets the same attributes
    assert dict(ours.attributes) == {**ATTRS, "gen_ai.response.finish_reasons": ("stop", "length")}
    provider.shutdown()


def test_a_deferred_start_yields_to_values_set_on_the_span_mid_call(
    telemetry: Any, instrument_openai: Any
) -> None:
    # The default sampler and processors let the span start bare (its start attributes written at
    # the end). Values other code sets on our span while the call runs (here an httpx hook) must
    # win over the start attributes, as they would have with the attributes set at start; the
    # response's attributes, written at the end in both cases, still win over them.
    import httpx2
    import openai

    from otel_llm import semconv
    from otel_llm.context import llm_context
    from otel_llm.testing import attributes_of
    from otel_llm.testing.stub_openai import StubOpenAI

    def hook(request: Any) -> None:
        span = trace.get_current_span()
        span.set_attribute("user.id", "from-app")
        span.set_attribute(semconv.SERVER_ADDRESS, "proxy.internal")
        span.set_attribute(semconv.GEN_AI_RESPONSE_ID, "from-app")

    instrument_openai()
    with StubOpenAI() as stub, httpx2.Client(event_hooks={"request": [hook]}) as http:
        client = openai.OpenAI(base_url=stub.url, api_key="sk-test-0000", max_retries=0, http_client=http)
        with llm_context(user_id="from-context"):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    attrs = attributes_of(telemetry.span())
    assert attrs["user.id"] == "from-app"
    assert attrs[semconv.SERVER_ADDRESS] == "proxy.internal"
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stub"  # written at the end: ours
    assert (
        attrs[semconv.GEN_AI_OPERATION_NAME] == "chat"
        and attrs[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    )


@pytest.mark.parametrize("limits", [None, SpanLimits(max_span_attribute_length=100)], ids=["fast", "public"])
def test_weak_first_keys_keep_values_the_span_already_has(limits: SpanLimits | None) -> None:
    span = TracerProvider(span_limits=limits or SpanLimits()).get_tracer("t").start_span("s")
    span.set_attribute("a", "app")
    span.set_attribute("c", "app")
    set_attributes(span, {"a": "start", "b": "start", "c": "end"}, None, 2)
    assert dict(span.attributes) == {"a": "app", "b": "start", "c": "end"}


def test_a_start_key_the_app_sets_again_is_a_late_write(telemetry: Any) -> None:
    # Deferred start (default sampler and processors): other code sets server.address mid-call,
    # then the app sets it itself through the call: the app's later value wins, as it would have
    # with the start attributes set at start.
    from otel_llm import semconv
    from otel_llm._core.settings import resolve_settings
    from otel_llm._core.span import start_call
    from otel_llm.testing import attributes_of

    settings = resolve_settings("t", "0", {"tracer_provider": telemetry.tracer_provider})
    call = start_call(
        settings, operation="chat", provider="vllm", request_model="m", server_address="start.example"
    )
    assert call._deferred > 0  # the span started bare
    call.span.set_attribute(semconv.SERVER_ADDRESS, "hook.example")
    call.set(semconv.SERVER_ADDRESS, "app-final.example")
    call.end()
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.SERVER_ADDRESS] == "app-final.example"
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "vllm" and attrs[semconv.GEN_AI_REQUEST_MODEL] == "m"
