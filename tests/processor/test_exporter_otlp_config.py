"""The ``otlp`` exporter's config as users write it, validated by the service's config loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_llm_processor.component import ComponentKind, Signal
from otel_llm_processor.config import ConfigError, load_config_text
from otel_llm_processor.exporter.otlp import FACTORY, Config
from otel_llm_processor.exporter.otlp.exporter import queue_directory
from otel_llm_processor.receiver.otlp.factory import FACTORY as RECEIVER

FACTORIES = {(FACTORY.kind, FACTORY.type): FACTORY, (RECEIVER.kind, RECEIVER.type): RECEIVER}
HEAD = """
receivers: {otlp: {protocols: {grpc: {endpoint: "127.0.0.1:0"}}}}
service:
  pipelines: {traces: {receivers: [otlp], exporters: [otlp/backend]}}
exporters:
  otlp/backend:
"""


def load(body: str) -> Config:
    config = load_config_text(HEAD + body, "test.yaml", factories=FACTORIES)
    exporter = config.component(ComponentKind.EXPORTER, "otlp/backend").config
    assert isinstance(exporter, Config)
    return exporter


def test_factory_describes_the_component() -> None:
    assert (FACTORY.type, FACTORY.kind) == ("otlp", ComponentKind.EXPORTER)
    assert FACTORY.signals == frozenset({Signal.TRACES, Signal.METRICS, Signal.LOGS})
    assert FACTORY.config_class is Config


def test_defaults_and_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND_TOKEN", "t0k")
    config = load(
        """
    endpoint: https://collector.example:4317
    headers: {authorization: "Bearer ${env:BACKEND_TOKEN}"}
    timeout: 2500ms
    sending_queue: {storage: file, queue_size: 50}
    retry_on_failure: {initial_interval: 1s, max_interval: 1m, max_elapsed_time: 0}
"""
    )
    assert config.headers == {"authorization": "Bearer t0k"}
    assert config.timeout == 2.5
    assert (config.protocol, config.compression, config.tls.insecure) == ("grpc", "gzip", False)
    queue = config.sending_queue
    assert (queue.enabled, queue.storage, queue.queue_size, queue.num_consumers) == (True, "file", 50, 10)
    retry = config.retry_on_failure
    assert (retry.initial_interval, retry.max_interval, retry.max_elapsed_time) == (1.0, 60.0, 0.0)
    assert "t0k" not in repr(config)


def test_errors_name_the_yaml_path() -> None:
    with pytest.raises(ConfigError) as info:
        load(
            """
    endpoint: ""
    protocol: thrift
    compression: zstd
    timeout: 0
    sending_queue: {queue_size: 0, storage: redis}
    retry_on_failure: {initial_interval: 10s, max_interval: 1s, max_elapsed_time: soon}
    tls: {verify: false}
"""
        )
    errors = info.value.errors
    prefix = "exporters.otlp/backend."
    for path in (
        "endpoint",
        "protocol",
        "compression",
        "timeout",
        "sending_queue.queue_size",
        "sending_queue.storage",
        "retry_on_failure.max_interval",
        "retry_on_failure.max_elapsed_time",
        "tls.verify",
    ):
        assert any(e.startswith(prefix + path + ":") for e in errors), (path, errors)
    assert any(e == f"{prefix}retry_on_failure.max_interval: must be >= initial_interval" for e in errors)


def test_queue_directory_is_per_component(tmp_path: Path) -> None:
    assert queue_directory(str(tmp_path), "otlp") == str(tmp_path / "queues" / "otlp")
    assert queue_directory(str(tmp_path), "otlp/jaeger") == str(tmp_path / "queues" / "otlp" / "jaeger")


def test_endpoint_scheme_and_tls() -> None:
    from otel_llm_processor.exporter.otlp.transport import GrpcTransport, HttpTransport

    def http_base(endpoint: str, insecure: bool) -> str:
        return HttpTransport(
            Config(endpoint=endpoint, protocol="http/protobuf", tls={"insecure": insecure})
        )._base

    assert http_base("https://otlp.example:4318/", insecure=True) == "https://otlp.example:4318"
    assert http_base("http://otlp.example:4318/prefix", insecure=False) == "http://otlp.example:4318/prefix"
    assert http_base("otlp.example:4318", insecure=True) == "http://otlp.example:4318"
    assert http_base("otlp.example:4318", insecure=False) == "https://otlp.example:4318"

    def grpc_target(endpoint: str, insecure: bool) -> tuple[str, bool]:
        transport = GrpcTransport(Config(endpoint=endpoint, tls={"insecure": insecure}))
        return transport._target, transport._secure

    assert grpc_target("collector:4317", insecure=False) == ("collector:4317", True)
    assert grpc_target("collector:4317", insecure=True) == ("collector:4317", False)
    assert grpc_target("http://collector:4317", insecure=False) == ("collector:4317", False)
    assert grpc_target("https://collector:4317", insecure=False) == ("collector:4317", True)
