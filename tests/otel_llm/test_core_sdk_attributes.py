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


def test_non_sdk_spans_are_left_to_their_own_method() -> None:
    span = trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    set_attributes(span, ATTRS)  # no error, nothing recorded
    assert not span.is_recording()
