"""Pipeline graph: instances, wiring, fan-out, connectors, lifecycle order, error combination."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from pydantic import BaseModel, ConfigDict

from otel_llm_processor.component import (
    ComponentKind,
    CreateSettings,
    Factory,
    Host,
    MetricsBatch,
    PartialSuccessError,
    PermanentError,
    RetryableError,
    Signal,
    TracesBatch,
)
from otel_llm_processor.config import load_config_text
from otel_llm_processor.exporter.debug.factory import FACTORY as DEBUG
from otel_llm_processor.pipeline import Fanout, StartError, build_pipelines, combine_errors
from otel_llm_processor.selftel import SelfTelemetry

R, P, C, E = ComponentKind.RECEIVER, ComponentKind.PROCESSOR, ComponentKind.CONNECTOR, ComponentKind.EXPORTER
T, M, L, A = Signal.TRACES, Signal.METRICS, Signal.LOGS, Signal.ALERTS


class FakeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail_start: bool = False
    hang_shutdown: bool = False
    error: str = ""  # exporter: "retryable" | "permanent"


EVENTS: list[str] = []


class Fake:
    def __init__(self, settings: CreateSettings, config: FakeConfig) -> None:
        self.settings = settings
        self.config = config
        self.name = f"{settings.kind.value}.{settings.id}"
        self.seen: list[Any] = []

    async def start(self, host: Host) -> None:
        EVENTS.append(f"start {self.name}")
        if self.config.fail_start:
            raise OSError("port in use")

    async def shutdown(self, deadline: float) -> None:
        EVENTS.append(f"stop {self.name}")
        if self.config.hang_shutdown:
            await asyncio.sleep(3600)


class Processor(Fake):
    """Appends its id to every span name (it modifies data)."""

    async def consume_traces(self, batch: TracesBatch) -> None:
        self.seen.append(batch)
        for rs in batch.request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    span.name += f"+{self.settings.id}"
        batch.raw = None
        await self.settings.next_traces.consume_traces(batch)  # type: ignore[union-attr]


class Connector(Fake):
    """traces -> metrics: one metrics batch per traces batch."""

    async def consume_traces(self, batch: TracesBatch) -> None:
        self.seen.append(batch)
        request = ExportMetricsServiceRequest()
        request.resource_metrics.add().scope_metrics.add().metrics.add(name=f"spans={batch.span_count}")
        await self.settings.next_metrics.consume_metrics(MetricsBatch(request, None, 1))  # type: ignore[union-attr]


class Exporter(Fake):
    async def _take(self, batch: Any) -> None:
        if self.config.error == "retryable":
            raise RetryableError(f"{self.settings.id} down", retry_after=2.0)
        if self.config.error == "permanent":
            raise PermanentError(f"{self.settings.id} refused")
        self.seen.append(batch)

    async def consume_traces(self, batch: TracesBatch) -> None:
        await self._take(batch)

    async def consume_metrics(self, batch: MetricsBatch) -> None:
        await self._take(batch)


FACTORIES = {
    (R, "in"): Factory("in", R, FakeConfig, Fake, frozenset({T, M, L})),
    (P, "tag"): Factory("tag", P, FakeConfig, Processor, frozenset({T})),
    (P, "pure"): Factory("pure", P, FakeConfig, Processor, frozenset({T}), extra={"mutates_data": False}),
    (C, "count"): Factory("count", C, FakeConfig, Connector, frozenset({T}), frozenset({M})),
    (E, "out"): Factory("out", E, FakeConfig, Exporter, frozenset({T, M})),
    (E, "debug"): DEBUG,
}

GRAPH = """
receivers: {in: {}, in/unused: {}}
processors: {tag/a: {}, tag/b: {}}
connectors: {count: {}}
exporters: {out/1: {}, out/2: {}, debug: {}}
service:
  pipelines:
    traces/first:
      receivers: [in]
      processors: [tag/a, tag/b]
      exporters: [out/1, count]
    traces/second:
      receivers: [in]
      exporters: [out/1, out/2]
    metrics:
      receivers: [count, in]
      exporters: [out/2, debug]
