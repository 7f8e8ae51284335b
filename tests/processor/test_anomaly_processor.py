from __future__ import annotations

import asyncio
import time

import pytest

from otel_llm_processor.component import ComponentID, ComponentKind, CreateSettings, Host, MetricsBatch
from otel_llm_processor.processor.anomaly.anomaly import AnomalyProcessor
from otel_llm_processor.processor.anomaly.budgets import SpaceSaving
from otel_llm_processor.processor.anomaly.config import Config
from otel_llm_processor.processor.anomaly.factory import FACTORY
from otel_llm_processor.selftel import SelfTelemetry
from tests.processor.fakes_llm_metrics import FakeMetricsView, call, update
from tests.processor.fakes_storage import MemoryStorage


class Sink:
    def __init__(self) -> None:
        self.anomalies = []

    def on_anomalies(self, anomalies):
        self.anomalies.extend(anomalies)


class Metrics:
    def __init__(self) -> None:
        self.batches = []

    async def consume_metrics(self, batch):
        self.batches.append(batch)


async def make(config: dict, cost=lambda c: None):
    telemetry = SelfTelemetry()
    nxt = Metrics()
    settings = CreateSettings(ComponentID("anomaly"), ComponentKind.PROCESSOR, telemetry, next_metrics=nxt)
    proc = AnomalyProcessor(settings, Config.model_validate(config), clock=lambda: 0.0, cost=cost)
    view, storage, sink = FakeMetricsView(), MemoryStorage(), Sink()
    host = Host(telemetry, "/nonexistent", {"llm_metrics": view, "storage": storage, "alerts": sink})
    await proc.start(host)
    return proc, view, storage, sink, host, nxt


LATENCY = {
    "evaluation_interval": "10s",
    "metrics": [
        {
            "metric": "duration_s.p95",
            "detectors": [
                {"type": "zscore", "window": 10, "min_points": 5, "threshold": 3.0, "direction": "up"}
            ],
        }
    ],
    "runaway": {"enabled": False},
    "unpriced_models": False,
}


async def test_latency_spike_raises_one_anomaly_with_exemplars_stored_and_published():
    proc, view, storage, sink, host, _ = await make(LATENCY)
    assert host.services["anomalies"] is proc
    base = 1_000_000.0
    normal = [1.0, 1.2, 1.0, 1.2, 1.0, 1.2]
    for i, d in enumerate(normal):
        view.push(
            update(base + 10 * i + 1, durations=[d]),
            update(base + 10 * i + 2, durations=[d], error_type="Err"),
        )
    spike_t = base + 10 * len(normal) + 1
    view.push(update(spike_t, durations=[9.0], exemplars=[("ab" * 16, "cd" * 8)]))
    assert sink.anomalies == []  # the spike's tick is still open
    view.push(update(spike_t + 10, durations=[1.0]))  # next tick closes it
    assert len(sink.anomalies) == 1
    a = sink.anomalies[0]
    assert a.metric == "duration_s.p95"
    assert a.detector == "zscore"
    assert a.series == {"service": "chat", "provider": "openai", "model": "gpt-4o", "operation": "chat"}
    assert a.value == 9.0
    assert a.expected == pytest.approx(1.1)
    assert a.score == pytest.approx(7.9 / 0.1)
    assert a.severity == "CRITICAL"
    assert a.time == base + 70.0  # end of the spike's tick
    assert a.exemplars == (("ab" * 16, "cd" * 8),)
    assert list(proc.list_anomalies()) == [a]
    await asyncio.wait_for(proc._queue.join(), 5)
    assert storage.anomalies == [a]
    assert proc.telemetry.counter("anomaly", "anomalies_detected") == 1.0
    await proc.shutdown(time.monotonic() + 1)


async def test_repeat_interval_suppresses_same_severity_until_it_passes():
    cfg = {
        **LATENCY,
        "repeat_interval": "60s",
        "metrics": [
            {"metric": "error_rate", "detectors": [{"type": "threshold", "warning": 0.5, "critical": 0.9}]}
        ],
    }
    proc, view, _, sink, _, _ = await make(cfg)
    for i in range(9):  # ticks at 0..80 s, each with error rate 0.6, then 0.95 at 90 s
        view.push(update(10.0 * i + 1, calls=10, errors=6))
    view.push(update(91.0, calls=10, errors=10), update(101.0, calls=1))
    got = [(a.time, a.severity, a.value) for a in sink.anomalies]
    assert got == [(10.0, "WARNING", 0.6), (70.0, "WARNING", 0.6), (100.0, "CRITICAL", 1.0)]
    await proc.shutdown(time.monotonic() + 1)


