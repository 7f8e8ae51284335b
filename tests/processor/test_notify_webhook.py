"""The shared outbox sender, through the webhook notifier and a scripted HTTP stub."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from otel_llm_processor.component import ComponentKind, Signal
from otel_llm_processor.exporter.webhook.config import Config
from otel_llm_processor.exporter.webhook.factory import FACTORY
from otel_llm_processor.exporter.webhook.post import WebhookNotifier
from otel_llm_processor.selftel import SelfTelemetry
from otel_llm_processor.services import Storage
from otel_llm_processor.storage import StorageConfig, open_storage
from otel_llm_processor.testing.http_stub import HttpStub
from otel_llm_processor.testing.notify import T0, alert_event, create_settings, eventually, host_with
from otel_llm_processor.testing.postgres import free_port

TOKEN = "s3cr3t-bearer-token-xyz"
FAST = {"poll_interval_s": 0.02, "retry": {"initial_interval_s": 0.01, "max_interval_s": 0.05, "jitter": 0.0}}


@pytest.fixture
def stub() -> Iterator[HttpStub]:
    server = HttpStub().up()
    yield server
    server.down()


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    store = await open_storage(StorageConfig(), str(tmp_path))
    yield store
    await store.close()


def _config(stub: HttpStub, **extra: object) -> Config:
    return Config.model_validate(
        {
            "url": f"{stub.url}/hook",
            "bearer_token": TOKEN,
            "headers": {"X-Team": "llm"},
            "trace_url_template": "http://jaeger:16686/trace/{trace_id}",
            "dashboard_url": "http://otel-llm:8080/",
            **FAST,
            **extra,
        }
    )


async def _started(
    stub: HttpStub, storage: Storage, tel: SelfTelemetry, tmp: Path, **extra: object
) -> WebhookNotifier:
    notifier = WebhookNotifier(create_settings("webhook/ops", tel), _config(stub, **extra))
    await notifier.start(host_with(tel, str(tmp), {"storage": storage}))
    return notifier


def test_factory() -> None:
    assert FACTORY.type == "webhook"
    assert FACTORY.kind is ComponentKind.EXPORTER
    assert FACTORY.signals == frozenset({Signal.ALERTS})
    with pytest.raises(ValueError, match="trace_url_template"):
        Config.model_validate({"url": "http://x", "trace_url_template": "http://j/{bad}"})


async def test_webhook_body_and_headers(stub: HttpStub, storage: Storage, tmp_path: Path) -> None:
    tel = SelfTelemetry()
    notifier = await _started(stub, storage, tel, tmp_path)
    await notifier.consume_alerts([alert_event("firing")])
    (request,) = await stub.wait_requests(1)
    await notifier.shutdown(time.monotonic() + 5)
    assert request.path == "/hook"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-team"] == "llm"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "version": 1,
        "source": "otel-llm-processor",
        "receiver": "webhook/ops",
        "dashboard_url": "http://otel-llm:8080/",
        "alert": {
            "alert_id": "alert-1",
            "rule": "HighErrorRate",
            "dedup_key": "HighErrorRate/svc/gpt-4o",
            "state": "firing",
            "severity": "ERROR",
            "summary": "error rate 42% on gpt-4o",
            "description": "error_rate 0.42 > 0.1 for 1m",
            "labels": {"service": "checkout", "model": "gpt-4o", "provider": "openai"},
            "annotations": {},
            "value": 0.42,
            "threshold": 0.1,
            "starts_at": T0,
            "updated_at": T0,
            "ends_at": None,
            "starts_at_rfc3339": "2025-10-09T08:53:20.000Z",
            "updated_at_rfc3339": "2025-10-09T08:53:20.000Z",
            "ends_at_rfc3339": None,
            "exemplars": [
                {
                    "trace_id": "0af7651916cd43dd8448eb211c80319c",
                    "span_id": "b7ad6b7169203331",
                    "url": "http://jaeger:16686/trace/0af7651916cd43dd8448eb211c80319c",
                }
            ],
        },
    }
    assert tel.counter("webhook/ops", "notifications_enqueued") == 1
    assert tel.counter("webhook/ops", "notifications_sent") == 1
    assert await storage.outbox_size() == 0


async def test_transient_errors_retry_in_order(stub: HttpStub, storage: Storage, tmp_path: Path) -> None:
    stub.reply(500)
    stub.reply(429, headers={"Retry-After": "0"})
    stub.reply(503)
    tel = SelfTelemetry()
    notifier = await _started(stub, storage, tel, tmp_path)
    await notifier.consume_alerts(
        [alert_event("firing"), alert_event("acknowledged"), alert_event("resolved")]
    )
    requests = await stub.wait_requests(6)
    await notifier.shutdown(time.monotonic() + 5)
    # the resolve and acknowledge wait behind the firing transition of the same alert
    assert [r.json()["alert"]["state"] for r in requests] == [
        "firing",
        "firing",
        "firing",
        "firing",
        "acknowledged",
        "resolved",
    ]
    assert tel.counter("webhook/ops", "notifications_sent") == 3
    assert tel.counter("webhook/ops", "notifications_failed", reason="http_500") == 1
    assert tel.counter("webhook/ops", "notifications_failed", reason="http_429") == 1
    assert tel.counter("webhook/ops", "notifications_failed", reason="http_503") == 1
    assert tel.gauge("webhook/ops", "outbox_size") == 0


async def test_permanent_error_is_dropped(stub: HttpStub, storage: Storage, tmp_path: Path) -> None:
    stub.reply(400, b"invalid_payload")
    tel = SelfTelemetry()
    notifier = await _started(stub, storage, tel, tmp_path)
    await notifier.consume_alerts([alert_event("firing"), alert_event("firing", dedup_key="other")])
    requests = await stub.wait_requests(2)
    await eventually(lambda: tel.counter("webhook/ops", "notifications_sent") == 1)
    await notifier.shutdown(time.monotonic() + 5)
    assert [r.json()["alert"]["dedup_key"] for r in requests] == ["HighErrorRate/svc/gpt-4o", "other"]
    assert tel.counter("webhook/ops", "notifications_dropped", reason="permanent") == 1
    assert tel.counter("webhook/ops", "notifications_failed", reason="http_400") == 1
    assert await storage.outbox_size() == 0


async def test_expired_entries_are_dropped(stub: HttpStub, storage: Storage, tmp_path: Path) -> None:
    stub.default = (503, {}, b"")
    tel = SelfTelemetry()
    notifier = await _started(
        stub, storage, tel, tmp_path, retry={"initial_interval_s": 0.01, "max_age_s": 0.2}
    )
    await notifier.consume_alerts([alert_event("firing")])
    await eventually(lambda: tel.counter("webhook/ops", "notifications_dropped", reason="expired") == 1)
    await notifier.shutdown(time.monotonic() + 5)
    assert tel.counter("webhook/ops", "notifications_sent") == 0
    assert tel.counter("webhook/ops", "notifications_failed", reason="http_503") >= 2
    assert await storage.outbox_size() == 0


async def test_filters_states_and_severity(stub: HttpStub, storage: Storage, tmp_path: Path) -> None:
    tel = SelfTelemetry()
    notifier = await _started(stub, storage, tel, tmp_path, states=["firing"], min_severity="ERROR")
    await notifier.consume_alerts(
        [
            alert_event("pending"),
            alert_event("firing", severity="WARNING", dedup_key="w"),
            alert_event("resolved"),
            alert_event("firing", severity="CRITICAL", dedup_key="c"),
        ]
    )
    (request,) = await stub.wait_requests(1)
    await notifier.shutdown(time.monotonic() + 5)
    assert request.json()["alert"]["dedup_key"] == "c"
    assert tel.counter("webhook/ops", "notifications_enqueued") == 1


@pytest.mark.parametrize("driver", ["sqlite", "postgres"])
async def test_outbox_survives_restart(
    driver: str, request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = (
        StorageConfig(driver="postgres", dsn=request.getfixturevalue("postgres_dsn"))
        if driver == "postgres"
        else StorageConfig()
    )
    stub = HttpStub(port=free_port())  # not listening yet: connection refused
    tel = SelfTelemetry()
    storage = await open_storage(config, str(tmp_path))
    notifier = await _started(stub, storage, tel, tmp_path)
    await notifier.consume_alerts([alert_event("firing"), alert_event("resolved")])
    await eventually(lambda: tel.counter("webhook/ops", "notifications_failed", reason="connection") >= 1)
    await notifier.shutdown(time.monotonic() + 5)
    assert await storage.outbox_size("webhook/ops") == 2
    raw = await storage._fetch("SELECT payload FROM outbox")  # type: ignore[attr-defined]
    assert raw and all(TOKEN not in row[0] for row in raw)  # secrets are not persisted
    await storage.close()

    stub.up()
    try:
        tel2 = SelfTelemetry()
        storage = await open_storage(config, str(tmp_path))
        notifier = await _started(stub, storage, tel2, tmp_path)
        requests = await stub.wait_requests(2)
        await eventually(lambda: tel2.counter("webhook/ops", "notifications_sent") == 2)
        await notifier.shutdown(time.monotonic() + 5)
        assert [r.json()["alert"]["state"] for r in requests] == ["firing", "resolved"]
        assert await storage.outbox_size() == 0
        await storage.close()
    finally:
        stub.down()
    # no secret in logs or self-telemetry
    assert TOKEN not in caplog.text
    for sample in [*tel.samples(), *tel2.samples()]:
        assert TOKEN not in repr(sample)


async def test_storage_outage_holds_events_in_memory(stub: HttpStub, tmp_path: Path) -> None:
    tel = SelfTelemetry()
    storage = await open_storage(StorageConfig(), str(tmp_path))
    notifier = await _started(stub, storage, tel, tmp_path)
    original = storage.outbox_put
    failing = True

    async def flaky_put(*args: object, **kwargs: object) -> int:
        if failing:
            raise OSError("disk gone")
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    storage.outbox_put = flaky_put  # type: ignore[method-assign]
    await notifier.consume_alerts([alert_event("firing")])  # returns: ingestion is not blocked
    await eventually(lambda: tel.counter("webhook/ops", "outbox_errors") >= 2)
    assert stub.requests == []
    failing = False
    (request,) = await stub.wait_requests(1)
    await notifier.shutdown(time.monotonic() + 5)
    await storage.close()
    assert request.json()["alert"]["state"] == "firing"
    assert tel.counter("webhook/ops", "notifications_sent") == 1


async def test_lifecycle_is_idempotent_and_owns_storage_without_service(
    stub: HttpStub, tmp_path: Path
) -> None:
    tel = SelfTelemetry()
    notifier = WebhookNotifier(create_settings("webhook", tel), _config(stub))
    await notifier.shutdown(time.monotonic() + 1)  # safe before start
    notifier = WebhookNotifier(create_settings("webhook", tel), _config(stub))
    host = host_with(tel, str(tmp_path))
    await notifier.start(host)
    await notifier.start(host)
    await notifier.consume_alerts([alert_event("firing")])
    await stub.wait_requests(1)
    await notifier.shutdown(time.monotonic() + 5)
    await notifier.shutdown(time.monotonic() + 5)
    assert (tmp_path / "otel-llm.db").exists()
