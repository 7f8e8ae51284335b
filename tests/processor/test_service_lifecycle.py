"""The service: storage, pipelines and API started together; orderly, idempotent shutdown."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from otel_llm_processor.component import ComponentKind
from otel_llm_processor.config import load_config_text
from otel_llm_processor.service import Service, StartError

CONFIG = """
receivers:
  otlp:
    protocols:
      http: {{endpoint: 127.0.0.1:0}}
exporters:
  debug: {{}}
service:
  data_dir: {data_dir}
  shutdown_timeout: 5s
  api: {{endpoint: "{api}"}}
  storage: {{driver: sqlite}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug]}}
"""


def service(tmp_path: Path, api: str = "127.0.0.1:0") -> Service:
    return Service(load_config_text(CONFIG.format(data_dir=tmp_path / "data", api=api)))


def refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def request() -> bytes:
    spans = [Span(name=f"s{i}", trace_id=b"\1" * 16, span_id=bytes([i + 1]) * 8) for i in range(3)]
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    ).SerializeToString()


async def test_start_serve_and_shutdown(tmp_path: Path) -> None:
    svc = service(tmp_path)
    await svc.shutdown()  # before start: a no-op
    svc = service(tmp_path)
    await svc.start()
    assert svc.pipelines is not None
    receiver = svc.pipelines.get(ComponentKind.RECEIVER, "otlp")
    storage = svc.host.services["storage"]
    assert (tmp_path / "data" / "otel-llm.db").exists()
    async with httpx.AsyncClient() as client:
        health = await client.get(f"http://127.0.0.1:{svc.api_port}/health")
        reply = await client.post(
            f"http://127.0.0.1:{receiver.http_port}/v1/traces",
            content=request(),
            headers={"content-type": "application/x-protobuf"},
        )
    assert health.status_code == 200
    assert reply.status_code == 200
    assert svc.telemetry.counter("otlp", "spans_accepted") == 3
    assert svc.telemetry.counter("debug", "spans_exported") == 3
    ports = (svc.api_port, receiver.http_port)
    await svc.shutdown()
    await svc.shutdown()
    assert all(refused(port) for port in ports)
    with pytest.raises(Exception):  # noqa: B017 - closed storage refuses work, whatever its error type
        await storage.list_rules()


async def test_failed_start_names_the_cause_and_releases_everything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        svc = service(tmp_path, api=f"127.0.0.1:{port}")
        with pytest.raises(StartError, match=rf"^service.api.endpoint: cannot listen on 127.0.0.1:{port}: "):
            await svc.start()
    assert svc.pipelines is not None
    receiver = svc.pipelines.get(ComponentKind.RECEIVER, "otlp")
    assert receiver.http_port and refused(receiver.http_port)


async def test_unusable_data_dir(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    svc = Service(load_config_text(CONFIG.format(data_dir=tmp_path / "file" / "sub", api="127.0.0.1:0")))
    with pytest.raises(StartError, match=r"^service.data_dir: cannot create .*: Not a directory$"):
        await svc.start()


async def test_run_until_stopped(tmp_path: Path) -> None:
    svc = service(tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    while svc.api_port == 0:
        assert not task.done()
        await asyncio.sleep(0.01)
    port = svc.api_port
    stop.set()
    await task
    assert refused(port)
