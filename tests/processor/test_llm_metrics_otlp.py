"""The llm_metrics state as an OTLP metrics request: names, units, exact points, exemplars, overflow."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from otel_llm import semconv as sc
from otel_llm._core.cost import Price, PriceBook
from otel_llm_processor.connector.llm_metrics.aggregator import Aggregator
from otel_llm_processor.connector.llm_metrics.otlp import SCOPE_NAME, Snapshot, build_request
from otel_llm_processor.connector.llm_metrics.pricing import Pricer
from otel_llm_processor.model.llm_call import LlmCall

T0 = 1_700_000_000_000_000_000


def call(
    i: int, duration_s: float, model: str = "m", error_type: str = "", service: str = "svc", **kw: Any
) -> LlmCall:
    return LlmCall(
        trace_id=i.to_bytes(16, "big"),
        span_id=(i + 100).to_bytes(8, "big"),
        parent_span_id=b"",
        start_ns=T0,
        end_ns=T0 + round(duration_s * 1e9),
        service=service,
        provider="test-provider",
        operation="chat",
        request_model=model,
        response_model="",
        error_type=error_type,
        **kw,
    )


def attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind)
    return out


def request_of(
    agg: Aggregator, calls: list[LlmCall], max_buckets: int = 2048, cumulative: bool = True
) -> Any:
    part = agg.aggregate(calls, now=1.0).part
    starts = [T0 - 5_000_000_000] * len(agg.registry)
    return build_request(
        agg.registry,
        Snapshot(part, T0 + 10_000_000_000, starts, cumulative, agg.take_exemplars(), max_buckets),
    )


def metrics_by_name(request: Any) -> dict[str, Any]:
    ((rm,),) = [list(request.resource_metrics)]
    (sm,) = rm.scope_metrics
    assert sm.scope.name == SCOPE_NAME
    return {m.name: m for m in sm.metrics}


def test_names_units_and_exact_points() -> None:
    pricer = Pricer(PriceBook({("test-provider", "m"): Price(2.0, 8.0)}))
    agg = Aggregator(pricer=pricer, exemplars_per_series=4)
    calls = [
        call(1, 0.5, input_tokens=1000, output_tokens=200, ttft_s=0.1),
        call(2, 1.5, input_tokens=2000, output_tokens=0, cache_read_tokens=500),
        call(3, 3.0, error_type="RateLimitError"),
    ]
    request = request_of(agg, calls)
    (rm,) = request.resource_metrics
    assert attrs(rm.resource.attributes) == {"service.name": "svc"}
    metrics = metrics_by_name(request)
    assert {name: m.unit for name, m in metrics.items()} == {
        "llm.calls": "{call}",
        "llm.errors": "{call}",
        "llm.tokens": "{token}",
        "llm.cost.usd": "{USD}",
        "gen_ai.client.operation.duration": "s",
        "gen_ai.client.operation.time_to_first_chunk": "s",
        "gen_ai.client.token.usage": "{token}",
    }
    ok_attrs = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "test-provider",
        sc.GEN_AI_REQUEST_MODEL: "m",
    }
    err_attrs = {**ok_attrs, sc.ERROR_TYPE: "RateLimitError"}

    calls_m = metrics["llm.calls"].sum
    assert calls_m.is_monotonic
    assert calls_m.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    assert [(attrs(p.attributes), p.as_int) for p in calls_m.data_points] == [(ok_attrs, 2), (err_attrs, 1)]
    assert all(p.start_time_unix_nano == T0 - 5_000_000_000 for p in calls_m.data_points)
    assert all(p.time_unix_nano == T0 + 10_000_000_000 for p in calls_m.data_points)
    assert [(attrs(p.attributes), p.as_int) for p in metrics["llm.errors"].sum.data_points] == [
        (err_attrs, 1)
    ]
    assert [
        (attrs(p.attributes)[sc.GEN_AI_TOKEN_TYPE], p.as_int) for p in metrics["llm.tokens"].sum.data_points
    ] == [
        ("input", 3000),
        ("output", 200),
        ("cache_read", 500),
        ("input", 0),
        ("output", 0),
    ]
    # 1000*2e-6 + 200*8e-6 = 0.0036; (2000-500)*2e-6 + 500*2e-6 (cache read defaults to input) = 0.004
    (cost,) = metrics["llm.cost.usd"].sum.data_points
    assert abs(cost.as_double - 0.0076) < 1e-15

    durations = metrics["gen_ai.client.operation.duration"].exponential_histogram
    assert durations.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    ok, err = durations.data_points
    assert attrs(ok.attributes) == ok_attrs
    assert (ok.count, ok.sum, ok.min, ok.max, ok.scale, ok.zero_count) == (2, 2.0, 0.5, 1.5, 6, 0)
    # buckets of 0.5 s (index -65) and 1.5 s (index 37): offset -65, 103 buckets, ones at both ends
    assert ok.positive.offset == -65
    assert len(ok.positive.bucket_counts) == 103
    assert (ok.positive.bucket_counts[0], ok.positive.bucket_counts[-1], sum(ok.positive.bucket_counts)) == (
        1,
        1,
        2,
    )
    assert [(e.as_double, e.trace_id, e.span_id, e.time_unix_nano) for e in ok.exemplars] == [
        (1.5, (2).to_bytes(16, "big"), (102).to_bytes(8, "big"), T0 + 1_500_000_000)
    ]
    assert [(e.as_double, e.trace_id) for e in err.exemplars] == [(3.0, (3).to_bytes(16, "big"))]

    (ttft,) = metrics["gen_ai.client.operation.time_to_first_chunk"].exponential_histogram.data_points
    assert (ttft.count, ttft.sum, ttft.min, ttft.max) == (1, 0.1, 0.1, 0.1)
    usage = metrics["gen_ai.client.token.usage"].exponential_histogram.data_points
    assert [(attrs(p.attributes)[sc.GEN_AI_TOKEN_TYPE], p.count, p.sum, p.zero_count) for p in usage] == [
        ("input", 2, 3000.0, 0),
        ("output", 2, 200.0, 1),
    ]


def test_histogram_downscales_to_max_buckets() -> None:
    agg = Aggregator()
    request = request_of(agg, [call(1, 0.001), call(2, 1000.0)], max_buckets=160)
    (point,) = metrics_by_name(request)["gen_ai.client.operation.duration"].exponential_histogram.data_points
    # indices -638 (1 ms) and 637 (1000 s) at scale 6; shifted by 3 they are -80 and 79: 160 buckets
    assert point.scale == 3
    assert len(point.positive.bucket_counts) == 160
    assert sum(point.positive.bucket_counts) == 2
    assert point.positive.offset == -638 >> 3


def test_overflow_series_has_only_the_overflow_attribute() -> None:
    agg = Aggregator(max_series=1)
    request = request_of(
        agg, [call(1, 1.0, model="a"), call(2, 1.0, model="b"), call(3, 1.0, model="c", service="other")]
    )
    by_service = {
        attrs(rm.resource.attributes).get("service.name", ""): rm for rm in request.resource_metrics
    }
    assert sorted(by_service) == ["", "svc"]
    overflow = {m.name: m for m in by_service[""].scope_metrics[0].metrics}
    (point,) = overflow["llm.calls"].sum.data_points
    assert attrs(point.attributes) == {sc.OTEL_METRIC_OVERFLOW: True}
    assert point.as_int == 2


def test_delta_temporality() -> None:
    agg = Aggregator()
    request = request_of(agg, [call(1, 1.0)], cumulative=False)
    metrics = metrics_by_name(request)
    assert (
        metrics["llm.calls"].sum.aggregation_temporality
        == AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    )
    delta = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    assert metrics["gen_ai.client.operation.duration"].exponential_histogram.aggregation_temporality == delta
