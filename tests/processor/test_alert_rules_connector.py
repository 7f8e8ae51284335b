from __future__ import annotations

import time

import pytest

from otel_llm_processor.component import ComponentID, ComponentKind, CreateSettings, Host, Signal
from otel_llm_processor.connector.alert_rules.alert_rules import AlertRulesConnector
from otel_llm_processor.connector.alert_rules.config import Config
from otel_llm_processor.connector.alert_rules.factory import FACTORY
from otel_llm_processor.processor.anomaly.anomaly import AnomalyProcessor
from otel_llm_processor.processor.anomaly.config import Config as AnomalyConfig
from otel_llm_processor.selftel import SelfTelemetry
from tests.processor.fakes_llm_metrics import FakeMetricsView, RecordingAlerts, call, update
from tests.processor.fakes_storage import MemoryStorage

ERR = {"id": "errors", "metric": "error_rate", "threshold": 0.2, "window": "60s", "severity": "ERROR"}


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def start(rules, storage=None, view=None, clock=None):
    telemetry = SelfTelemetry()
    notifier = RecordingAlerts()
    settings = CreateSettings(
        ComponentID("alert_rules"), ComponentKind.CONNECTOR, telemetry, next_alerts=notifier
    )
    clock = clock or Clock()
    conn = AlertRulesConnector(
        settings, Config.model_validate({"rules": rules, "tick_interval": 60}), clock=clock
    )
    view = view or FakeMetricsView()
    storage = storage if storage is not None else MemoryStorage()
    host = Host(telemetry, "/nonexistent", {"llm_metrics": view, "storage": storage})
    await conn.start(host)
    return conn, view, storage, notifier, host, clock


async def test_span_update_to_notifier_and_storage():
    conn, view, storage, notifier, host, clock = await start([ERR])
    assert host.services["alerts"] is conn
    view.push(update(1000.0, calls=2, errors=1))
    await conn.flush()
    assert [(e.state, e.rule, e.value) for e in notifier.events] == [("firing", "errors", 0.5)]
    alert_id = notifier.events[0].alert_id
    assert storage.alerts[alert_id]["state"] == "firing"
    assert [(t["from"], t["to"]) for t in storage.transitions] == [
        ("inactive", "pending"),
        ("pending", "firing"),
    ]
    record = await conn.acknowledge(alert_id, by="ops")
    assert record["state"] == "acknowledged"
    await conn.flush()
    assert [e.state for e in notifier.events] == ["firing", "acknowledged"]
    assert storage.transitions[-1] == {
        "alert_id": alert_id,
        "from": "firing",
        "to": "acknowledged",
        "at": 1000.0,
        "by": "ops",
    }
    clock.now = 1100.0
    conn.tick()
    await conn.flush()
    assert [e.state for e in notifier.events] == ["firing", "acknowledged", "resolved"]
    assert storage.alerts[alert_id]["state"] == "resolved"
    assert conn.telemetry.counter("alert_rules", "alerts_fired") == 1.0
    await conn.shutdown(time.monotonic() + 1)


async def test_restart_keeps_alert_state_and_api_rules():
    storage = MemoryStorage()
    conn, view, _, notifier, _, clock = await start([], storage=storage)
    saved = await conn.put_rule({"id": "slow", "metric": "duration_s.p95", "threshold": 2, "window": "5m"})
    assert saved["origin"] == "api" and storage.rules["slow"]["threshold"] == 2.0
    view.push(update(1000.0, durations=[3.0]))
    await conn.flush()
    alert_id = notifier.events[0].alert_id
    await conn.shutdown(time.monotonic() + 1)

    conn2, view2, _, notifier2, _, _ = await start([], storage=storage, clock=clock)
    assert [r["id"] for r in conn2.list_rules()] == ["slow"]
    assert [a["id"] for a in conn2.list_alerts("firing")] == [alert_id]
    view2.push(update(1001.0, durations=[3.5]))  # still bad: the same alert, no second notification
    await conn2.flush()
    assert notifier2.events == []
    assert await conn2.delete_rule("slow") is True
    await conn2.flush()
    assert [(e.state, e.alert_id) for e in notifier2.events] == [("resolved", alert_id)]
    assert storage.rules == {}
    assert await conn2.delete_rule("slow") is False
    await conn2.shutdown(time.monotonic() + 1)


async def test_api_refuses_invalid_and_config_rules():
    conn, *_ = await start([ERR])
    with pytest.raises(ValueError, match="invalid rule 'x': metric: unknown metric"):
        await conn.put_rule({"id": "x", "metric": "nope", "threshold": 1})
    with pytest.raises(ValueError, match="defined in the config file"):
        await conn.put_rule(ERR)
    with pytest.raises(ValueError, match="defined in the config file"):
        await conn.delete_rule("errors")
    with pytest.raises(KeyError):
        await conn.acknowledge("unknown")
    assert conn.list_rules()[0]["origin"] == "config" and conn.list_rules()[0]["for"] == 0.0
    await conn.shutdown(time.monotonic() + 1)


async def test_anomaly_processor_feeds_anomaly_rules():
    view = FakeMetricsView()
    conn, _, _, notifier, host, _ = await start(
        [{"id": "runaway", "source": "anomaly", "detectors": ["runaway"], "severity": "CRITICAL"}], view=view
    )
    settings = CreateSettings(ComponentID("anomaly"), ComponentKind.PROCESSOR, host.telemetry)
    proc = AnomalyProcessor(
        settings, AnomalyConfig.model_validate({"runaway": {"max_calls": 2}, "metrics": []})
    )
    await proc.start(host)
    view.push_calls([call(9, i, 1000.0) for i in range(1, 4)])
    await conn.flush()
    assert [
        (e.state, e.rule, e.severity, e.labels["detector"], e.labels["metric"]) for e in notifier.events
    ] == [("firing", "runaway", "CRITICAL", "runaway", "trace.calls")]
    assert notifier.events[0].exemplars[0][0] == (9).to_bytes(16, "big").hex()
    await proc.shutdown(time.monotonic() + 1)
    await conn.shutdown(time.monotonic() + 1)


def test_factory_and_config_errors():
    assert FACTORY.type == "alert_rules" and FACTORY.kind is ComponentKind.CONNECTOR
    assert FACTORY.signals == frozenset({Signal.METRICS}) and FACTORY.produces == frozenset({Signal.ALERTS})
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        Config.model_validate({"rules": [ERR, ERR]})
    assert "duplicate rule id 'errors'" in str(info.value)
    with pytest.raises(ValidationError) as info:
        Config.model_validate({"rules": [{**ERR, "threshold": None}]})
    assert info.value.errors()[0]["loc"] == ("rules", 0)
