"""Config loading: env expansion, per-component validation, graph checks, the embedded default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from otel_llm_processor.component import ComponentID, ComponentKind, Factory, Signal
from otel_llm_processor.config import (
    ConfigError,
    Duration,
    default_config_text,
    load_config,
    load_config_text,
    parse_duration,
)
from otel_llm_processor.connector.llm_metrics.factory import FACTORY as LLM_METRICS
from otel_llm_processor.exporter.debug.factory import FACTORY as DEBUG_EXPORTER
from otel_llm_processor.receiver.otlp.factory import FACTORY as OTLP_RECEIVER

DATA = Path(__file__).parent / "testdata" / "config"
R, P, C, E = ComponentKind.RECEIVER, ComponentKind.PROCESSOR, ComponentKind.CONNECTOR, ComponentKind.EXPORTER
T, M, L, A = Signal.TRACES, Signal.METRICS, Signal.LOGS, Signal.ALERTS


class FakeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint: str = ""
    size: int = 1
    flush_interval: Duration = Field(default=1.0, gt=0)


def _factory(
    type_: str,
    kind: ComponentKind,
    signals: set[Signal],
    produces: set[Signal] | frozenset[Signal] = frozenset(),
) -> Any:
    return Factory(type_, kind, FakeConfig, lambda s, c: None, frozenset(signals), frozenset(produces))


FACTORIES = {
    (R, "otlp"): _factory("otlp", R, {T, M, L}),
    (P, "batch"): _factory("batch", P, {T, M}),
    (C, "llm_metrics"): _factory("llm_metrics", C, {T}, {M}),
    (C, "alert_rules"): _factory("alert_rules", C, {M}, {A}),
    (C, "loop"): _factory("loop", C, {M}, {T}),
    (E, "debug"): _factory("debug", E, {T, M, L, A}),
    (E, "otlp"): _factory("otlp", E, {T, M}),
}


def errors_of(text: str, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, factories=FACTORIES, **kwargs)
    return info.value.errors


def test_full_config_with_env_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D1_TEST_SIZE", "7")
    monkeypatch.delenv("D1_TEST_HOST", raising=False)
    monkeypatch.delenv("D1_TEST_TOKEN", raising=False)
    config = load_config(DATA / "full.yaml", factories=FACTORIES)
    otlp = config.component(R, "otlp").config
    assert otlp.endpoint == "127.0.0.1:4317"
    assert otlp.size == 7 and isinstance(otlp.size, int)  # a whole-value reference keeps its YAML type
    assert config.component(R, "otlp/second").config == FakeConfig()
    assert config.component(P, "batch").config.flush_interval == 0.5
    assert config.component(C, "llm_metrics").config.flush_interval == 60.0
    assert config.component(E, "otlp/backend").config.endpoint == "cost is $5 at localhost"
    assert [(p.name, p.signal) for p in config.pipelines] == [("traces", T), ("metrics/llm", M)]
    traces = config.pipelines[0]
    assert traces.receivers == (ComponentID("otlp"), ComponentID("otlp", "second"))
    assert traces.processors == (ComponentID("batch"),)
    assert traces.exporters == (ComponentID("otlp", "backend"), ComponentID("llm_metrics"))
    service = config.service
    assert (service.data_dir, service.shutdown_timeout) == ("/tmp/otel-llm-test", 3.0)
    assert (service.api.endpoint, service.api.auth_token) == ("127.0.0.1:0", "")
    assert service.telemetry.logs.level == "debug"
    assert config.source == str(DATA / "full.yaml")


def test_every_error_is_reported_with_its_yaml_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("D1_SURELY_UNSET_VAR", raising=False)
    assert errors_of((DATA / "invalid.yaml").read_text()) == [
        "exporters.otlp.endpoint: environment variable D1_SURELY_UNSET_VAR is not set",
        "extensions: unknown section (expected one of receivers, processors, connectors, exporters, service)",
        "receivers.otlp/bad.size: input should be a valid integer, unable to parse string as an integer",
        "receivers.otlp/bad.bogus: unknown field",
        "connectors.llm_metrics.flush_interval: must be > 0",
        'exporters.kafka: unknown exporter type "kafka" (known: debug, otlp)',
        "service.api.endpoint: endpoint must be host:port, got 'nope'",
        'service.pipelines.traces.exporters[0]: unknown component "debug" (not defined in exporters or connectors)',
        'service.pipelines.traces.exporters[1]: unknown component "otlp/x" (not defined in exporters or connectors)',
        'service.pipelines.logs.processors[0]: processor "batch" does not support logs',
        'service.pipelines.logs.exporters[0]: exporter "otlp" does not support logs',
        'service.pipelines.spans: unknown signal "spans" (expected traces, metrics, logs, alerts)',
        "connectors.alert_rules: connector is not used as a receiver in any pipeline",
    ]


def test_connector_direction_and_signal_are_checked() -> None:
    text = """
