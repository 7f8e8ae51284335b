"""The otlp receiver over HTTP: real SDK exporters (http/protobuf) and raw httpx requests."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from otel_llm import semconv
from otel_llm_processor.component import (
    ComponentID,
    ComponentKind,
    CreateSettings,
    Host,
    PartialSuccessError,
)
from otel_llm_processor.receiver.otlp.config import Config
from otel_llm_processor.receiver.otlp.factory import FACTORY
from otel_llm_processor.selftel import SelfTelemetry

PB = "application/x-protobuf"
JSON = "application/json"
TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"
PARENT_ID = "eee19b7ec3c1b173"


class Capture:
    def __init__(self) -> None:
        self.traces: list[Any] = []
        self.metrics: list[Any] = []
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def consume_traces(self, batch: Any) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.traces.append(batch)

    async def consume_metrics(self, batch: Any) -> None:
        self.metrics.append(batch)


@contextlib.asynccontextmanager
async def running(capture: Capture, **overrides: Any) -> AsyncIterator[tuple[Any, SelfTelemetry, str]]:
    http_cfg = {"endpoint": "127.0.0.1:0", **overrides.pop("http", {})}
    config = Config.model_validate({"protocols": {"http": http_cfg}, **overrides})
    telemetry = SelfTelemetry()
    settings = CreateSettings(
        ComponentID("otlp"), ComponentKind.RECEIVER, telemetry, next_traces=capture, next_metrics=capture
    )
    receiver = FACTORY.create(settings, config)
    await receiver.start(Host(telemetry, "."))
    try:
        yield receiver, telemetry, f"http://127.0.0.1:{receiver.http_port}"
    finally:
        await receiver.shutdown(time.monotonic() + 5)


def make_spans() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    attributes = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "gpt-4o"}
    with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes=attributes):
        pass
    with tracer.start_as_current_span("GET /", kind=SpanKind.SERVER):
        pass
    provider.shutdown()
    return list(memory.get_finished_spans())


def json_body(**extra: Any) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "test"},
                        "spans": [
                            {
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                                "parentSpanId": PARENT_ID,
                                "name": "chat gpt-4o",
                                "kind": 3,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": 1700000001000000000,
                                "attributes": [
                                    {"key": semconv.GEN_AI_USAGE_INPUT_TOKENS, "value": {"intValue": "42"}},
                                    {"key": semconv.GEN_AI_USAGE_OUTPUT_TOKENS, "value": {"intValue": 7}},
                                ],
                                "links": [{"traceId": TRACE_ID, "spanId": PARENT_ID}],
                                "status": {"code": 2, "message": "boom"},
                                "someFutureField": {"x": 1},
                            }
                        ],
                    }
                ],
                **extra,
            }
        ]
    }


async def test_sdk_http_protobuf_exporter_gzip_and_plain() -> None:
    capture = Capture()
    spans = make_spans()
    async with running(capture) as (_, telemetry, base):
        for compression in (Compression.NoCompression, Compression.Gzip):
            exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=10, compression=compression)
            assert await asyncio.to_thread(exporter.export, spans) is SpanExportResult.SUCCESS
            exporter.shutdown()
    expected = encode_spans(spans)
    assert [b.request for b in capture.traces] == [expected, expected]
    assert [ExportTraceServiceRequest.FromString(b.raw) for b in capture.traces] == [expected, expected]
    assert [b.span_count for b in capture.traces] == [2, 2]
    assert telemetry.counter("otlp", "spans_accepted") == 4


async def test_sdk_http_metric_exporter() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("test").create_histogram("latency").record(0.5)
    data = reader.get_metrics_data()
    provider.shutdown()
    capture = Capture()
    async with running(capture) as (_, telemetry, base):
        exporter = OTLPMetricExporter(endpoint=f"{base}/v1/metrics", timeout=10)
        result = await asyncio.to_thread(exporter.export, data)
        exporter.shutdown()
    assert result.name == "SUCCESS"
    (batch,) = capture.metrics
    assert batch.point_count == 1
    point = batch.request.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0]
    assert (point.count, point.sum) == (1, 0.5)
    assert telemetry.counter("otlp", "metric_points_accepted") == 1


async def test_json_hex_ids_int64_forms_and_unknown_fields() -> None:
    capture = Capture()
    async with running(capture) as (_, telemetry, base), httpx.AsyncClient() as client:
        reply = await client.post(
            f"{base}/v1/traces",
            content=json.dumps(json_body(unknownTop=True)),
            headers={"content-type": JSON},
        )
    assert reply.status_code == 200
    assert reply.headers["content-type"] == JSON
    assert reply.json() == {}
    (batch,) = capture.traces
    assert batch.raw is None and batch.span_count == 1
    span = batch.request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes.fromhex(TRACE_ID)
    assert span.span_id == bytes.fromhex(SPAN_ID)
    assert span.parent_span_id == bytes.fromhex(PARENT_ID)
    assert span.links[0].trace_id == bytes.fromhex(TRACE_ID)
    assert span.links[0].span_id == bytes.fromhex(PARENT_ID)
    assert (span.kind, span.status.code, span.status.message) == (3, 2, "boom")
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (1700000000000000000, 1700000001000000000)
    assert [(a.key, a.value.int_value) for a in span.attributes] == [
        (semconv.GEN_AI_USAGE_INPUT_TOKENS, 42),
        (semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 7),
    ]
    assert telemetry.counter("otlp", "spans_accepted") == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "OTLP/JSON body must be a JSON object"),
        (
            json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz" * 16}]}]}]}).encode(),
            "traceId: not hex",
        ),
        (
            json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "abcd"}]}]}]}).encode(),
            "spanId: expected 16 hex characters, got 4",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
        (json.dumps({"resourceSpans": "nope"}).encode(), "invalid OTLP/JSON"),
    ],
)
async def test_bad_json_is_400_with_a_json_status(body: bytes, message: str) -> None:
    capture = Capture()
    async with running(capture) as (_, telemetry, base), httpx.AsyncClient() as client:
        reply = await client.post(f"{base}/v1/traces", content=body, headers={"content-type": JSON})
    assert reply.status_code == 400
    assert reply.headers["content-type"] == JSON
    assert reply.json()["code"] == 3
    assert message in reply.json()["message"]
    assert capture.traces == []
    assert telemetry.counter("otlp", "requests_refused", reason="invalid", transport="http") == 1


async def test_truncated_protobuf_is_400_with_a_protobuf_status() -> None:
    capture = Capture()
    data = encode_spans(make_spans()).SerializeToString()
    async with running(capture) as (_, telemetry, base), httpx.AsyncClient() as client:
        reply = await client.post(f"{base}/v1/traces", content=data[:-5], headers={"content-type": PB})
    assert reply.status_code == 400
    assert reply.headers["content-type"] == PB
    status = status_pb2.Status.FromString(reply.content)
    assert status.code == 3 and status.message.startswith("cannot parse protobuf")
    assert telemetry.counter("otlp", "requests_refused", reason="invalid", transport="http") == 1


async def test_wrong_content_type_method_and_path() -> None:
    capture = Capture()
    async with running(capture) as (_, telemetry, base), httpx.AsyncClient() as client:
        text = await client.post(
            f"{base}/v1/traces", content=b"hello", headers={"content-type": "text/plain"}
        )
        br = await client.post(
            f"{base}/v1/traces", content=b"x", headers={"content-type": PB, "content-encoding": "br"}
        )
        get = await client.get(f"{base}/v1/traces")
        missing = await client.post(f"{base}/v2/traces", content=b"", headers={"content-type": PB})
        logs = await client.post(f"{base}/v1/logs", content=b"", headers={"content-type": PB})  # no pipeline
    assert (text.status_code, br.status_code, get.status_code) == (415, 415, 405)
    assert get.headers["allow"] == "POST"
    assert (missing.status_code, logs.status_code) == (404, 404)
    assert (
        telemetry.counter("otlp", "requests_refused", reason="unsupported_media_type", transport="http") == 2
    )


async def test_oversized_bodies_are_413_declared_streamed_and_gzip_bomb() -> None:
    capture = Capture()
    limit = 64 * 1024
    bomb = gzip.compress(b"\0" * (10 * 1024 * 1024))
    assert len(bomb) < limit

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"\0" * 16 * 1024

    big = {"max_request_body_size": limit}
    async with running(capture, http=big) as (_, telemetry, base), httpx.AsyncClient() as client:
        declared = await client.post(
            f"{base}/v1/traces", content=b"\0" * (limit + 1), headers={"content-type": PB}
        )
        streamed = await client.post(f"{base}/v1/traces", content=chunks(), headers={"content-type": PB})
        bombed = await client.post(
            f"{base}/v1/traces", content=bomb, headers={"content-type": PB, "content-encoding": "gzip"}
        )
        truncated = await client.post(
            f"{base}/v1/traces",
            content=gzip.compress(b"abc" * 100)[:-9],
            headers={"content-type": PB, "content-encoding": "gzip"},
        )
        fits = await client.post(
            f"{base}/v1/traces",
            content=gzip.compress(encode_spans(make_spans()).SerializeToString()),
            headers={"content-type": PB, "content-encoding": "gzip"},
        )
    assert streamed.request.headers["transfer-encoding"] == "chunked"  # no length to check up front
    assert (declared.status_code, streamed.status_code, bombed.status_code) == (413, 413, 413)
    assert (
        status_pb2.Status.FromString(bombed.content).message == f"decompressed body larger than {limit} bytes"
    )
    assert truncated.status_code == 400
    assert fits.status_code == 200 and len(capture.traces) == 1
    assert telemetry.counter("otlp", "requests_refused", reason="too_large", transport="http") == 3


async def test_bearer_token() -> None:
    capture = Capture()
    spans = make_spans()
    async with running(capture, auth={"bearer_token": "s3cret"}) as (_, telemetry, base):
        async with httpx.AsyncClient() as client:
            missing = await client.post(f"{base}/v1/traces", content=b"", headers={"content-type": PB})
        exporter = OTLPSpanExporter(
            endpoint=f"{base}/v1/traces", timeout=10, headers={"Authorization": "Bearer s3cret"}
        )
        result = await asyncio.to_thread(exporter.export, spans)
        exporter.shutdown()
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert result is SpanExportResult.SUCCESS
    assert telemetry.counter("otlp", "requests_refused", reason="unauthenticated", transport="http") == 1


async def test_full_queue_is_503_with_retry_after_then_sdk_retry_succeeds() -> None:
    capture = Capture()
    capture.gate = asyncio.Event()
    spans = make_spans()
    data = encode_spans(spans).SerializeToString()
    queue = {"max_queued_batches": 1, "workers": 1, "retry_after": "300ms"}
    async with running(capture, queue=queue) as (receiver, telemetry, base), httpx.AsyncClient() as client:
        headers = {"content-type": PB}
        first = asyncio.create_task(client.post(f"{base}/v1/traces", content=data, headers=headers))
        deadline = time.monotonic() + 10
        while receiver.intake.pending != (1, 2):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        full = await client.post(f"{base}/v1/traces", content=data, headers=headers)
        assert full.status_code == 503
        assert full.headers["retry-after"] == "1"  # whole seconds, rounded up
        assert status_pb2.Status.FromString(full.content).code == 14

        exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces", timeout=20)
        sdk = asyncio.create_task(asyncio.to_thread(exporter.export, spans))
        while telemetry.counter("otlp", "requests_refused", reason="queue_full", transport="http") < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        capture.gate.set()
        assert (await first).status_code == 200
        assert await sdk is SpanExportResult.SUCCESS
        exporter.shutdown()
    assert len(capture.traces) == 2


async def test_max_connections_bounds_open_connections_with_503() -> None:
    capture = Capture()
    capture.gate = asyncio.Event()
    data = encode_spans(make_spans()).SerializeToString()
    headers = {"content-type": PB}
    async with (
        running(capture, http={"max_connections": 2}) as (receiver, _telemetry, base),
        httpx.AsyncClient() as one,
        httpx.AsyncClient() as two,
    ):
        first = asyncio.create_task(one.post(f"{base}/v1/traces", content=data, headers=headers))
        deadline = time.monotonic() + 10
        while receiver.intake.pending != (
            1,
            2,
        ):  # the first connection is served, the second reaches the limit
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        refused = await two.post(f"{base}/v1/traces", content=data, headers=headers)
        assert refused.status_code == 503
        capture.gate.set()
        assert (await first).status_code == 200
    assert len(capture.traces) == 1
    with pytest.raises(ValidationError, match="max_connections"):
        Config.model_validate({"protocols": {"http": {"max_connections": 0}}})


async def test_partial_success_in_json_and_protobuf() -> None:
    capture = Capture()
    capture.error = PartialSuccessError("dropped one", rejected=1)
    data = encode_spans(make_spans()).SerializeToString()
    async with running(capture) as (_, telemetry, base), httpx.AsyncClient() as client:
        as_pb = await client.post(f"{base}/v1/traces", content=data, headers={"content-type": PB})
        as_json = await client.post(
            f"{base}/v1/traces", content=json.dumps(json_body()), headers={"content-type": JSON}
        )
    assert as_pb.status_code == 200
    reply = ExportTraceServiceResponse.FromString(as_pb.content)
    assert (reply.partial_success.rejected_spans, reply.partial_success.error_message) == (1, "dropped one")
    assert as_json.json() == {"partialSuccess": {"rejectedSpans": "1", "errorMessage": "dropped one"}}
    assert telemetry.counter("otlp", "spans_accepted") == 1
    assert telemetry.counter("otlp", "spans_refused") == 2


async def test_tls(tmp_path: Any) -> None:
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
    capture = Capture()
    data = encode_spans(make_spans()).SerializeToString()
    tls = {"tls": {"cert_file": cert, "key_file": key}}
    verify = ssl.create_default_context(cafile=cert)
    async with running(capture, http=tls) as (receiver, _, _), httpx.AsyncClient(verify=verify) as client:
        reply = await client.post(
            f"https://localhost:{receiver.http_port}/v1/traces", content=data, headers={"content-type": PB}
        )
    assert reply.status_code == 200
    assert len(capture.traces) == 1
