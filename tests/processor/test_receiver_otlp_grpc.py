"""The otlp receiver over gRPC: real OpenTelemetry SDK exporters and raw grpc.aio clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_llm import semconv
from otel_llm_processor.component import (
    ComponentID,
    ComponentKind,
    CreateSettings,
    Host,
    PartialSuccessError,
    PermanentError,
    RetryableError,
)
from otel_llm_processor.receiver.otlp.config import Config
from otel_llm_processor.receiver.otlp.factory import FACTORY
from otel_llm_processor.selftel import SelfTelemetry

TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


class Capture:
    """A tiny consumer: records batches; can hold them behind a gate or raise."""

    def __init__(self) -> None:
        self.traces: list[Any] = []
        self.metrics: list[Any] = []
        self.logs: list[Any] = []
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def _take(self, into: list[Any], batch: Any) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        into.append(batch)

    async def consume_traces(self, batch: Any) -> None:
        await self._take(self.traces, batch)

    async def consume_metrics(self, batch: Any) -> None:
        await self._take(self.metrics, batch)

    async def consume_logs(self, batch: Any) -> None:
        await self._take(self.logs, batch)


@contextlib.asynccontextmanager
async def running(
    capture: Capture, tmp: str = ".", **overrides: Any
) -> AsyncIterator[tuple[Any, SelfTelemetry]]:
    grpc_cfg = {"endpoint": "127.0.0.1:0", **overrides.pop("grpc", {})}
    config = Config.model_validate({"protocols": {"grpc": grpc_cfg}, **overrides})
    telemetry = SelfTelemetry()
    settings = CreateSettings(
        ComponentID("otlp"),
        ComponentKind.RECEIVER,
        telemetry,
        next_traces=capture,
        next_metrics=capture,
        next_logs=capture,
    )
    receiver = FACTORY.create(settings, config)
    await receiver.start(Host(telemetry, tmp))
    try:
        yield receiver, telemetry
    finally:
        await receiver.shutdown(time.monotonic() + 5)


def make_spans() -> list[ReadableSpan]:
    """Two LLM spans and one plain HTTP span, as the SDK records them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    for tokens in (11, 12):
        attributes = {
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.GEN_AI_PROVIDER_NAME: "openai",
            semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: tokens,
        }
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes=attributes):
            pass
    with tracer.start_as_current_span(
        "GET /health", kind=SpanKind.SERVER, attributes={"http.route": "/health"}
    ):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_sdk_span_exporter_delivers_the_exact_request_and_raw_bytes() -> None:
    capture = Capture()
    spans = make_spans()
    async with running(capture) as (receiver, telemetry):
        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True, timeout=10)
        result = await asyncio.to_thread(exporter.export, spans)
        exporter.shutdown()
    assert result is SpanExportResult.SUCCESS
    assert len(capture.traces) == 1
    batch = capture.traces[0]
    assert batch.request == encode_spans(spans)  # LLM and non-LLM spans untouched
    assert batch.span_count == 3
    assert ExportTraceServiceRequest.FromString(batch.raw) == batch.request
    names = [s.name for s in batch.request.resource_spans[0].scope_spans[0].spans]
    assert names == ["chat gpt-4o", "chat gpt-4o", "GET /health"]
    assert telemetry.counter("otlp", "spans_accepted") == 3
    assert telemetry.gauge("otlp", "queue_size") == 0


async def test_sdk_metric_exporter_delivers_data_points() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "shop"}))
    counter = provider.get_meter("test").create_counter("requests")
    counter.add(2, {"route": "/a"})
    counter.add(3, {"route": "/b"})
    data = reader.get_metrics_data()
    provider.shutdown()
    capture = Capture()
    async with running(capture) as (receiver, telemetry):
        exporter = OTLPMetricExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True, timeout=10)
        result = await asyncio.to_thread(exporter.export, data)
        exporter.shutdown()
    assert result.name == "SUCCESS"
    (batch,) = capture.metrics
    assert batch.point_count == 2
    metric = batch.request.resource_metrics[0].scope_metrics[0].metrics[0]
    assert metric.name == "requests"
    assert sorted(p.as_int for p in metric.sum.data_points) == [2, 3]
    assert telemetry.counter("otlp", "metric_points_accepted") == 2


async def raw_call(port: int, method: str, data: bytes, response: Any, **kwargs: Any) -> Any:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=response.FromString)
        return await call(data, timeout=10, **kwargs)


def logs_request(records: int) -> ExportLogsServiceRequest:
    scope = ScopeLogs(log_records=[LogRecord(time_unix_nano=i + 1) for i in range(records)])
    return ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[scope])])