"""


def traces(*names: str) -> TracesBatch:
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(name=n) for n in names])])]
    )
    return TracesBatch(request, request.SerializeToString(), len(names))


def build(text: str) -> Any:
    EVENTS.clear()
    return build_pipelines(load_config_text(text, factories=FACTORIES), SelfTelemetry())


def test_one_instance_per_id_and_processors_per_pipeline() -> None:
    pipelines = build(GRAPH)
    kinds = [(n.kind.value, str(n.id), n.pipeline) for n in pipelines.nodes]
    assert sorted(kinds) == sorted(
        [
            ("receivers", "in", ""),
            ("processors", "tag/a", "traces/first"),
            ("processors", "tag/b", "traces/first"),
            ("connectors", "count", ""),
            ("exporters", "out/1", ""),
            ("exporters", "out/2", ""),
            ("exporters", "debug", ""),
        ]
    )  # the unused receiver is not created
    receiver = pipelines.get(R, "in")
    fan = receiver.settings.next_traces
    assert isinstance(fan, Fanout)
    assert fan.consumers[0] is pipelines.get(P, "tag/a")
    assert isinstance(fan.consumers[1], Fanout)
    assert fan.consumers[1].consumers == (pipelines.get(E, "out/1"), pipelines.get(E, "out/2"))
    assert receiver.settings.next_logs is None
    assert pipelines.get(P, "tag/a").settings.next_traces is pipelines.get(P, "tag/b")
    connector = pipelines.get(C, "count")
    assert connector.settings.next_metrics.consumers == (pipelines.get(E, "out/2"), pipelines.get(E, "debug"))
    assert receiver.settings.next_metrics is connector.settings.next_metrics is not None


async def test_data_flows_through_processors_fanout_and_connector(caplog: pytest.LogCaptureFixture) -> None:
    pipelines = build(GRAPH)
    caplog.set_level(logging.INFO, "otel_llm_processor.exporter.debug")
    batch = traces("x", "y")
    await pipelines.get(R, "in").settings.next_traces.consume_traces(batch)
    out1, out2 = pipelines.get(E, "out/1"), pipelines.get(E, "out/2")
    # first pipeline got its own copy (its processors modify data); the second got the original
    first, second = out1.seen
    assert [s.name for s in first.request.resource_spans[0].scope_spans[0].spans] == [
        "x+tag/a+tag/b",
        "y+tag/a+tag/b",
    ]
    assert first.raw is None
    assert second is batch and batch.raw == traces("x", "y").raw
    metrics, shared = out2.seen  # metrics via the connector of the first pipeline, then the second
    assert shared is batch
    assert metrics.request.resource_metrics[0].scope_metrics[0].metrics[0].name == "spans=2"
    assert [r.getMessage() for r in caplog.records] == ["debug: 1 metric_points in 1 resource(s)"]


async def test_fanout_delivers_to_all_and_combines_errors() -> None:
    text = GRAPH.replace("out/2: {}", "out/2: {error: retryable}").replace(
        "out/1: {}", "out/1: {error: permanent}"
    )
    pipelines = build(text)
    batch = traces("x")
    with pytest.raises(RetryableError) as info:
        await pipelines.get(R, "in").settings.next_traces.consume_traces(batch)
    assert info.value.retry_after == 2.0
    assert str(info.value) == "out/1 refused; out/2 down; out/1 refused; out/2 down"
    assert pipelines.get(E, "debug") is not None


def test_combine_errors() -> None:
    permanent, retry1, retry5 = PermanentError("p"), RetryableError("r1", 1.0), RetryableError("r5", 5.0)
    assert combine_errors([permanent]) is permanent
    combined = combine_errors([permanent, retry1, retry5])
    assert isinstance(combined, RetryableError) and combined.retry_after == 5.0
    assert combine_errors([RetryableError("a"), RetryableError("b")]).retry_after is None  # type: ignore[attr-defined]
    partial = combine_errors([PartialSuccessError("a", 2), PartialSuccessError("b", 5)])
    assert isinstance(partial, PartialSuccessError) and partial.rejected == 5
    mixed = combine_errors([PartialSuccessError("a", 2), permanent])
    assert type(mixed) is PermanentError and str(mixed) == "a; p"


async def test_non_mutating_processors_share_the_batch() -> None:
    text = """