receivers: {otlp: {}}
connectors: {llm_metrics: {}}
exporters: {debug: {}}
service:
  pipelines:
    metrics: {receivers: [otlp], exporters: [llm_metrics]}
    logs: {receivers: [llm_metrics], exporters: [debug, debug]}
"""
    assert errors_of(text) == [
        'service.pipelines.metrics.exporters[0]: connector "llm_metrics" does not support metrics',
        'service.pipelines.logs.receivers[0]: connector "llm_metrics" does not support logs',
        'service.pipelines.logs.exporters[1]: "debug" is listed twice',
    ]


def test_cycles_through_connectors_are_refused() -> None:
    text = """
receivers: {otlp: {}}
connectors: {llm_metrics: {}, loop: {}}
exporters: {debug: {}}
service:
  pipelines:
    traces: {receivers: [otlp, loop], exporters: [llm_metrics]}
    metrics: {receivers: [llm_metrics], exporters: [loop, debug]}
"""
    assert errors_of(text) == ["service.pipelines: cycle through connectors: traces -> metrics -> traces"]


def test_empty_and_malformed_documents() -> None:
    assert errors_of("") == ["service.pipelines: at least one pipeline is required"]
    assert errors_of("- a list") == ["<string>: the config must be a mapping"]
    assert errors_of("receivers: [otlp]\nservice: {pipelines: {traces: {}}}") == [
        "receivers: must be a mapping of component ids to configs",
        "service.pipelines.traces.receivers: at least one is required",
        "service.pipelines.traces.exporters: at least one is required",
    ]
    (error,) = errors_of("receivers: {otlp: [unclosed")
    assert error.startswith("<string>: invalid YAML:")
    assert errors_of("service: {pipelines: {traces: {receivers: x}}}") == [
        "service.pipelines.traces.receivers: input should be a valid list"
    ]


def test_missing_file() -> None:
    with pytest.raises(ConfigError) as info:
        load_config("/nonexistent/otel.yaml", factories=FACTORIES)
    assert info.value.errors == ["/nonexistent/otel.yaml: cannot read config: No such file or directory"]


def test_env_default_and_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D1_EMPTY", "")
    monkeypatch.setenv("D1_FLAG", "true")
    text = """
receivers: {otlp: {endpoint: "${env:D1_EMPTY:-fallback}", size: "${env:D1_NOT_SET_AT_ALL:-3}"}}
exporters: {debug: {endpoint: "$${env:D1_FLAG} ${env:D1_FLAG}"}}
service:
  api: {enabled: "${env:D1_FLAG}"}
  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}
"""
    config = load_config_text(text, factories=FACTORIES)
    assert config.component(R, "otlp").config.endpoint == "fallback"
    assert config.component(R, "otlp").config.size == 3
    assert config.component(E, "debug").config.endpoint == "${env:D1_FLAG} true"
    assert config.service.api.enabled is True


def test_durations() -> None:
    assert [parse_duration(v) for v in (2, 1.5, "250ms", "10s", "2m", "1h", "7")] == [
        2.0,
        1.5,
        0.25,
        10.0,
        120.0,
        3600.0,
        7.0,
    ]
    for bad in ("soon", "-1s", True, None):
        with pytest.raises(ValueError, match="must be a duration"):
            parse_duration(bad)
    text = """
receivers: {otlp: {flush_interval: soon}}
exporters: {debug: {}}
service:
  shutdown_timeout: 0s
  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}