async def test_logs_over_raw_grpc_are_counted() -> None:
    capture = Capture()
    async with running(capture) as (receiver, telemetry):
        reply = await raw_call(
            receiver.grpc_port, LOGS, logs_request(4).SerializeToString(), ExportLogsServiceResponse
        )
    assert reply == ExportLogsServiceResponse()
    assert capture.logs[0].record_count == 4
    assert telemetry.counter("otlp", "log_records_accepted") == 4


async def test_truncated_protobuf_is_invalid_argument_and_counted() -> None:
    capture = Capture()
    data = encode_spans(make_spans()).SerializeToString()
    async with running(capture) as (receiver, telemetry):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await raw_call(receiver.grpc_port, TRACES, data[:-7], ExportTraceServiceResponse)
        # the server is still healthy afterwards
        ok = await raw_call(receiver.grpc_port, TRACES, data, ExportTraceServiceResponse)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot parse protobuf" in (info.value.details() or "")
    assert ok == ExportTraceServiceResponse()
    assert len(capture.traces) == 1
    assert telemetry.counter("otlp", "requests_refused", reason="invalid", transport="grpc") == 1


async def test_oversized_message_is_refused_by_grpc() -> None:
    capture = Capture()
    big = logs_request(1)
    big.resource_logs[0].scope_logs[0].log_records[0].body.string_value = "x" * (1024 * 1024 + 10)
    async with running(capture, grpc={"max_recv_msg_size_mib": 1}) as (receiver, _):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await raw_call(receiver.grpc_port, LOGS, big.SerializeToString(), ExportLogsServiceResponse)
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert capture.logs == []


async def test_bearer_token_required_when_configured() -> None:
    capture = Capture()
    spans = make_spans()
    data = encode_spans(spans).SerializeToString()
    async with running(capture, auth={"bearer_token": "s3cret"}) as (receiver, telemetry):
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await raw_call(receiver.grpc_port, TRACES, data, ExportTraceServiceResponse)
        with pytest.raises(grpc.aio.AioRpcError) as wrong:
            await raw_call(
                receiver.grpc_port,
                TRACES,
                data,
                ExportTraceServiceResponse,
                metadata=(("authorization", "Bearer nope"),),
            )
        exporter = OTLPSpanExporter(
            endpoint=f"127.0.0.1:{receiver.grpc_port}",
            insecure=True,
            timeout=10,
            headers={"authorization": "Bearer s3cret"},
        )
        result = await asyncio.to_thread(exporter.export, spans)
        exporter.shutdown()
    assert missing.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert wrong.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert result is SpanExportResult.SUCCESS
    assert len(capture.traces) == 1
    assert telemetry.counter("otlp", "requests_refused", reason="unauthenticated", transport="grpc") == 2


