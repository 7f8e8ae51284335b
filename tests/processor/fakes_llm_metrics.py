"""A fake ``LlmMetricsView``: tests push ``SeriesUpdate``s and ``LlmCall``s to its subscribers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_llm_processor.model.llm_call import LlmCall
from otel_llm_processor.services import GroupSummary, SeriesUpdate

__all__ = ["FakeMetricsView", "RecordingAlerts", "call", "update"]

LABELS = {"service": "chat", "provider": "openai", "model": "gpt-4o", "operation": "chat", "error_type": ""}


def update(
    t: float,
    calls: int = 1,
    errors: int = 0,
    durations: Sequence[float] = (),
    ttfts: Sequence[float] = (),
    input_tokens: int = 0,
    output_tokens: int = 0,
    cost: float = 0.0,
    exemplars: Sequence[tuple[str, str]] = (),
    unpriced: Sequence[str] = (),
    **labels: str,
) -> SeriesUpdate:
    return SeriesUpdate(
        labels={**LABELS, **labels},
        time=t,
        calls=calls,
        errors=errors,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=0,
        cost_usd=cost,
        durations_s=list(durations),
        ttfts_s=list(ttfts),
        exemplars=list(exemplars),
        unpriced_models=list(unpriced),
    )


def call(
    trace: int,
    span: int,
    t: float,
    input_tokens: int | None = 100,
    output_tokens: int | None = 50,
    cost: float | None = 0.01,
    model: str = "gpt-4o",
    service: str = "agent",
    user: str = "",
    tenant: str = "",
) -> LlmCall:
    return LlmCall(
        trace_id=trace.to_bytes(16, "big"),
        span_id=span.to_bytes(8, "big"),
        parent_span_id=b"",
        start_ns=int((t - 1) * 1e9),
        end_ns=int(t * 1e9),
        service=service,
        provider="openai",
        operation="chat",
        request_model=model,
        response_model=model,
        error_type="",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=cost,
        user_id=user,
        tenant_id=tenant,
    )


class FakeMetricsView:
    def __init__(self) -> None:
        self.update_callbacks: list[Callable[[Sequence[SeriesUpdate]], None]] = []
        self.call_callbacks: list[Callable[[Sequence[LlmCall]], None]] = []

    def summarize(
        self, window: str, group_by: Sequence[str] = (), where: Mapping[str, str] | None = None
    ) -> list[GroupSummary]:
        return []

    def subscribe(self, callback: Callable[[Sequence[SeriesUpdate]], None]) -> None:
        self.update_callbacks.append(callback)

    def subscribe_calls(self, callback: Callable[[Sequence[LlmCall]], None]) -> None:
        self.call_callbacks.append(callback)

    async def record_calls(self, calls: Sequence[LlmCall]) -> None:
        self.push_calls(calls)

    def push(self, *updates: SeriesUpdate) -> None:
        for cb in self.update_callbacks:
            cb(list(updates))

    def push_calls(self, calls: Sequence[LlmCall]) -> None:
        for cb in self.call_callbacks:
            cb(list(calls))


class RecordingAlerts:
    """A notifier (``AlertsConsumer``) that records every event it receives."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def consume_alerts(self, events: Sequence[Any]) -> None:
        self.events.extend(events)
