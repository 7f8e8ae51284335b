"""End to end: the OpenTelemetry SDK's OTLP exporters -> the service (otlp receiver) -> our otlp
exporter -> a real in-test OTLP gRPC backend. The re-exported request is the one the SDK sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_llm import semconv
from otel_llm_processor.component import ComponentKind
from otel_llm_processor.config import load_config_text
from otel_llm_processor.exporter.otlp import FACTORY
from otel_llm_processor.receiver.otlp.factory import FACTORY as RECEIVER
from otel_llm_processor.service import Service

FACTORIES = {(FACTORY.kind, FACTORY.type): FACTORY, (RECEIVER.kind, RECEIVER.type): RECEIVER}


class Backend:
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            self.received.append(request)
            return b""

        server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(
            export, request_deserializer=None, response_serializer=None
        )
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}
                ),
            )
        )
        self.port = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(None)
            self.server = None


def llm_spans(count: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({semconv.SERVICE_NAME: "chat-api"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("otel_llm.openai", "0.1.0")
    for i in range(count):
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
            span.set_attribute(semconv.GEN_AI_OPERATION_NAME, semconv.OP_CHAT)
            span.set_attribute(semconv.GEN_AI_PROVIDER_NAME, semconv.PROVIDER_OPENAI)
            span.set_attribute(semconv.GEN_AI_REQUEST_MODEL, "gpt-4o")
            span.set_attribute(semconv.GEN_AI_USAGE_INPUT_TOKENS, 100 + i)
            span.set_attribute(semconv.GEN_AI_RESPONSE_FINISH_REASONS, ["stop"])
    provider.shutdown()
    return list(memory.get_finished_spans())


def config_text(backend_port: int, data_dir: Path, storage: str) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:0"}}
      http: {{endpoint: "127.0.0.1:0"}}
exporters:
  otlp/backend:
    endpoint: http://127.0.0.1:{backend_port}
    sending_queue: {{storage: {storage}, num_consumers: 1}}
    retry_on_failure: {{initial_interval: 20ms, max_interval: 100ms, max_elapsed_time: 0}}
service:
  data_dir: {data_dir}
  api: {{enabled: false}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp/backend]}}
"""


async def start_service(backend_port: int, data_dir: Path, storage: str = "none") -> tuple[Service, Any]:
    service = Service(load_config_text(config_text(backend_port, data_dir, storage), factories=FACTORIES))
    await service.start()
    assert service.pipelines is not None
    return service, service.pipelines.get(ComponentKind.RECEIVER, "otlp")


async def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("transport", ["grpc", "http"])
async def test_sdk_spans_are_re_exported_unchanged(tmp_path: Path, transport: str) -> None:
    backend = Backend()
    await backend.start()
    service, receiver = await start_service(backend.port, tmp_path)
    try:
        spans = llm_spans(5)
        if transport == "grpc":
            sdk = GrpcSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True)
        else:
            sdk = HttpSpanExporter(endpoint=f"http://127.0.0.1:{receiver.http_port}/v1/traces")
        assert await asyncio.to_thread(sdk.export, spans) is SpanExportResult.SUCCESS
        await asyncio.to_thread(sdk.shutdown)
        await until(lambda: len(backend.received) == 1)
    finally:
        await service.shutdown(timeout=5)
        await backend.stop()
    expected = encode_spans(spans)
    got = trace_service_pb2.ExportTraceServiceRequest.FromString(backend.received[0])
    assert got == expected
    assert backend.received[0] == expected.SerializeToString()
    sent = {s.context.span_id.to_bytes(8, "big") for s in spans}
    assert {s.span_id for s in got.resource_spans[0].scope_spans[0].spans} == sent
    assert service.telemetry.counter("otlp/backend", "items_sent") == 5


async def test_backend_outage_and_processor_restart_lose_nothing(tmp_path: Path) -> None:
    backend = Backend()
    await backend.start()
    port = backend.port
    await backend.stop()  # the backend is down for the whole first run
    service, receiver = await start_service(port, tmp_path, storage="file")
    spans = llm_spans(12)
    batches = [spans[i : i + 3] for i in range(0, 12, 3)]
    try:
        sdk = GrpcSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True)
        for batch in batches:
            assert await asyncio.to_thread(sdk.export, batch) is SpanExportResult.SUCCESS
        await asyncio.to_thread(sdk.shutdown)
        await until(lambda: service.telemetry.counter("otlp/backend", "retries") >= 1)
    finally:
        await service.shutdown(timeout=0.5)
    assert service.telemetry.counter("otlp/backend", "items_sent") == 0
    assert service.telemetry.counter("otlp", "spans_accepted") == 12

    await backend.start(port)
    restarted, _ = await start_service(port, tmp_path, storage="file")
    try:
        await until(lambda: len(backend.received) == 4)
    finally:
        await restarted.shutdown(timeout=5)
        await backend.stop()
    assert backend.received == [encode_spans(b).SerializeToString() for b in batches]
    assert restarted.telemetry.counter("otlp/backend", "items_sent") == 12
