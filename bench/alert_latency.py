"""Span-to-notifier latency of an alert (not a test): p50/p99 over many alerts.

Path measured: LLM calls handed to the ``llm_metrics`` connector (``record_calls``, the same
intake as spans after decoding) -> its ``SeriesUpdate`` subscribers -> the ``alert_rules``
engine (event-driven, no evaluation interval) -> the connector's delivery task -> a recording
notifier's ``consume_alerts``. Each round tips a fresh series (its own model) over an error-rate
rule, so every round fires exactly one alert. When the ``llm_metrics`` connector is not
importable, a minimal in-process view stands in for it (printed in the output).

Usage: ``python bench/alert_latency.py [--alerts 2000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from otel_llm_processor.component import ComponentID, ComponentKind, CreateSettings, Host
from otel_llm_processor.connector.alert_rules.alert_rules import AlertRulesConnector
from otel_llm_processor.connector.alert_rules.config import Config as RulesConfig
from otel_llm_processor.model.llm_call import LlmCall
from otel_llm_processor.selftel import SelfTelemetry
from otel_llm_processor.services import SeriesUpdate


class _MinimalView:
    """Stand-in for the llm_metrics connector: one SeriesUpdate per call."""

    def __init__(self) -> None:
        self._subs: list[Callable[[Sequence[SeriesUpdate]], None]] = []

    def subscribe(self, cb: Callable[[Sequence[SeriesUpdate]], None]) -> None:
        self._subs.append(cb)

    def subscribe_calls(self, cb: Any) -> None:
        return None

    async def record_calls(self, calls: Sequence[LlmCall]) -> None:
        updates = [
            SeriesUpdate(
                labels={
                    "service": c.service,
                    "provider": c.provider,
                    "model": c.model,
                    "operation": c.operation,
                    "error_type": c.error_type,
                },
                time=time.time(),
                calls=1,
                errors=int(c.is_error),
                input_tokens=c.input_tokens or 0,
                output_tokens=c.output_tokens or 0,
                cached_tokens=0,
                cost_usd=c.cost_usd or 0.0,
                durations_s=[c.duration_s],
                ttfts_s=[],
                exemplars=[(c.trace_id.hex(), c.span_id.hex())],
            )
            for c in calls
        ]
        for cb in self._subs:
            cb(updates)


class _Notifier:
    def __init__(self) -> None:
        self.arrived: asyncio.Event = asyncio.Event()
        self.at = 0.0

    async def consume_alerts(self, events: Sequence[Any]) -> None:
        if any(e.state == "firing" for e in events):
            self.at = time.perf_counter()
            self.arrived.set()


def _view(telemetry: SelfTelemetry) -> tuple[Any, str]:
    try:
        from otel_llm_processor.connector.llm_metrics.config import Config as MetricsConfig
        from otel_llm_processor.connector.llm_metrics.connector import LlmMetricsConnector
    except ImportError as exc:
        return _MinimalView(), f"minimal in-process view (llm_metrics not importable: {exc})"
    settings = CreateSettings(ComponentID("llm_metrics"), ComponentKind.CONNECTOR, telemetry)
    return LlmMetricsConnector(settings, MetricsConfig()), "llm_metrics connector (real)"


def _call(i: int, k: int) -> LlmCall:
    now = time.time_ns()
    return LlmCall(
        trace_id=(i * 16 + k + 1).to_bytes(16, "big"),
        span_id=(k + 1).to_bytes(8, "big"),
        parent_span_id=b"",
        start_ns=now - 800_000_000,
        end_ns=now,
        service="bench",
        provider="openai",
        operation="chat",
        request_model=f"model-{i}",
        response_model=f"model-{i}",
        error_type="RateLimitError",
        input_tokens=100,
        output_tokens=20,
        cost_usd=0.001,
    )


async def run(alerts: int) -> None:
    telemetry = SelfTelemetry()
    view, what = _view(telemetry)
    notifier = _Notifier()
    rule = {"id": "errors", "metric": "error_rate", "op": "gt", "threshold": 0.5, "window": "60s"}
    settings = CreateSettings(
        ComponentID("alert_rules"), ComponentKind.CONNECTOR, telemetry, next_alerts=notifier
    )
    conn = AlertRulesConnector(settings, RulesConfig.model_validate({"rules": [rule]}))
    host = Host(telemetry, "", {"llm_metrics": view})
    if hasattr(view, "start"):
        await view.start(host)
    await conn.start(host)
    latencies = []
    for i in range(alerts):
        notifier.arrived.clear()
        t0 = time.perf_counter()
        await view.record_calls([_call(i, 0)])
        await asyncio.wait_for(notifier.arrived.wait(), 5)
        latencies.append(notifier.at - t0)
    await conn.shutdown(time.monotonic() + 2)
    if hasattr(view, "shutdown"):
        await view.shutdown(time.monotonic() + 2)
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    p50 = statistics.median(ms)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    print(f"alert latency via {what}")
    print(f"  alerts: {len(ms)}  p50: {p50:.3f} ms  p99: {p99:.3f} ms  max: {ms[-1]:.3f} ms")
    print(f"  target p99 < 1000 ms: ratio {p99 / 1000:.5f} of the budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(run(args.alerts))


if __name__ == "__main__":
    main()
