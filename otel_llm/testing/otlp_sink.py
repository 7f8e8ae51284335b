"""A tiny OTLP/gRPC trace sink for tests: ``with OtlpSink() as sink: ... sink.wait_for_spans(n)``.

Needs ``grpcio`` and ``opentelemetry-proto`` (test extras, not runtime dependencies).
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span

__all__ = ["OtlpSink", "attributes"]


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: OtlpSink) -> None:
        self._sink = sink

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self._sink._add(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class OtlpSink:
    """Accepts TraceService/Export on 127.0.0.1 (ephemeral port) and keeps every request."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self._cond = threading.Condition()
        self._server: grpc.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OtlpSink:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), server)
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None

    def __enter__(self) -> OtlpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _add(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()

    def spans(self) -> list[tuple[str, Span]]:
        """(instrumentation scope name, span) for every span received."""
        with self._cond:
            requests = list(self.requests)
        out: list[tuple[str, Span]] = []
        for req in requests:
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    out.extend((ss.scope.name, span) for span in ss.spans)
        return out

    def wait_for_spans(self, count: int, timeout: float = 30.0) -> list[tuple[str, Span]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                spans = self.spans_locked()
                if len(spans) >= count or time.monotonic() >= deadline:
                    return spans
                self._cond.wait(timeout=max(0.0, min(0.5, deadline - time.monotonic())))

    def spans_locked(self) -> list[tuple[str, Span]]:
        out: list[tuple[str, Span]] = []
        for req in self.requests:
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    out.extend((ss.scope.name, span) for span in ss.spans)
        return out


def attributes(span: Span) -> dict[str, Any]:
    """A proto span's attributes as plain Python values."""
    out: dict[str, Any] = {}
    for kv in span.attributes:
        out[kv.key] = _value(kv.value)
    return out


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind is None:
        return None
    return getattr(value, kind)
