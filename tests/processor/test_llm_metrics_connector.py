"""The llm_metrics connector as a component: spans in, OTLP metrics out, the LlmMetricsView it publishes."""

from __future__ import annotations

import time
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from pydantic import ValidationError

from otel_llm import semconv as sc
from otel_llm._core.cost import Price, PriceBook
from otel_llm_processor.component import (
    ComponentID,
    ComponentKind,
    CreateSettings,
    Host,
    MetricsBatch,
    TracesBatch,
)
from otel_llm_processor.connector.llm_metrics.config import Config
from otel_llm_processor.connector.llm_metrics.connector import LlmMetricsConnector
from otel_llm_processor.connector.llm_metrics.factory import FACTORY
from otel_llm_processor.connector.llm_metrics.pricing import Pricer
from otel_llm_processor.model.llm_call import LlmCall
from otel_llm_processor.selftel import SelfTelemetry
from otel_llm_processor.services import LlmMetricsView, SeriesUpdate

T0_S = 1_699_999_800.0
T0 = int(T0_S * 1e9)
ID = "llm_metrics"


class Clock:
    def __init__(self) -> None:
        self.now = T0_S

    def __call__(self) -> float:
        return self.now


class Sink:
    def __init__(self) -> None:
        self.batches: list[MetricsBatch] = []

    async def consume_metrics(self, batch: MetricsBatch) -> None:
        self.batches.append(batch)


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(int_value=value))


def span(
    i: int, duration_s: float, model: str = "m", error: str = "", env: str | None = None, **usage: int
) -> Span:
    s = Span(
        trace_id=i.to_bytes(16, "big"),
        span_id=(i + 1000).to_bytes(8, "big"),
        name=f"chat {model}",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + round(duration_s * 1e9),
    )
    s.attributes.extend(
        [
            _kv(sc.GEN_AI_OPERATION_NAME, "chat"),
            _kv(sc.GEN_AI_PROVIDER_NAME, "test-provider"),
            _kv(sc.GEN_AI_REQUEST_MODEL, model),
        ]
    )
    if "input" in usage:
        s.attributes.append(_kv(sc.GEN_AI_USAGE_INPUT_TOKENS, usage["input"]))
    if "output" in usage:
        s.attributes.append(_kv(sc.GEN_AI_USAGE_OUTPUT_TOKENS, usage["output"]))
    if error:
        s.attributes.append(_kv(sc.ERROR_TYPE, error))
        s.status.code = 2
    if env is not None:
        s.attributes.append(_kv("deployment.environment", env))
    return s


def traces(*spans: Span, service: str = "svc", resource_env: str | None = None) -> TracesBatch:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(_kv(sc.SERVICE_NAME, service))
    if resource_env is not None:
        rs.resource.attributes.append(_kv("deployment.environment", resource_env))
    rs.scope_spans.add().spans.extend(spans)
    return TracesBatch(request=request, span_count=len(spans))


def connector(config: Config | None = None) -> tuple[LlmMetricsConnector, Sink, SelfTelemetry, Clock]:
    telemetry, sink, clock = SelfTelemetry(), Sink(), Clock()
    settings = CreateSettings(
        id=ComponentID(ID), kind=ComponentKind.CONNECTOR, telemetry=telemetry, next_metrics=sink
    )
    pricer = Pricer(PriceBook({("test-provider", "m"): Price(2.0, 8.0)}))
    return (
        LlmMetricsConnector(settings, config or Config(), clock=clock, pricer=pricer),
        sink,
        telemetry,
        clock,
    )


def points(batch: MetricsBatch, name: str) -> list[Any]:
    out = []
    for rm in batch.request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    out.extend(getattr(m, m.WhichOneof("data")).data_points)
    return out


def test_factory() -> None:
    assert FACTORY.type == "llm_metrics"
    assert FACTORY.kind is ComponentKind.CONNECTOR
    assert {s.value for s in FACTORY.signals} == {"traces"}
    assert {s.value for s in FACTORY.produces} == {"metrics"}
    assert FACTORY.config_class().flush_interval == 10.0


@pytest.mark.parametrize("value", [0, -1, "0s"])
def test_flush_interval_must_be_positive(value: Any) -> None:
    with pytest.raises(ValidationError, match="must be > 0"):
        Config(flush_interval=value)


