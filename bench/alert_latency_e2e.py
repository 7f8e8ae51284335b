"""Span-to-notifier latency over the wire (not a test): p50/p99 over many alerts.

Path measured, all real and on loopback: an OTLP/gRPC export of one failing LLM span (the
OpenTelemetry protobuf, sent with grpcio) -> the processor's ``otlp`` receiver and intake queue ->
``llm_metrics`` -> ``alert_rules`` (event-driven) -> the ``webhook`` notifier's persistent outbox
(SQLite) -> its HTTP POST, timed when the webhook server receives it. Every round uses a new
model, so its span tips the rule for a fresh series and fires exactly one alert.

Usage: ``python bench/alert_latency_e2e.py [--alerts 300]``. Prints p50/p95/p99/max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_llm import semconv as sc
from otel_llm_processor.component import ComponentKind
from otel_llm_processor.config import load_config_text
from otel_llm_processor.service import Service

CONFIG = """
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:0"}}
connectors:
  llm_metrics: {{flush_interval: 60s}}
  alert_rules:
    rules:
      - {{id: errors, metric: error_rate, op: gt, threshold: 0.5, window: 60s, severity: ERROR,
         group_by: [service, model]}}
exporters:
  webhook: {{url: "http://127.0.0.1:{port}/hook", states: [firing]}}
service:
  data_dir: "{data_dir}"
  api: {{enabled: false}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [llm_metrics]}}
    metrics: {{receivers: [llm_metrics], exporters: [alert_rules]}}
    alerts: {{receivers: [alert_rules], exporters: [webhook]}}
"""


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    return KeyValue(key=key, value=AnyValue(int_value=value))


def _request(i: int) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(_kv(sc.SERVICE_NAME, "latency-bench"))
    span = rs.scope_spans.add().spans.add()
    span.trace_id = os.urandom(16)
    span.span_id = os.urandom(8)
    span.name = f"chat model-{i}"
    span.kind = 3
    now = time.time_ns()
    span.start_time_unix_nano, span.end_time_unix_nano = now - 200_000_000, now
    span.status.code = 2
    for key, value in (
        (sc.GEN_AI_OPERATION_NAME, "chat"),
        (sc.GEN_AI_PROVIDER_NAME, "openai"),
        (sc.GEN_AI_REQUEST_MODEL, f"model-{i}"),
        (sc.ERROR_TYPE, "openai.InternalServerError"),
    ):
        span.attributes.append(_kv(key, value))
    return req.SerializeToString()


class _Hook(BaseHTTPRequestHandler):
    received: dict[str, float] = {}
    arrived = threading.Condition()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        at = time.perf_counter()
        model = json.loads(body)["alert"]["labels"].get("model", "")
        with self.arrived:
            self.received.setdefault(model, at)
            self.arrived.notify_all()
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=300)
    args = parser.parse_args(argv)

    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as data_dir:
        text = CONFIG.format(port=hook.server_address[1], data_dir=data_dir)
        service = Service(load_config_text(text, source="alert_latency_e2e"))
        await service.start()
        try:
            assert service.pipelines is not None
            receiver = service.pipelines.get(ComponentKind.RECEIVER, "otlp")
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{receiver.grpc_port}")
            export = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=lambda b: b,
                response_deserializer=lambda b: b,
            )
            latencies: list[float] = []
            for i in range(args.alerts):
                payload = _request(i)
                sent = time.perf_counter()
                await export(payload, timeout=10)
                model = f"model-{i}"
                deadline = time.monotonic() + 10
                while model not in _Hook.received and time.monotonic() < deadline:
                    await asyncio.sleep(0.0005)
                if model not in _Hook.received:
                    print(f"alert {i} never reached the webhook")
                    return 1
                latencies.append((_Hook.received[model] - sent) * 1000)
            await channel.close()
        finally:
            await service.shutdown(5.0)
            hook.shutdown()
    q = statistics.quantiles(latencies, n=100)
    print(f"span -> webhook request, {len(latencies)} alerts over OTLP/gRPC and HTTP on loopback")
    print(f"  p50 {q[49]:.1f} ms   p95 {q[94]:.1f} ms   p99 {q[98]:.1f} ms   max {max(latencies):.1f} ms")
    print(f"  target p99 < 1000 ms: {'met' if q[98] < 1000 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