receivers: {in: {}}
processors: {pure: {}}
exporters: {out/1: {}, out/2: {}}
service:
  pipelines:
    traces/a: {receivers: [in], processors: [pure], exporters: [out/1]}
    traces/b: {receivers: [in], exporters: [out/2]}
"""
    pipelines = build(text)
    batch = traces("x")
    await pipelines.get(R, "in").settings.next_traces.consume_traces(batch)
    assert pipelines.get(E, "out/1").seen == [batch] and pipelines.get(E, "out/1").seen[0] is batch


async def test_start_downstream_first_and_stop_upstream_first_idempotently() -> None:
    pipelines = build(GRAPH)
    host = Host(SelfTelemetry(), ".")
    await pipelines.start(host)
    await pipelines.start(host)
    await pipelines.shutdown(time.monotonic() + 5)
    await pipelines.shutdown(time.monotonic() + 5)
    starts = [e for e in EVENTS if e.startswith("start")]
    stops = [e for e in EVENTS if e.startswith("stop")]
    assert starts == [
        "start exporters.out/1",
        "start exporters.out/2",
        "start connectors.count",
        "start processors.tag/b",
        "start processors.tag/a",
        "start receivers.in",
    ]  # the debug exporter records nothing
    assert stops == [s.replace("start", "stop") for s in reversed(starts)]


async def test_shutdown_before_start_is_safe_and_a_hanging_component_does_not_block() -> None:
    pipelines = build(GRAPH.replace("tag/a: {}", "tag/a: {hang_shutdown: true}"))
    await pipelines.shutdown(time.monotonic() + 0.2)
    assert EVENTS[-1] == "stop exporters.out/1"  # everything after the hanging one still stopped


async def test_a_failed_start_names_the_component_and_stops_the_others() -> None:
    pipelines = build(GRAPH.replace("count: {}", "count: {fail_start: true}"))
    with pytest.raises(StartError, match=r"^connectors.count: failed to start: port in use$"):
        await pipelines.start(Host(SelfTelemetry(), "."))
    assert "start receivers.in" not in EVENTS
    assert EVENTS[-2:] == ["stop exporters.out/2", "stop exporters.out/1"]


async def test_debug_exporter_counts_and_logs_every_signal(caplog: pytest.LogCaptureFixture) -> None:
    telemetry = SelfTelemetry()
    exporter = DEBUG.create(
        CreateSettings(DEBUG_ID, E, telemetry), DEBUG.config_class.model_validate({"verbosity": "detailed"})
    )
    caplog.set_level(logging.INFO, "otel_llm_processor.exporter.debug")
    await exporter.consume_traces(traces("a", "b"))
    await exporter.consume_alerts([_Alert()])
    assert telemetry.counter("debug/dev", "spans_exported") == 2
    assert telemetry.counter("debug/dev", "alerts_exported") == 1
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "debug/dev: 2 spans in 1 resource(s)"
    assert 'name: "a"' in messages[1]
    assert messages[2] == "debug/dev: alert high_latency firing [WARNING] p95 above 2s"


class _Alert:
    rule, state, severity, summary = "high_latency", "firing", "WARNING", "p95 above 2s"


DEBUG_ID = __import__("otel_llm_processor.component", fromlist=["ComponentID"]).ComponentID("debug", "dev")