async def test_spans_to_cumulative_metrics_with_a_fixed_start_time() -> None:
    conn, sink, telemetry, clock = connector()
    host = Host(telemetry=telemetry, data_dir="/nonexistent")
    await conn.start(host)
    try:
        assert host.services["llm_metrics"] is conn
        assert isinstance(conn, LlmMetricsView)
        clock.now += 1
        await conn.consume_traces(
            traces(span(1, 0.5, input=1000, output=200), span(2, 2.0, input=10, output=5))
        )
        clock.now += 9
        await conn.flush()
        clock.now += 5
        await conn.consume_traces(traces(span(3, 1.0, input=1, output=1), span(4, 0.1, error="TimeoutError")))
        clock.now += 5
        await conn.flush()
    finally:
        await conn.shutdown(time.monotonic() + 5)
    first, second, final = sink.batches  # the last one is shutdown's flush
    assert points(final, "llm.calls") == points(second, "llm.calls")
    assert [p.as_int for p in points(first, "llm.calls")] == [2]
    assert sorted(p.as_int for p in points(second, "llm.calls")) == [1, 3]
    ok = next(p for p in points(second, "llm.calls") if p.as_int == 3)
    assert ok.start_time_unix_nano == points(first, "llm.calls")[0].start_time_unix_nano == T0 + 1_000_000_000
    assert ok.time_unix_nano == T0 + 20_000_000_000
    (d1,) = points(first, sc.METRIC_CLIENT_OPERATION_DURATION)
    d2 = next(p for p in points(second, sc.METRIC_CLIENT_OPERATION_DURATION) if p.count == 3)
    assert (d2.sum, d2.min, d2.max, d2.start_time_unix_nano) == (3.5, 0.5, 2.0, d1.start_time_unix_nano)
    assert [e.span_id for e in d1.exemplars] == [(1002).to_bytes(8, "big")]
    (cost,) = points(second, sc.METRIC_LLM_COST)
    assert cost.as_double == pytest.approx(1011 * 2e-6 + 206 * 8e-6, rel=1e-12)
    temporality = second.request.resource_metrics[0].scope_metrics[0].metrics[0].sum.aggregation_temporality
    assert temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    assert telemetry.counter(ID, "llm_calls_aggregated") == 4
    assert telemetry.gauge(ID, "series_active") == 2
    assert (first.point_count, second.point_count) == (7, 12)
    assert telemetry.counter(ID, "metric_points_sent") == 7 + 12 + 12


async def test_delta_temporality_sends_only_the_interval() -> None:
    conn, sink, _, clock = connector(Config(temporality="delta"))
    await conn.consume_traces(traces(span(1, 0.5)))
    clock.now += 10
    await conn.flush()
    await conn.consume_traces(traces(span(2, 0.5), span(3, 0.5)))
    clock.now += 10
    await conn.flush()
    assert await conn.flush() is None  # nothing new
    first, second = sink.batches
    (p1,), (p2,) = points(first, "llm.calls"), points(second, "llm.calls")
    assert (p1.as_int, p2.as_int) == (1, 2)
    assert p2.start_time_unix_nano == p1.time_unix_nano == T0 + 10_000_000_000


async def test_dimensions_from_span_then_resource_then_default() -> None:
    config = Config(dimensions=[{"name": "deployment.environment", "default": "none"}])
    conn, _sink, _, _ = connector(config)
    await conn.consume_traces(traces(span(1, 1.0, env="prod"), span(2, 1.0), resource_env="staging"))
    await conn.consume_traces(traces(span(3, 1.0)))
    groups = conn.summarize("1m", group_by=["deployment.environment"])
    assert sorted((g.labels["deployment.environment"], g.calls) for g in groups) == [
        ("none", 1),
        ("prod", 1),
        ("staging", 1),
    ]
    batch = await conn.flush()
    assert batch is not None
    envs = sorted(
        kv.value.string_value
        for p in points(batch, "llm.calls")
        for kv in p.attributes
        if kv.key == "deployment.environment"
    )
    assert envs == ["none", "prod", "staging"]


