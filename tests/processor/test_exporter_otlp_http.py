"""The ``otlp`` exporter over HTTP/protobuf against a real in-test OTLP/HTTP server (stdlib)."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from otel_llm import semconv
from otel_llm_processor.component import ComponentID, ComponentKind, CreateSettings, Host, TracesBatch
from otel_llm_processor.exporter.otlp import FACTORY, OtlpExporter
from otel_llm_processor.exporter.otlp.transport import parse_retry_after
from otel_llm_processor.selftel import SelfTelemetry

ExportTraceServiceRequest = trace_service_pb2.ExportTraceServiceRequest
COMPONENT = "otlp/http"


def llm_request(batch: int, spans: int = 3) -> ExportTraceServiceRequest:
    out = [
        trace_pb2.Span(
            trace_id=batch.to_bytes(8, "big") + i.to_bytes(8, "big"),
            span_id=(batch * 100 + i + 1).to_bytes(8, "big"),
            name="chat claude-sonnet-4",
            kind=trace_pb2.Span.SPAN_KIND_CLIENT,
            attributes=[
                common_pb2.KeyValue(
                    key=semconv.GEN_AI_PROVIDER_NAME,
                    value=common_pb2.AnyValue(string_value=semconv.PROVIDER_ANTHROPIC),
                ),
                common_pb2.KeyValue(
                    key=semconv.GEN_AI_USAGE_OUTPUT_TOKENS, value=common_pb2.AnyValue(int_value=batch + i)
                ),
            ],
        )
        for i in range(spans)
    ]
    resource = resource_pb2.Resource(
        attributes=[
            common_pb2.KeyValue(key=semconv.SERVICE_NAME, value=common_pb2.AnyValue(string_value="api"))
        ]
    )
    return ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=resource, scope_spans=[trace_pb2.ScopeSpans(spans=out)])
        ]
    )


def trace_batch(batch: int, spans: int = 3) -> TracesBatch:
    request = llm_request(batch, spans)
    return TracesBatch(request=request, raw=request.SerializeToString(), span_count=spans)


class HttpBackend:
    """A real OTLP/HTTP server on 127.0.0.1:0; scripted (status, headers) responses are served first."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.requests: list[dict[str, str]] = []
        self.responses: list[tuple[int, dict[str, str]]] = []
        self.partial_rejected = 0
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, port: int = 0) -> None:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                return None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with backend._lock:
                    backend.requests.append(
                        {k.lower(): v for k, v in self.headers.items()} | {":path": self.path}
                    )
                    scripted = backend.responses.pop(0) if backend.responses else None
                if scripted is not None:
                    status, headers = scripted
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                response = trace_service_pb2.ExportTraceServiceResponse()
                if backend.partial_rejected:
                    response.partial_success.rejected_spans = backend.partial_rejected
                payload = response.SerializeToString()
                with backend._lock:
                    backend.received.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


@pytest.fixture
def backend() -> Iterator[HttpBackend]:
    server = HttpBackend()
    server.start()
    yield server
    server.stop()


def make_exporter(
    tmp_path: object, port: int, tel: SelfTelemetry, **overrides: object
) -> tuple[OtlpExporter, Host]:
    raw: dict[str, object] = {
        "endpoint": f"http://127.0.0.1:{port}",
        "protocol": "http/protobuf",
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


async def test_gzip_post_carries_the_exact_bytes_and_headers(backend: HttpBackend, tmp_path: object) -> None:
    tel = SelfTelemetry()
    exporter, host = make_exporter(
        tmp_path, backend.port, tel, compression="gzip", headers={"Authorization": "Bearer s3cr3t"}
    )
    await exporter.start(host)
    batch = trace_batch(5, spans=1200)
    assert batch.raw is not None and len(batch.raw) > 64 * 1024  # compressed off the event loop
    await exporter.consume_traces(batch)
    await until(lambda: len(backend.received) == 1)
    await exporter.shutdown(time.monotonic() + 5)
    assert backend.received == [batch.raw]
    request = backend.requests[0]
    assert request[":path"] == "/v1/traces"
    assert request["content-type"] == "application/x-protobuf"
    assert request["content-encoding"] == "gzip"
    assert request["authorization"] == "Bearer s3cr3t"
    assert tel.counter(COMPONENT, "items_sent") == 1200


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_retryable_status_with_retry_after_is_retried(
    backend: HttpBackend, tmp_path: object, status: int
) -> None:
    backend.responses = [(status, {"Retry-After": "0"})] * 2
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel)
    await exporter.start(host)
    batch = trace_batch(1)
    await exporter.consume_traces(batch)
    await until(lambda: len(backend.received) == 1)
    await exporter.shutdown(time.monotonic() + 5)
    assert backend.received == [batch.raw]
    assert len(backend.requests) == 3
    assert tel.counter(COMPONENT, "retries") == 2
    assert tel.counter(COMPONENT, "items_send_failed", reason=f"http_{status}") == 6
    assert tel.counter(COMPONENT, "items_sent") == 3


@pytest.mark.parametrize("status", [400, 401, 413, 500])
async def test_other_status_is_dropped_and_counted(
    backend: HttpBackend, tmp_path: object, status: int
) -> None:
    backend.responses = [(status, {"Retry-After": "0"})]
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel)
    await exporter.start(host)
    await exporter.consume_traces(trace_batch(1))
    await until(lambda: tel.counter(COMPONENT, "items_dropped", reason="permanent") == 3)
    await exporter.shutdown(time.monotonic() + 5)
    assert len(backend.requests) == 1
    assert backend.received == []
    assert tel.counter(COMPONENT, "items_send_failed", reason=f"http_{status}") == 3
    assert tel.counter(COMPONENT, "retries") == 0


async def test_partial_success_over_http(backend: HttpBackend, tmp_path: object) -> None:
    backend.partial_rejected = 2
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, backend.port, tel)
    await exporter.start(host)
    await exporter.consume_traces(trace_batch(1, spans=5))
    await until(lambda: tel.counter(COMPONENT, "items_sent") > 0)
    await exporter.shutdown(time.monotonic() + 5)
    assert tel.counter(COMPONENT, "items_sent") == 3
    assert tel.counter(COMPONENT, "items_dropped", reason="rejected") == 2


async def test_backend_down_then_up_loses_nothing(tmp_path: object) -> None:
    backend = HttpBackend()
    backend.start()
    port = backend.port
    backend.stop()
    tel = SelfTelemetry()
    exporter, host = make_exporter(tmp_path, port, tel, sending_queue={"storage": "file", "num_consumers": 3})
    await exporter.start(host)
    sent = [trace_batch(i) for i in range(10)]
    for batch in sent:
        await exporter.consume_traces(batch)
    await until(lambda: tel.counter(COMPONENT, "retries") >= 3)
    assert tel.counter(COMPONENT, "items_send_failed", reason="connection") >= 9
    backend.start(port)
    try:
        await until(lambda: len(backend.received) == 10)
        await exporter.shutdown(time.monotonic() + 5)
    finally:
        backend.stop()
    assert sorted(backend.received) == sorted(b.raw for b in sent if b.raw)
    assert tel.counter(COMPONENT, "items_sent") == 30
    assert [s for s in tel.samples() if s.name == "items_dropped"] == []


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(datetime(2026, 11, 23, 12, 0, 42, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 120 ") == 120.0
    assert parse_retry_after(later, now=now.timestamp()) == 42.0
    assert parse_retry_after(format_datetime(now, usegmt=True), now=now.timestamp() + 10) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