async def test_advance_closes_a_tick_without_new_data():
    cfg = {
        **LATENCY,
        "metrics": [{"metric": "calls.per_min", "detectors": [{"type": "threshold", "warning": 100}]}],
    }
    proc, view, _, sink, _, _ = await make(cfg)
    view.push(update(5.0, calls=20))  # 20 calls in a 10 s tick = 120/min
    proc.advance(9.9)
    assert sink.anomalies == []
    proc.advance(10.0)
    assert [(a.metric, a.value) for a in sink.anomalies] == [("calls.per_min", 120.0)]
    await proc.shutdown(time.monotonic() + 1)


async def test_unpriced_model_warns_once_per_model():
    cfg = {**LATENCY, "metrics": [], "unpriced_models": True}
    proc, view, _, sink, _, _ = await make(cfg, cost=lambda c: 0.5 if c.model == "gpt-4o" else None)
    view.push(update(1.0, unpriced=["my-llm"]), update(2.0, unpriced=["my-llm"]))
    view.push_calls(
        [call(1, 1, 3.0, cost=None, model="my-llm"), call(1, 2, 3.0, cost=None, model="other-llm")]
    )
    view.push_calls(
        [call(1, 3, 4.0, cost=None, model="gpt-4o"), call(1, 4, 4.0, cost=None, model="other-llm")]
    )
    got = [(a.detector, a.severity, a.series["model"], a.metric) for a in sink.anomalies]
    assert got == [
        ("unpriced", "WARNING", "my-llm", "cost_usd"),
        ("unpriced", "WARNING", "other-llm", "cost_usd"),
    ]
    assert sink.anomalies[1].exemplars == (("00" * 15 + "01", "00" * 7 + "02"),)
    await proc.shutdown(time.monotonic() + 1)


async def test_runaway_trace_raises_while_running_once_per_limit():
    cfg = {**LATENCY, "runaway": {"max_calls": 3, "max_tokens": 1000, "max_cost_usd": 100.0}}
    proc, view, _, sink, _, _ = await make(cfg)
    view.push_calls([call(7, i, 10.0 + i, input_tokens=100, output_tokens=100) for i in range(1, 4)])
    view.push_calls([call(8, 1, 11.0)])  # another trace
    assert sink.anomalies == []
    view.push_calls([call(7, 4, 14.0, input_tokens=100, output_tokens=100)])  # 4 calls, 800 tokens
    view.push_calls([call(7, 5, 15.0, input_tokens=100, output_tokens=100)])  # 5 calls, 1000 tokens
    view.push_calls([call(7, 6, 16.0, input_tokens=1, output_tokens=0)])  # 1001 tokens
    got = [(a.detector, a.metric, a.value, a.expected, a.series) for a in sink.anomalies]
    trace = (7).to_bytes(16, "big").hex()
    assert got == [
        ("runaway", "trace.calls", 4.0, 3.0, {"service": "agent", "trace_id": trace}),
        ("runaway", "trace.tokens", 1001.0, 1000.0, {"service": "agent", "trace_id": trace}),
    ]
    assert sink.anomalies[0].exemplars[0] == (trace, (1).to_bytes(8, "big").hex())
    assert sink.anomalies[0].severity == "ERROR"
    await proc.shutdown(time.monotonic() + 1)


async def test_runaway_lru_is_bounded():
    cfg = {**LATENCY, "runaway": {"max_calls": 2, "max_traces": 2}}
    proc, view, _, sink, _, _ = await make(cfg)
    view.push_calls([call(1, 1, 1.0), call(1, 2, 1.0), call(2, 1, 1.0), call(3, 1, 1.0)])  # trace 1 evicted
    view.push_calls([call(1, 3, 2.0)])  # trace 1 starts over: 1 call
    assert sink.anomalies == []
    assert len(proc._traces) == 2 and proc._traces.evicted == 2
    await proc.shutdown(time.monotonic() + 1)


