"""The prometheus exporter: exact /metrics text (promtool and prometheus-client's parsers), exemplars,
naming, bounds, expiry, the series limit and its own HTTP endpoint."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from otel_llm._core.cost import Price, PriceBook
from otel_llm_processor.component import ComponentID, ComponentKind, CreateSettings, Host, MetricsBatch
from otel_llm_processor.connector.llm_metrics.aggregator import Aggregator
from otel_llm_processor.connector.llm_metrics.otlp import Snapshot, build_request
from otel_llm_processor.connector.llm_metrics.pricing import Pricer
from otel_llm_processor.exporter.prometheus.config import Config
from otel_llm_processor.exporter.prometheus.exporter import REGISTRY_SERVICE, PrometheusExporter
from otel_llm_processor.exporter.prometheus.naming import metric_name
from otel_llm_processor.exporter.prometheus.store import MetricsStore
from otel_llm_processor.model.llm_call import LlmCall
from otel_llm_processor.selftel import SelfTelemetry

T0 = 1_700_000_000_000_000_000
PROMTOOL = shutil.which("promtool")
ID = "exporters/prometheus"


def call(i: int, duration_s: float, error_type: str = "", **kw: Any) -> LlmCall:
    return LlmCall(
        trace_id=i.to_bytes(16, "big"),
        span_id=(i + 100).to_bytes(8, "big"),
        parent_span_id=b"",
        start_ns=T0,
        end_ns=T0 + round(duration_s * 1e9),
        service="svc",
        provider="test-provider",
        operation="chat",
        request_model="m",
        response_model="",
        error_type=error_type,
        **kw,
    )


def llm_request() -> ExportMetricsServiceRequest:
    agg = Aggregator(pricer=Pricer(PriceBook({("test-provider", "m"): Price(2.0, 8.0)})))
    calls = [
        call(1, 0.3, input_tokens=1000, output_tokens=200, ttft_s=0.2),
        call(2, 4.0, input_tokens=3000, output_tokens=50),
        call(3, 40.0, input_tokens=10, output_tokens=500),
        call(4, 0.07, error_type="RateLimitError"),
    ]
    part = agg.aggregate(calls, now=1.0).part
    snap = Snapshot(part, T0 + 10**10, [T0] * len(agg.registry), True, agg.take_exemplars(), 2048)
    return build_request(agg.registry, snap)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exporter(config: Config | None = None) -> tuple[PrometheusExporter, SelfTelemetry]:
    telemetry = SelfTelemetry()
    settings = CreateSettings(id=ComponentID("prometheus"), kind=ComponentKind.EXPORTER, telemetry=telemetry)
    return PrometheusExporter(settings, config or Config()), telemetry


async def fed_exporter() -> tuple[PrometheusExporter, SelfTelemetry]:
    exp, telemetry = exporter()
    await exp.consume_metrics(MetricsBatch(llm_request(), point_count=20))
    telemetry.add("connectors/llm_metrics", "llm_calls_aggregated", 4)
    telemetry.set("connectors/llm_metrics", "series_active", 2)
    return exp, telemetry


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


OK = (
    ("gen_ai_operation_name", "chat"),
    ("gen_ai_provider_name", "test-provider"),
    ("gen_ai_request_model", "m"),
    ("job", "svc"),
)
ERR = (("error_type", "RateLimitError"), *OK)


async def test_text_exposition_exact_values() -> None:
    exp, _ = await fed_exporter()
    text = generate_latest(exp.registry).decode()
    got = samples(text)
    assert got[("llm_calls_total", OK)] == 3
    assert got[("llm_calls_total", ERR)] == 1
    assert got[("llm_errors_total", ERR)] == 1
    assert ("llm_errors_total", OK) not in got
    assert got[("llm_tokens_total", tuple(sorted((*OK, ("gen_ai_token_type", "input")))))] == 4010
    assert got[("llm_tokens_total", tuple(sorted((*OK, ("gen_ai_token_type", "output")))))] == 750
    # 4010 * 2e-6 + 750 * 8e-6
    assert got[("llm_cost_usd_total", OK)] == pytest.approx(0.01402, rel=1e-12)
    name = "gen_ai_client_operation_duration_seconds"
    assert got[(f"{name}_count", OK)] == 3
    assert got[(f"{name}_sum", OK)] == pytest.approx(44.3, rel=1e-12)
    buckets = {
        dict(k)["le"]: v
        for (n, k), v in got.items()
        if n == f"{name}_bucket" and ("job", "svc") in k and ("error_type", "RateLimitError") not in k
    }
    assert buckets["0.25"] == 0 and buckets["0.5"] == 1
    assert buckets["3.0"] == 1 and buckets["5.0"] == 2
    assert buckets["30.0"] == 2 and buckets["45.0"] == 3
    assert buckets["600.0"] == 3 and buckets["+Inf"] == 3
    assert list(buckets)[-1] == "+Inf" and len(buckets) == 24
    assert got[("gen_ai_client_operation_time_to_first_chunk_seconds_count", OK)] == 1
    token_count = ("gen_ai_client_token_usage_count", tuple(sorted((*OK, ("gen_ai_token_type", "output")))))
    assert got[token_count] == 3
    token_le = tuple(sorted((*OK, ("gen_ai_token_type", "output"), ("le", "256.0"))))
    assert got[("gen_ai_client_token_usage_bucket", token_le)] == 2  # 50 and 200 tokens, not 500
    assert "# TYPE llm_calls_total counter" in text
    assert "# TYPE gen_ai_client_operation_duration_seconds histogram" in text
    # self-telemetry
    component = (("component", "connectors/llm_metrics"),)
    assert got[("otel_llm_processor_llm_calls_aggregated_total", component)] == 4
    assert got[("otel_llm_processor_series_active", component)] == 2
    assert got[("otel_llm_processor_metric_points_received_total", (("component", "prometheus"),))] == 20


async def test_promtool_accepts_the_exposition(tmp_path: Any) -> None:
    if PROMTOOL is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing (Debian package 'prometheus') and CI is set")
        pytest.skip("promtool not installed (Debian package 'prometheus')")
    exp, _ = await fed_exporter()
    text = generate_latest(exp.registry)
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout == b"" and result.stderr == b""


async def test_openmetrics_exemplars_carry_trace_and_span_ids() -> None:
    exp, _ = await fed_exporter()
    text = generate_openmetrics(exp.registry).decode()
    exemplars = {}
    for family in parse_openmetrics(text):
        for s in family.samples:
            if s.exemplar is not None:
                exemplars[(s.name, s.labels.get("le"), s.labels.get("error_type"))] = s.exemplar
    name = "gen_ai_client_operation_duration_seconds_bucket"
    assert set(exemplars) == {(name, "45.0", None), (name, "0.1", "RateLimitError")}
    ex = exemplars[(name, "45.0", None)]
    assert ex.labels == {"trace_id": (3).to_bytes(16, "big").hex(), "span_id": (103).to_bytes(8, "big").hex()}
    assert ex.value == 40.0
    assert float(ex.timestamp) == (T0 + 40 * 10**9) / 1e9
    assert "# UNIT gen_ai_client_operation_duration_seconds seconds" in text
    line = next(
        x
        for x in text.splitlines()
        if x.startswith(f'{name}{{gen_ai_operation_name="chat"') and 'le="45.0"' in x
    )
    assert ' # {span_id="0000000000000067",trace_id="00000000000000000000000000000003"} 40.0 ' in line


def test_naming_follows_prometheus_conventions() -> None:
    assert metric_name("gen_ai.client.operation.duration", "s", "histogram") == (
        "gen_ai_client_operation_duration",
        "seconds",
    )
    assert metric_name("llm.calls", "{call}", "counter") == ("llm_calls", "")
    assert metric_name("requests.total", "1", "counter") == ("requests", "")
    assert metric_name("cpu.utilization", "1", "gauge") == ("cpu_utilization", "ratio")
    assert metric_name("http.server.request.body.size", "By", "histogram") == (
        "http_server_request_body_size",
        "bytes",
    )
    assert metric_name("latency_seconds", "s", "gauge") == ("latency", "seconds")
    assert metric_name("rate", "By/s", "gauge") == ("rate", "bytes_per_second")
    assert metric_name("9lives-x", "", "gauge", "ns") == ("ns_9lives_x", "")


def _gauge_request(
    value: float, labels: dict[str, str], temporality: int | None = None
) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    metric = (
        request.resource_metrics.add()
        .scope_metrics.add()
        .metrics.add(name="queue.depth", unit="{item}", description="d")
    )
    if temporality is None:
        point = metric.gauge.data_points.add(as_double=value)
    else:
        metric.sum.is_monotonic = True
        metric.sum.aggregation_temporality = temporality
        point = metric.sum.data_points.add(as_double=value)
    point.attributes.extend(KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in labels.items())
    return request


def test_delta_sums_accumulate_and_cumulative_replace() -> None:
    store = MetricsStore(lambda unit: [1.0])
    delta = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    cumulative = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    store.add(_gauge_request(2.0, {"a": "1"}, delta))
    store.add(_gauge_request(3.0, {"a": "1"}, delta))
    ((family, series),) = list(store.snapshot())
    assert (family.name, family.kind, series[0][1].value) == ("queue_depth", "counter", 5.0)
    store.add(_gauge_request(1.0, {"a": "1"}, cumulative))
    ((_, series),) = list(store.snapshot())
    assert series[0][1].value == 1.0


def test_series_limit_and_expiry_are_counted() -> None:
    clock = Clock()
    dropped: list[str] = []
    store = MetricsStore(
        lambda unit: [1.0], max_series=2, expiration=60.0, clock=clock, on_drop=lambda r, n: dropped.append(r)
    )
    for i in range(3):
        store.add(_gauge_request(float(i), {"i": str(i)}))
    assert store.series_count == 2
    assert dropped == ["series_limit"]
    clock.now += 30
    store.add(_gauge_request(9.0, {"i": "0"}))  # refreshes one series
    clock.now += 45
    assert store.expire() == 1
    ((_, series),) = list(store.snapshot())
    assert [(dict(labels), s.value) for labels, s in series] == [({"i": "0"}, 9.0)]
    assert store.series_count == 1
    store.add(_gauge_request(5.0, {"i": "5"}))  # room again
    assert store.series_count == 2


def test_config_validates_endpoint_and_buckets() -> None:
    with pytest.raises(ValueError, match="host:port"):
        Config(endpoint="localhost")
    with pytest.raises(ValueError, match="strictly increasing"):
        Config(buckets={"s": [1.0, 0.5]})
    config = Config(buckets={"s": [1.0, 2.0]})
    assert config.bounds_for("s") == [1.0, 2.0]
    assert config.bounds_for("{token}")[-1] == float(4**13)
    assert config.bounds_for("unknown") == config.buckets["default"]


async def test_own_endpoint_serves_metrics_and_registry_is_published() -> None:
    exp, _ = exporter(Config(endpoint="127.0.0.1:0"))
    host = Host(telemetry=SelfTelemetry(), data_dir="/nonexistent")
    await exp.start(host)
    try:
        assert host.services[REGISTRY_SERVICE] is exp.registry
        await exp.consume_metrics(MetricsBatch(llm_request(), point_count=20))
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{exp.port}/metrics")
            om = await client.get(
                f"http://127.0.0.1:{exp.port}/metrics", headers={"Accept": "application/openmetrics-text"}
            )
        assert response.status_code == 200
        assert samples(response.text)[("llm_calls_total", OK)] == 3
        assert om.headers["content-type"].startswith("application/openmetrics-text")
        assert ' # {span_id="' in om.text
    finally:
        import time

        await exp.shutdown(time.monotonic() + 5)
    await exp.shutdown(0.0)  # idempotent