async def test_summaries_subscribers_and_record_calls() -> None:
    conn, _, telemetry, clock = connector()
    updates: list[SeriesUpdate] = []
    seen_calls: list[LlmCall] = []
    conn.subscribe(updates.extend)
    conn.subscribe_calls(seen_calls.extend)

    def broken(_: Any) -> None:
        raise RuntimeError("boom")

    conn.subscribe(broken)
    await conn.consume_traces(traces(span(1, 1.0, input=10, output=2), span(2, 3.0, error="RateLimitError")))
    api_call = LlmCall(
        trace_id=b"",
        span_id=b"",
        parent_span_id=b"",
        start_ns=0,
        end_ns=2_000_000_000,
        service="svc",
        provider="test-provider",
        operation="chat",
        request_model="m",
        response_model="",
        error_type="",
        input_tokens=5,
        output_tokens=5,
    )
    await conn.record_calls([api_call])
    assert len(seen_calls) == 3
    assert sorted((u.labels["error_type"], u.calls) for u in updates) == [
        ("", 1),
        ("", 1),
        ("RateLimitError", 1),
    ]
    assert telemetry.counter(ID, "subscriber_errors") == 2
    (total,) = conn.summarize("5m")
    assert (total.calls, total.errors, total.input_tokens, total.output_tokens) == (3, 1, 15, 7)
    assert total.error_rate == pytest.approx(1 / 3)
    d = total.distributions["duration_s"]
    assert (d.count, d.sum, d.min, d.max) == (3, 6.0, 1.0, 3.0)
    assert abs(d.p50 - 2.0) / 2.0 < 0.01
    by_error = {
        g.labels["error_type"]: g.calls for g in conn.summarize("1h", ["error_type"], where={"model": "m"})
    }
    assert by_error == {"": 2, "RateLimitError": 1}
    assert conn.summarize("1m", where={"model": "other"}) == []
    clock.now += 120
    assert conn.summarize("1m") == []
    assert conn.summarize("5m")[0].calls == 3


async def test_overflow_is_counted() -> None:
    conn, _, telemetry, _ = connector(Config(max_series=1))
    await conn.consume_traces(
        traces(span(1, 1.0, model="a"), span(2, 1.0, model="b"), span(3, 1.0, model="c"))
    )
    assert telemetry.counter(ID, "series_overflow") == 2
    batch = await conn.flush()
    assert batch is not None
    overflow = [
        p for p in points(batch, "llm.calls") if [kv.key for kv in p.attributes] == [sc.OTEL_METRIC_OVERFLOW]
    ]
    assert [p.as_int for p in overflow] == [2]
    assert overflow[0].attributes[0].value.bool_value is True


async def test_shutdown_before_start_and_twice() -> None:
    conn, sink, _, _ = connector()
    await conn.shutdown(time.monotonic() + 1)
    await conn.shutdown(time.monotonic() + 1)
    assert sink.batches == []


# ---- aggregate_delay: batches that are ready while others are being read are aggregated together
async def test_batches_ready_under_load_are_aggregated_together_once_the_delay_passes() -> None:
    import asyncio

    conn, _, telemetry, _ = connector(Config(aggregate_delay=0.05))
    updates: list[list[SeriesUpdate]] = []
    conn.subscribe(lambda batch: updates.append(list(batch)))
    conn._reading = 1  # another batch is being read (a worker process holds it)
    await conn.consume_traces(traces(span(1, 1.0, input=10)))
    await conn.consume_traces(traces(span(2, 2.0, input=5)))
    assert updates == []  # staged, not aggregated yet
    assert telemetry.counter(ID, "llm_calls_aggregated") == 0
    await asyncio.sleep(0.2)  # the drain timer (0.05 s) fires first: timers run in deadline order
    assert [[(u.calls, u.input_tokens, sorted(u.durations_s)) for u in batch] for batch in updates] == [
        [(2, 15, [1.0, 2.0])]
    ]
    assert telemetry.counter(ID, "llm_calls_aggregated") == 2
    conn._reading = 0


async def test_reads_see_staged_batches_and_a_lone_batch_is_aggregated_at_once() -> None:
    conn, _, _, _ = connector(Config(aggregate_delay=5.0))
    updates: list[list[SeriesUpdate]] = []
    conn.subscribe(lambda batch: updates.append(list(batch)))
    conn._reading = 1
    await conn.consume_traces(traces(span(1, 1.0, input=10)))
    assert updates == []
    (total,) = conn.summarize("1m")  # a read aggregates what is staged first
    assert (total.calls, total.input_tokens) == (1, 10)
    assert len(updates) == 1
    conn._reading = 0
    await conn.consume_traces(traces(span(2, 1.0, input=1)))  # nothing else being read: at once
    assert len(updates) == 2
    assert conn.summarize("1m")[0].calls == 2


async def test_aggregate_delay_zero_aggregates_each_batch_and_bounds_are_checked() -> None:
    conn, _, _, _ = connector(Config(aggregate_delay=0))
    updates: list[list[SeriesUpdate]] = []
    conn.subscribe(lambda batch: updates.append(list(batch)))
    conn._reading = 1
    await conn.consume_traces(traces(span(1, 1.0)))
    await conn.consume_traces(traces(span(2, 1.0)))
    assert [len(b) for b in updates] == [1, 1]
    conn._reading = 0
    for bad in (-0.1, 5.1):
        with pytest.raises(ValidationError, match="aggregate_delay"):
            Config(aggregate_delay=bad)