async def test_budget_per_user_levels_and_other_bucket():
    cfg = {
        **LATENCY,
        "budgets": [
            {
                "name": "user-daily",
                "scope": "user",
                "limit": 1.0,
                "window": "1d",
                "alert_at": {0.5: "WARNING", 1.0: "CRITICAL"},
                "burn_rates": [],
                "top_k": 2,
            }
        ],
    }
    proc, view, _, sink, _, _ = await make(cfg)
    view.push_calls([call(1, 1, 100.0, cost=0.3, user="alice"), call(1, 2, 100.0, cost=0.3, user="alice")])
    view.push_calls([call(2, 1, 100.0, cost=0.2, user="bob"), call(2, 2, 100.0, cost=0.5, user="alice")])
    got = [(a.detector, a.metric, a.series, a.value, a.severity) for a in sink.anomalies]
    assert got == [
        ("budget", "budget.cost_usd", {"budget": "user-daily", "user": "alice"}, 0.6, "WARNING"),
        ("budget", "budget.cost_usd", {"budget": "user-daily", "user": "alice"}, 1.1, "CRITICAL"),
    ]
    view.push_calls([call(3, 1, 100.0, cost=0.05, user="carol")])  # evicts bob (0.2): carol = 0.25 +- 0.2
    rows = {r["key"]: (round(r["spent"], 9), round(r["estimate"], 9)) for r in proc.budget_status()}
    assert rows == {"alice": (1.1, 1.1), "carol": (0.05, 0.25), "(other)": (0.2, 0.2)}
    view.push_calls([call(4, 1, 86400.0 + 5, cost=0.6, user="alice")])  # new day: starts over
    assert sink.anomalies[-1].value == 0.6 and sink.anomalies[-1].time == 86405.0
    await proc.shutdown(time.monotonic() + 1)


async def test_budget_burn_rate_per_service():
    cfg = {
        **LATENCY,
        "budgets": [
            {
                "name": "svc",
                "scope": "service",
                "limit": 24.0,  # 1 USD per hour pace
                "window": "1d",
                "alert_at": {},
                "burn_rates": [{"window": "1h", "factor": 10, "severity": "CRITICAL"}],
            }
        ],
    }
    proc, view, _, sink, _, _ = await make(cfg)
    view.push_calls([call(1, 1, 3600.0 * 5 + 10, cost=9.0)])
    proc.advance(3600.0 * 5 + 20)
    assert sink.anomalies == []  # 9x the pace
    view.push_calls([call(1, 2, 3600.0 * 5 + 30, cost=2.0)])
    proc.advance(3600.0 * 5 + 40)
    proc.advance(3600.0 * 5 + 50)  # still burning: not raised twice
    got = [(a.metric, a.value, a.expected, a.severity, a.series) for a in sink.anomalies]
    assert got == [
        ("budget.cost_usd.burn_rate.1h", 11.0, 10.0, "CRITICAL", {"budget": "svc", "service": "agent"})
    ]
    await proc.shutdown(time.monotonic() + 1)


def test_space_saving_exact_until_full_then_bounded_error():
    ss = SpaceSaving(2)
    assert ss.add("a", 5) is None and ss.add("b", 1) is None
    assert ss.add("c", 2) == "b"
    assert ss.top(3) == [("a", 5, 5), ("c", 2, 3)]
    assert ss.other() == 1
    assert ss.guaranteed("b") == 0.0 and ss.total == 8


async def test_metrics_pass_through_and_factory():
    proc, *_, nxt = await make(LATENCY)
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    batch = MetricsBatch(ExportMetricsServiceRequest())
    await proc.consume_metrics(batch)
    assert nxt.batches == [batch]
    assert FACTORY.type == "anomaly" and FACTORY.kind is ComponentKind.PROCESSOR
    await proc.shutdown(time.monotonic() + 1)
    await proc.shutdown(time.monotonic() + 1)  # idempotent


def test_config_errors_name_the_path():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        Config.model_validate({"metrics": [{"metric": "latency", "detectors": [{"type": "zscore"}]}]})
    assert info.value.errors()[0]["loc"] == ("metrics", 0, "metric")
    with pytest.raises(ValidationError) as info:
        Config.model_validate({"evaluation_interval": "soon"})
    assert "invalid duration" in str(info.value)
