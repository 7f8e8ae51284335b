"""The alertmanager notifier against a real Prometheus Alertmanager (API v2) on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from otel_llm_processor.component import ComponentKind, Signal
from otel_llm_processor.exporter.alertmanager.api import AlertmanagerNotifier, postable_alert
from otel_llm_processor.exporter.alertmanager.config import Config
from otel_llm_processor.exporter.alertmanager.factory import FACTORY
from otel_llm_processor.selftel import SelfTelemetry
from otel_llm_processor.services import Storage
from otel_llm_processor.storage import StorageConfig, open_storage
from otel_llm_processor.testing.alertmanager import AlertmanagerServer
from otel_llm_processor.testing.http_stub import HttpStub
from otel_llm_processor.testing.notify import T0, alert_event, create_settings, eventually, host_with

FAST = {"poll_interval_s": 0.02, "retry": {"initial_interval_s": 0.01, "max_interval_s": 0.05, "jitter": 0.0}}
TRACE = "0af7651916cd43dd8448eb211c80319c"
LABELS = {
    "alertname": "HighErrorRate",
    "severity": "error",
    "service": "checkout",
    "model": "gpt-4o",
    "provider": "openai",
}


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    store = await open_storage(StorageConfig(), str(tmp_path))
    yield store
    await store.close()


@pytest.fixture
def stub() -> Iterator[HttpStub]:
    server = HttpStub().up()
    yield server
    server.down()


def _config(url: str, **extra: Any) -> Config:
    return Config.model_validate(
        {
            "url": url,
            "trace_url_template": "http://jaeger:16686/trace/{trace_id}",
            "dashboard_url": "http://otel-llm:8080/",
            **FAST,
            **extra,
        }
    )


async def _alerts(am: AlertmanagerServer) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{am.url}/api/v2/alerts")
        response.raise_for_status()
        return [a for a in response.json() if a["labels"].get("alertname") == "HighErrorRate"]


def test_factory() -> None:
    assert FACTORY.type == "alertmanager"
    assert FACTORY.kind is ComponentKind.EXPORTER
    assert FACTORY.signals == frozenset({Signal.ALERTS})


def test_postable_alert_format() -> None:
    config = _config("http://am:9093", resend_interval_s=30)
    now = T0 + 500
    firing = postable_alert(
        alert_event("firing", labels={"service": "a", "gen.ai-x": "y", "empty": ""}), config, now
    )
    assert firing == {
        "labels": {"alertname": "HighErrorRate", "severity": "error", "service": "a", "gen_ai_x": "y"},
        "annotations": {
            "summary": "error rate 42% on gpt-4o",
            "description": "error_rate 0.42 > 0.1 for 1m",
            "value": "0.42",
            "threshold": "0.1",
            "traces": f"http://jaeger:16686/trace/{TRACE}",
            "dashboard": "http://otel-llm:8080/",
        },
        "startsAt": "2025-10-09T08:53:20.000Z",
        "endsAt": "2025-10-09T09:03:40.000Z",  # now (T0 + 500 s) + 4 x resend_interval
        "generatorURL": "http://otel-llm:8080/",
    }
    resolved = postable_alert(alert_event("resolved"), config, now)
    assert resolved["endsAt"] == "2025-10-09T08:55:20.000Z"  # the resolution time


async def test_real_alertmanager_fire_acknowledge_resolve(
    alertmanager_server: AlertmanagerServer, storage: Storage, tmp_path: Path
) -> None:
    tel = SelfTelemetry()
    notifier = AlertmanagerNotifier(create_settings("alertmanager", tel), _config(alertmanager_server.url))
    await notifier.start(host_with(tel, str(tmp_path), {"storage": storage}))
    try:
        await notifier.consume_alerts([alert_event("firing")])
        await eventually(lambda: tel.counter("alertmanager", "notifications_sent") == 1)
        (alert,) = await _alerts(alertmanager_server)
        assert alert["labels"] == LABELS
        assert alert["annotations"] == {
            "summary": "error rate 42% on gpt-4o",
            "description": "error_rate 0.42 > 0.1 for 1m",
            "value": "0.42",
            "threshold": "0.1",
            "traces": f"http://jaeger:16686/trace/{TRACE}",
            "dashboard": "http://otel-llm:8080/",
        }
        assert alert["status"]["state"] == "active"
        assert alert["startsAt"] == "2025-10-09T08:53:20.000Z"
        assert alert["generatorURL"] == "http://otel-llm:8080/"

        await notifier.consume_alerts([alert_event("acknowledged", annotations={"acknowledged_by": "alice"})])
        await eventually(lambda: tel.counter("alertmanager", "notifications_sent") == 2)
        (alert,) = await _alerts(alertmanager_server)
        assert alert["annotations"]["acknowledged_by"] == "alice"
        assert alert["status"]["state"] == "active"

        await notifier.consume_alerts([alert_event("resolved")])
        await eventually(lambda: tel.counter("alertmanager", "notifications_sent") == 3)
        # Alertmanager lists only unresolved alerts: a resolved one (endsAt in the past) is gone
        assert await _alerts(alertmanager_server) == []
        assert await notifier.refresh() == 0  # nothing firing is re-posted
    finally:
        await notifier.shutdown(time.monotonic() + 5)


async def test_firing_alerts_are_reposted(stub: HttpStub, storage: Storage, tmp_path: Path) -> None:
    tel = SelfTelemetry()
    notifier = AlertmanagerNotifier(
        create_settings("alertmanager", tel), _config(stub.url, resend_interval_s=0.05)
    )
    await notifier.start(host_with(tel, str(tmp_path), {"storage": storage}))
    await notifier.consume_alerts([alert_event("firing"), alert_event("firing", dedup_key="k2", rule="Cost")])
    await eventually(lambda: tel.counter("alertmanager", "alerts_refreshed") >= 4)
    await notifier.consume_alerts([alert_event("resolved")])
    count = len(stub.requests)
    await eventually(lambda: len(stub.requests) >= count + 2)
    await notifier.shutdown(time.monotonic() + 5)
    assert all(r.path == "/api/v2/alerts" for r in stub.requests)
    refreshes = [
        r.json() for r in stub.requests if len(r.json()) > 1 or r.json()[0]["labels"]["alertname"] == "Cost"
    ]
    assert refreshes, "the firing alerts were re-posted together"
    last = stub.requests[-1].json()
    # after the resolve, only the other alert is refreshed
    assert [a["labels"]["alertname"] for a in last] == ["Cost"]
    resolved = [a for r in stub.requests for a in r.json() if a["endsAt"] == "2025-10-09T08:55:20.000Z"]
    assert len(resolved) == 1