"""
    assert errors_of(text) == [
        "receivers.otlp.flush_interval: must be a duration such as 10s, 500ms, 5m",
        "service.shutdown_timeout: must be > 0",
    ]


def test_storage_section_is_validated_by_the_storage_package() -> None:
    text = """
receivers: {otlp: {}}
exporters: {debug: {}}
service:
  storage: {driver: mysql}
  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}
"""
    assert errors_of(text) == ["service.storage.driver: must be 'sqlite' or 'postgres'"]


ALL = {
    **FACTORIES,
    (R, "otlp"): OTLP_RECEIVER,
    (C, "llm_metrics"): LLM_METRICS,
    (E, "debug"): DEBUG_EXPORTER,
    (P, "anomaly"): _factory("anomaly", P, {M}),
    (E, "prometheus"): _factory("prometheus", E, {M}),
}


def test_embedded_default_with_every_component(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_LLM_DATA_DIR", "/var/lib/otel-llm")
    monkeypatch.setenv("OTEL_LLM_OTLP_HTTP_ENDPOINT", "0.0.0.0:14318")
    monkeypatch.delenv("OTEL_LLM_OTLP_GRPC_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_LLM_API_ENDPOINT", raising=False)
    config = load_config_text(default_config_text(), factories=ALL, prune=True)
    assert [(p.name, [str(c) for c in p.receivers], [str(c) for c in p.processors], [str(c) for c in p.exporters]) for p in config.pipelines] == [
        ("traces", ["otlp"], [], ["llm_metrics"]),
        ("metrics/llm", ["llm_metrics"], ["anomaly"], ["prometheus", "alert_rules"]),
        ("alerts", ["alert_rules"], [], ["debug"]),
    ]  # fmt: skip
    receiver = config.component(R, "otlp").config
    assert receiver.protocols.grpc.endpoint == "127.0.0.1:4317"
    assert receiver.protocols.http.endpoint == "0.0.0.0:14318"
    assert config.service.data_dir == "/var/lib/otel-llm"
    assert config.service.api.endpoint == "127.0.0.1:8080"
    assert config.component(C, "llm_metrics").config.workers == "auto"


def test_embedded_default_prunes_what_is_not_installed() -> None:
    only = {(R, "otlp"): OTLP_RECEIVER, (E, "debug"): DEBUG_EXPORTER}
    config = load_config_text(default_config_text(), factories=only, prune=True)
    assert [(p.name, [str(c) for c in p.exporters]) for p in config.pipelines] == [("traces", ["debug"])]
    assert [str(cid) for _, cid in config.components] == ["otlp", "debug"]


def test_embedded_default_loads_with_the_real_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_LLM_DATA_DIR", raising=False)
    config = load_config()
    receiver = config.component(R, "otlp").config
    assert receiver.protocols.grpc.endpoint == "127.0.0.1:4317"
    assert receiver.protocols.http.endpoint == "127.0.0.1:4318"
    assert config.service.data_dir == "./data"
    assert config.source == "<embedded default>"
    assert config.pipelines[0].name == "traces" and config.pipelines[0].receivers == (ComponentID("otlp"),)


def test_storage_defaults_to_sqlite_and_null_turns_it_off() -> None:
    base = "receivers: {otlp: {}}\nexporters: {debug: {}}\nservice:\n  pipelines: {traces: {receivers: [otlp], exporters: [debug]}}\n"
    omitted = load_config_text(base, factories=FACTORIES)
    assert omitted.storage is not None and omitted.storage.driver == "sqlite" and omitted.storage.path is None
    off = load_config_text(base + "  storage: null\n", factories=FACTORIES)
    assert off.storage is None
    chosen = load_config_text(base + "  storage: {path: /tmp/x.db}\n", factories=FACTORIES)
    assert chosen.storage.path == "/tmp/x.db"


def test_an_invalid_component_does_not_hide_a_valid_one_with_the_same_id() -> None:
    text = """
receivers: {otlp: {size: many}}
exporters: {otlp: {}}
service:
  pipelines: {traces: {receivers: [otlp], exporters: [otlp, gone]}}
"""
    assert errors_of(text) == [
        "receivers.otlp.size: input should be a valid integer, unable to parse string as an integer",
        'service.pipelines.traces.exporters[1]: unknown component "gone" (not defined in exporters or connectors)',
    ]