async def test_full_queue_answers_unavailable_with_retry_info_then_sdk_retry_succeeds() -> None:
    capture = Capture()
    capture.gate = asyncio.Event()
    spans = make_spans()
    data = encode_spans(spans).SerializeToString()
    queue = {"max_queued_batches": 1, "workers": 1, "retry_after": "200ms"}
    async with running(capture, queue=queue) as (receiver, telemetry):
        first = asyncio.create_task(raw_call(receiver.grpc_port, TRACES, data, ExportTraceServiceResponse))
        await wait_for(lambda: receiver.intake.pending == (1, 3))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await raw_call(receiver.grpc_port, TRACES, data, ExportTraceServiceResponse)
        assert info.value.code() is grpc.StatusCode.UNAVAILABLE
        trailers = dict(info.value.trailing_metadata() or ())
        retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (0, 200_000_000)
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
        assert status.details[0].Is(error_details_pb2.RetryInfo.DESCRIPTOR)
        assert telemetry.counter("otlp", "spans_refused") == 3

        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True, timeout=20)
        sdk = asyncio.create_task(asyncio.to_thread(exporter.export, spans))
        await wait_for(
            lambda: telemetry.counter("otlp", "requests_refused", reason="queue_full", transport="grpc") >= 2
        )
        assert not sdk.done()
        capture.gate.set()  # drain: the SDK's next retry gets in
        assert await first == ExportTraceServiceResponse()
        assert await sdk is SpanExportResult.SUCCESS
        exporter.shutdown()
    assert len(capture.traces) == 2
    assert telemetry.counter("otlp", "spans_accepted") == 6


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RetryableError("backend down", retry_after=3.0), grpc.StatusCode.UNAVAILABLE),
        (PermanentError("bad data"), grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
async def test_downstream_errors_map_to_statuses(error: Exception, code: grpc.StatusCode) -> None:
    capture = Capture()
    capture.error = error
    data = encode_spans(make_spans()).SerializeToString()
    async with running(capture) as (receiver, telemetry):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await raw_call(receiver.grpc_port, TRACES, data, ExportTraceServiceResponse)
    assert info.value.code() is code
    assert info.value.details() == str(error)
    reason = "downstream_retryable" if error.__class__ is RetryableError else "downstream_permanent"
    assert telemetry.counter("otlp", "requests_refused", reason=reason, transport="grpc") == 1
    assert telemetry.counter("otlp", "spans_refused") == 3
    if code is grpc.StatusCode.UNAVAILABLE:
        trailers = dict(info.value.trailing_metadata() or ())
        retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert retry.retry_delay.seconds == 3


async def test_partial_success_reports_rejected_spans() -> None:
    capture = Capture()
    capture.error = PartialSuccessError("2 spans too large", rejected=2)
    data = encode_spans(make_spans()).SerializeToString()
    async with running(capture) as (receiver, telemetry):
        reply = await raw_call(receiver.grpc_port, TRACES, data, ExportTraceServiceResponse)
    assert reply.partial_success.rejected_spans == 2
    assert reply.partial_success.error_message == "2 spans too large"
    assert telemetry.counter("otlp", "spans_accepted") == 1
    assert telemetry.counter("otlp", "spans_refused") == 2


async def test_empty_request_is_ok_and_not_delivered() -> None:
    capture = Capture()
    async with running(capture) as (receiver, _):
        reply = await raw_call(receiver.grpc_port, TRACES, b"", ExportTraceServiceResponse)
    assert reply == ExportTraceServiceResponse()
    assert capture.traces == []


async def test_only_signals_with_a_pipeline_are_served() -> None:
    config = Config.model_validate({"protocols": {"grpc": {"endpoint": "127.0.0.1:0"}}})
    telemetry = SelfTelemetry()
    capture = Capture()
    settings = CreateSettings(ComponentID("otlp"), ComponentKind.RECEIVER, telemetry, next_traces=capture)
    receiver = FACTORY.create(settings, config)
    await receiver.start(Host(telemetry, "."))
    try:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await raw_call(
                receiver.grpc_port, LOGS, logs_request(1).SerializeToString(), ExportLogsServiceResponse
            )
    finally:
        await receiver.shutdown(time.monotonic() + 5)
        await receiver.shutdown(time.monotonic() + 5)  # idempotent
    assert info.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_shutdown_delivers_what_is_queued() -> None:
    capture = Capture()
    capture.gate = asyncio.Event()
    data = encode_spans(make_spans()).SerializeToString()
    async with running(capture, queue={"workers": 1}) as (receiver, _):
        calls = [
            asyncio.create_task(raw_call(receiver.grpc_port, TRACES, data, ExportTraceServiceResponse))
            for _ in range(3)
        ]
        await wait_for(lambda: receiver.intake.pending == (3, 9))
        stopping = asyncio.create_task(receiver.shutdown(time.monotonic() + 10))
        await asyncio.sleep(0.05)
        capture.gate.set()
        await stopping
        replies = await asyncio.gather(*calls)
    assert replies == [ExportTraceServiceResponse()] * 3
    assert len(capture.traces) == 3


def _self_signed(tmp_path: Any) -> tuple[str, str]:
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", key, "-out", cert, "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls(tmp_path: Any) -> None:
    cert, key = _self_signed(tmp_path)
    capture = Capture()
    data = logs_request(2).SerializeToString()
    with open(cert, "rb") as f:
        root = f.read()
    tls = {"cert_file": cert, "key_file": key}
    async with running(capture, grpc={"tls": tls}) as (receiver, _):
        credentials = grpc.ssl_channel_credentials(root_certificates=root)
        async with grpc.aio.secure_channel(f"localhost:{receiver.grpc_port}", credentials) as channel:
            call = channel.unary_unary(
                LOGS, request_serializer=None, response_deserializer=ExportLogsServiceResponse.FromString
            )
            reply = await call(data, timeout=10)
        with pytest.raises(grpc.aio.AioRpcError):  # plaintext is refused
            await raw_call(receiver.grpc_port, LOGS, data, ExportLogsServiceResponse)
    assert reply == ExportLogsServiceResponse()
    assert capture.logs[0].record_count == 2
    assert os.path.exists(cert)
