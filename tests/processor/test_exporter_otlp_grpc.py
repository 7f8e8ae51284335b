"""The ``otlp`` exporter over gRPC against a real in-test OTLP gRPC server (grpc.aio)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import grpc
import grpc.aio
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from otel_llm import semconv
from otel_llm_processor.component import (
    ComponentID,
    ComponentKind,
    CreateSettings,
    Host,
    LogsBatch,
    MetricsBatch,
    RetryableError,
    Signal,
    TracesBatch,
)
from otel_llm_processor.exporter.otlp import FACTORY, Config, OtlpExporter
from otel_llm_processor.exporter.otlp.exporter import queue_directory
from otel_llm_processor.exporter.otlp.transport import GrpcTransport
from otel_llm_processor.exporterhelper import QueueFullError, QueueItem, SendRetryableError
from otel_llm_processor.selftel import SelfTelemetry

ExportTraceServiceRequest = trace_service_pb2.ExportTraceServiceRequest
ExportTraceServiceResponse = trace_service_pb2.ExportTraceServiceResponse
COMPONENT = "otlp/backend"


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def _kv(key: str, value: object) -> common_pb2.KeyValue:
    if isinstance(value, bool):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(bool_value=value))
    if isinstance(value, int):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(int_value=value))
    if isinstance(value, float):
        return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(double_value=value))
    if isinstance(value, list):
        values = [common_pb2.AnyValue(string_value=v) for v in value]
        return common_pb2.KeyValue(
            key=key, value=common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=values))
        )
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(string_value=str(value)))


def llm_request(batch: int, spans: int = 4) -> ExportTraceServiceRequest:
    """LLM chat spans with distinct ids per (batch, span)."""
    out = []
    for i in range(spans):
        attrs = {
            semconv.GEN_AI_OPERATION_NAME: semconv.OP_CHAT,
            semconv.GEN_AI_PROVIDER_NAME: semconv.PROVIDER_OPENAI,
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
            semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-2024-08-06",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 100 + i,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 20 + batch,
            semconv.GEN_AI_REQUEST_TEMPERATURE: 0.25,
            semconv.GEN_AI_REQUEST_STREAM: True,
            semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
        }
        out.append(
            trace_pb2.Span(
                trace_id=batch.to_bytes(8, "big") + i.to_bytes(8, "big"),
                span_id=(batch * 1000 + i + 1).to_bytes(8, "big"),
                name="chat gpt-4o",
                kind=trace_pb2.Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=1_700_000_000_000_000_000 + i,
                end_time_unix_nano=1_700_000_001_000_000_000 + i,
                attributes=[_kv(k, v) for k, v in attrs.items()],
            )
        )
    resource = resource_pb2.Resource(attributes=[_kv(semconv.SERVICE_NAME, f"svc-{batch}")])
    return ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource,
                scope_spans=[
                    trace_pb2.ScopeSpans(scope=common_pb2.InstrumentationScope(name="otel_llm"), spans=out)
                ],
            )
        ]
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def non_canonical_bytes(request: ExportTraceServiceRequest) -> bytes:
    """Valid encoding of ``request`` that protobuf would never produce (over-long length varints).

    Re-serialising the parsed message gives different bytes, so receiving exactly these bytes
    proves the exporter forwarded what it received instead of re-encoding it.
    """
    out = bytearray()
    for rs in request.resource_spans:
        body = rs.SerializeToString()
        padded = bytearray(_varint(len(body)))
        padded[-1] |= 0x80
        padded.append(0x00)
        out += b"\x0a" + padded + body
    return bytes(out)


def trace_batch(batch: int, spans: int = 4, raw: bool = True) -> TracesBatch:
    request = llm_request(batch, spans)
    return TracesBatch(request=request, raw=request.SerializeToString() if raw else None, span_count=spans)


def trace_ids(data: bytes) -> list[bytes]:
    request = ExportTraceServiceRequest.FromString(data)
    return [s.trace_id for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


# --------------------------------------------------------------------------------------------
# Backend: a real OTLP gRPC server
# --------------------------------------------------------------------------------------------
class Backend(trace_service_pb2_grpc.TraceServiceServicer):
    """Records the exact request bytes per signal; scripted failures are served first."""

    def __init__(self) -> None:
        self.received: dict[Signal, list[bytes]] = {Signal.TRACES: [], Signal.METRICS: [], Signal.LOGS: []}
        self.calls = 0
        self.metadata: list[dict[str, str]] = []
        self.failures: list[tuple[grpc.StatusCode, bytes | None]] = []
        self.partial_rejected = 0
        self.server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        server = grpc.aio.server()

        def handler(signal: Signal, response: type) -> grpc.RpcMethodHandler:
            async def export(request: bytes, context: grpc.aio.ServicerContext) -> object:
                return await self._export(signal, request, context, response)

            # Identity deserializer: keep the bytes exactly as they came over the wire.
            return grpc.unary_unary_rpc_method_handler(
                export, request_deserializer=None, response_serializer=response.SerializeToString
            )

        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "opentelemetry.proto.collector.trace.v1.TraceService",
                    {"Export": handler(Signal.TRACES, ExportTraceServiceResponse)},
                ),
                grpc.method_handlers_generic_handler(
                    "opentelemetry.proto.collector.metrics.v1.MetricsService",
                    {"Export": handler(Signal.METRICS, metrics_service_pb2.ExportMetricsServiceResponse)},
                ),
                grpc.method_handlers_generic_handler(
                    "opentelemetry.proto.collector.logs.v1.LogsService",
                    {"Export": handler(Signal.LOGS, logs_service_pb2.ExportLogsServiceResponse)},
                ),
            )
        )
        self.port = server.add_insecure_port(f"127.0.0.1:{port}")
        assert self.port
        await server.start()
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(None)
            self.server = None

    async def _export(
        self, signal: Signal, request: bytes, context: grpc.aio.ServicerContext, response: type
    ) -> object:
        self.calls += 1
        self.metadata.append({k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)})
        if self.failures:
            code, details = self.failures.pop(0)
            if details is not None:
                context.set_trailing_metadata((("grpc-status-details-bin", details),))
            await context.abort(code, "scripted failure")
        self.received[signal].append(request)
        if signal is Signal.TRACES and self.partial_rejected:
            return response(
                partial_success=trace_service_pb2.ExportTracePartialSuccess(
                    rejected_spans=self.partial_rejected, error_message="too old"
                )
            )
        return response()


def retry_info(code: grpc.StatusCode, delay: timedelta) -> bytes:
    detail = any_pb2.Any()
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromTimedelta(delay)
    detail.Pack(info)
    return status_pb2.Status(code=code.value[0], message="slow down", details=[detail]).SerializeToString()


@pytest.fixture
async def backend() -> object:
    server = Backend()
    await server.start()
    yield server
    await server.stop()


def make_exporter(
    tmp_path: object, port: int, tel: SelfTelemetry, **overrides: object
) -> tuple[OtlpExporter, Host]:
    raw: dict[str, object] = {
        "endpoint": f"127.0.0.1:{port}",
        "tls": {"insecure": True},
        "compression": "none",
        "timeout": 5,
        "retry_on_failure": {"initial_interval": "20ms", "max_interval": "100ms", "max_elapsed_time": 0},
        "sending_queue": {"num_consumers": 2},
    }
    raw.update(overrides)
    config = FACTORY.config_class.model_validate(raw)
    settings = CreateSettings(id=ComponentID.parse(COMPONENT), kind=ComponentKind.EXPORTER, telemetry=tel)
    exporter = FACTORY.create(settings, config)
    assert isinstance(exporter, OtlpExporter)
    return exporter, Host(telemetry=tel, data_dir=str(tmp_path))


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def stopped(exporter: OtlpExporter, seconds: float = 5.0) -> None:
    await exporter.shutdown(time.monotonic() + seconds)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------
async def test_traces_are_forwarded_byte_for_byte(backend: Backend, tmp_path: object) -> None:
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel, compression="gzip")
    await exporter.start(host)
    request = llm_request(7, spans=5)
    raw = non_canonical_bytes(request)
    parsed = ExportTraceServiceRequest.FromString(raw)
    assert parsed == request and parsed.SerializeToString() != raw
    await exporter.consume_traces(TracesBatch(request=parsed, raw=raw, span_count=5))
    await until(lambda: len(backend.received[Signal.TRACES]) == 1)
    assert backend.received[Signal.TRACES] == [raw]
    await stopped(exporter)
    assert tel.counter(COMPONENT, "items_sent") == 5
    assert tel.gauge(COMPONENT, "items_queued") == 0


async def test_modified_traces_are_serialised_with_ids_attributes_and_resource(
    backend: Backend, tmp_path: object
) -> None:
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel)
    await exporter.start(host)
    batch = trace_batch(3, spans=6, raw=False)
    batch.span_count = 0  # counted by the exporter when the receiver did not
    await exporter.consume_traces(batch)
    await until(lambda: len(backend.received[Signal.TRACES]) == 1)
    got = ExportTraceServiceRequest.FromString(backend.received[Signal.TRACES][0])
    assert got == llm_request(3, spans=6)
    span = got.resource_spans[0].scope_spans[0].spans[2]
    assert span.trace_id == (3).to_bytes(8, "big") + (2).to_bytes(8, "big")
    assert span.span_id == (3003).to_bytes(8, "big")
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS].int_value == 102
    assert attrs[semconv.GEN_AI_REQUEST_TEMPERATURE].double_value == 0.25
    assert [v.string_value for v in attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS].array_value.values] == [
        "stop"
    ]
    assert got.resource_spans[0].resource.attributes[0].value.string_value == "svc-3"
    await stopped(exporter)
    assert tel.counter(COMPONENT, "items_sent") == 6


async def test_metrics_and_logs_go_to_their_services(backend: Backend, tmp_path: object) -> None:
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel)
    await exporter.start(host)
    points = [metrics_pb2.NumberDataPoint(as_int=i, time_unix_nano=i + 1) for i in range(3)]
    metrics = metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                scope_metrics=[
                    metrics_pb2.ScopeMetrics(
                        metrics=[
                            metrics_pb2.Metric(
                                name="calls",
                                sum=metrics_pb2.Sum(
                                    data_points=points,
                                    is_monotonic=True,
                                    aggregation_temporality=metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE,
                                ),
                            )
                        ]
                    )
                ]
            )
        ]
    )
    logs = logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                scope_logs=[
                    logs_pb2.ScopeLogs(log_records=[logs_pb2.LogRecord(event_name="e", severity_number=5)])
                ]
            )
        ]
    )
    await exporter.consume_metrics(MetricsBatch(request=metrics))
    await exporter.consume_logs(LogsBatch(request=logs))
    await until(
        lambda: len(backend.received[Signal.METRICS]) == 1 and len(backend.received[Signal.LOGS]) == 1
    )
    assert (
        metrics_service_pb2.ExportMetricsServiceRequest.FromString(backend.received[Signal.METRICS][0])
        == metrics
    )
    assert logs_service_pb2.ExportLogsServiceRequest.FromString(backend.received[Signal.LOGS][0]) == logs
    await stopped(exporter)
    assert tel.counter(COMPONENT, "items_sent") == 4  # 3 points + 1 record


async def test_backend_down_then_up_loses_nothing(tmp_path: object) -> None:
    backend = Backend()
    await backend.start()
    port = backend.port
    await backend.stop()
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, port, tel)
    await exporter.start(host)
    sent = {i: trace_batch(i) for i in range(12)}
    for batch in sent.values():
        await exporter.consume_traces(batch)
    await until(lambda: tel.counter(COMPONENT, "retries") >= 4)
    assert tel.counter(COMPONENT, "items_sent") == 0
    assert tel.gauge(COMPONENT, "items_queued") == 48
    await backend.start(port)
    try:
        await until(lambda: len(backend.received[Signal.TRACES]) == 12)
        assert sorted(backend.received[Signal.TRACES]) == sorted(b.raw for b in sent.values() if b.raw)
        await stopped(exporter)
        assert tel.counter(COMPONENT, "items_sent") == 48
        assert tel.counter(COMPONENT, "items_send_failed", reason="unavailable") >= 4 * 4
        assert [s for s in tel.samples() if s.name == "items_dropped"] == []
        assert tel.gauge(COMPONENT, "items_queued") == 0
    finally:
        await backend.stop()


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
async def test_throttled_with_retry_info_is_retried(
    backend: Backend, tmp_path: object, code: grpc.StatusCode
) -> None:
    backend.failures = [(code, retry_info(code, timedelta(milliseconds=30)))] * 2
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel)
    await exporter.start(host)
    batch = trace_batch(1)
    await exporter.consume_traces(batch)
    await until(lambda: len(backend.received[Signal.TRACES]) == 1)
    await stopped(exporter)
    assert backend.received[Signal.TRACES] == [batch.raw]
    assert backend.calls == 3
    assert tel.counter(COMPONENT, "retries") == 2
    assert tel.counter(COMPONENT, "items_send_failed", reason=code.name.lower()) == 8
    assert tel.counter(COMPONENT, "items_sent") == 4


async def test_retry_info_delay_reaches_the_sender(backend: Backend, tmp_path: object) -> None:
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    backend.failures = [(code, retry_info(code, timedelta(seconds=2, milliseconds=250)))]
    config = Config(endpoint=f"http://127.0.0.1:{backend.port}", compression="none")
    transport = GrpcTransport(config)
    await transport.start()
    try:
        with pytest.raises(SendRetryableError) as info:
            await transport.send(QueueItem(Signal.TRACES, llm_request(1).SerializeToString(), 4))
    finally:
        await transport.close()
    assert info.value.retry_after == 2.25
    assert info.value.reason == "resource_exhausted"


@pytest.mark.parametrize(
    ("code", "details"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, None),
        (grpc.StatusCode.PERMISSION_DENIED, None),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, None),  # without RetryInfo: permanent
    ],
)
async def test_permanent_status_is_dropped_and_counted_not_retried(
    backend: Backend, tmp_path: object, code: grpc.StatusCode, details: bytes | None
) -> None:
    backend.failures = [(code, details)]
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel)
    await exporter.start(host)
    await exporter.consume_traces(trace_batch(1))
    await until(lambda: tel.counter(COMPONENT, "items_dropped", reason="permanent") == 4)
    await stopped(exporter)
    assert backend.calls == 1
    assert backend.received[Signal.TRACES] == []
    assert tel.counter(COMPONENT, "items_send_failed", reason=code.name.lower()) == 4
    assert tel.counter(COMPONENT, "retries") == 0
    assert tel.counter(COMPONENT, "items_sent") == 0


async def test_partial_success_counts_rejected_as_dropped(backend: Backend, tmp_path: object) -> None:
    backend.partial_rejected = 3
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel)
    await exporter.start(host)
    await exporter.consume_traces(trace_batch(1, spans=10))
    await until(lambda: tel.counter(COMPONENT, "items_sent") > 0)
    await stopped(exporter)
    assert backend.calls == 1
    assert tel.counter(COMPONENT, "items_sent") == 7
    assert tel.counter(COMPONENT, "items_dropped", reason="rejected") == 3


async def test_full_queue_raises_retryable_and_counts_refusal(tmp_path: object) -> None:
    backend = Backend()
    await backend.start()
    port = backend.port
    await backend.stop()
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, port, tel, sending_queue={"queue_size": 3, "num_consumers": 1})
    await exporter.start(host)
    for i in range(3):
        await exporter.consume_traces(trace_batch(i))
    with pytest.raises(QueueFullError) as info:
        await exporter.consume_traces(trace_batch(99))
    assert isinstance(info.value, RetryableError)
    assert tel.counter(COMPONENT, "items_refused", reason="queue_full") == 4
    assert tel.gauge(COMPONENT, "items_queued") == 12
    await exporter.shutdown(time.monotonic() + 0.05)
    # Memory queue: what was still queued at the deadline is lost, and counted.
    assert tel.counter(COMPONENT, "items_dropped", reason="shutdown") == 12
    assert tel.gauge(COMPONENT, "items_queued") == 0


async def test_persistent_queue_survives_a_restart(tmp_path: object) -> None:
    backend = Backend()
    await backend.start()
    port = backend.port
    await backend.stop()
    queue = {"storage": "file", "num_consumers": 1}
    tel1 = SelfTelemetry()
    first, host = make_exporter(tmp_path, port, tel1, sending_queue=queue)
    await first.start(host)
    sent = [trace_batch(i) for i in range(6)]
    for batch in sent:
        await first.consume_traces(batch)
    await until(lambda: tel1.counter(COMPONENT, "retries") >= 1)
    await first.shutdown(time.monotonic() + 0.1)
    assert [s for s in tel1.samples() if s.name == "items_dropped"] == []
    assert tel1.counter(COMPONENT, "items_sent") == 0
    db = f"{queue_directory(str(tmp_path), COMPONENT)}/queue.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 6

    await backend.start(port)
    try:
        tel2 = SelfTelemetry()
        second, host = make_exporter(tmp_path, port, tel2, sending_queue=queue)
        await second.start(host)
        assert tel2.gauge(COMPONENT, "items_queued") == 24
        await second.consume_traces(trace_batch(100))
        await until(lambda: len(backend.received[Signal.TRACES]) == 7)
        await stopped(second)
    finally:
        await backend.stop()
    # Pending entries first, in their original order, then the new one.
    assert backend.received[Signal.TRACES] == [b.raw for b in sent] + [trace_batch(100).raw]
    assert tel2.counter(COMPONENT, "items_sent") == 28
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 0


async def test_headers_are_sent_and_never_in_repr(backend: Backend, tmp_path: object) -> None:
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel, headers={"Authorization": "Bearer s3cr3t"})
    await exporter.start(host)
    await exporter.consume_traces(trace_batch(1))
    await until(lambda: len(backend.received[Signal.TRACES]) == 1)
    await stopped(exporter)
    assert backend.metadata[0]["authorization"] == "Bearer s3cr3t"
    config = Config(endpoint="x:1", headers={"authorization": "Bearer s3cr3t"})
    assert "s3cr3t" not in repr(config) and "s3cr3t" not in str(config)


async def test_lifecycle_is_idempotent(backend: Backend, tmp_path: object) -> None:
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel)
    with pytest.raises(RetryableError):
        await exporter.consume_traces(trace_batch(1))
    await exporter.start(host)
    await exporter.start(host)
    await exporter.consume_traces(trace_batch(1))
    await until(lambda: len(backend.received[Signal.TRACES]) == 1)
    await stopped(exporter)
    await stopped(exporter)
    with pytest.raises(RetryableError):
        await exporter.consume_traces(trace_batch(2))
    assert len(backend.received[Signal.TRACES]) == 1

    never_started, _ = make_exporter(tmp_path, backend.port, tel)
    await stopped(never_started)


async def test_without_queue_the_caller_gets_the_error(backend: Backend, tmp_path: object) -> None:
    backend.failures = [(grpc.StatusCode.INVALID_ARGUMENT, None)]
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel, sending_queue={"enabled": False})
    await exporter.start(host)
    with pytest.raises(Exception) as info:
        await exporter.consume_traces(trace_batch(1))
    assert getattr(info.value, "retryable", None) is False
    await exporter.consume_traces(trace_batch(2))
    await stopped(exporter)
    assert backend.received[Signal.TRACES] == [trace_batch(2).raw]
    assert tel.counter(COMPONENT, "items_sent") == 4


async def test_tls_with_ca_file(tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI not installed")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    received: list[bytes] = []

    async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        received.append(request)
        return b""

    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(export, request_deserializer=None, response_serializer=None)
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}
            ),
        )
    )
    port = server.add_secure_port(
        "127.0.0.1:0", grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    )
    await server.start()
    try:
        tel = SelfTelemetry()
        exporter, host = make_exporter(tmp_path, port, tel, tls={"ca_file": str(cert)})
        await exporter.start(host)
        batch = trace_batch(4)
        await exporter.consume_traces(batch)
        await until(lambda: len(received) == 1)
        await stopped(exporter)
        assert received == [batch.raw]

        # Without the CA the handshake fails: retryable, nothing delivered, nothing dropped yet.
        tel = SelfTelemetry()
        untrusted, host = make_exporter(tmp_path, port, tel, tls={"insecure": False})
        await untrusted.start(host)
        await untrusted.consume_traces(trace_batch(5))
        await until(lambda: tel.counter(COMPONENT, "retries") >= 1)
        await untrusted.shutdown(time.monotonic() + 0.05)
        assert tel.counter(COMPONENT, "items_send_failed", reason="unavailable") >= 4
        assert len(received) == 1
    finally:
        await server.stop(None)
