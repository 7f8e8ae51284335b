"""Slack (incoming webhook) and PagerDuty (Events API v2) against stub servers checking exact formats."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from otel_llm_processor.component import ComponentKind, Signal
from otel_llm_processor.exporter.pagerduty import factory as pd_factory
from otel_llm_processor.exporter.pagerduty.config import Config as PdConfig
from otel_llm_processor.exporter.pagerduty.events import PagerDutyNotifier
from otel_llm_processor.exporter.slack import factory as slack_factory
from otel_llm_processor.exporter.slack.config import Config as SlackConfig
from otel_llm_processor.exporter.slack.message import SlackNotifier
from otel_llm_processor.selftel import SelfTelemetry
from otel_llm_processor.services import Storage
from otel_llm_processor.storage import StorageConfig, open_storage
from otel_llm_processor.testing.http_stub import HttpStub
from otel_llm_processor.testing.notify import alert_event, create_settings, eventually, host_with

SLACK_SECRET = "T0001/B0002/SlackSecretPath42"
ROUTING_KEY = "R0UT1NGKEY0123456789abcdefabcdef"
FAST = {"poll_interval_s": 0.02, "retry": {"initial_interval_s": 0.01, "max_interval_s": 0.05, "jitter": 0.0}}
TRACE = "0af7651916cd43dd8448eb211c80319c"


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


def test_factories() -> None:
    for factory, type_ in ((slack_factory.FACTORY, "slack"), (pd_factory.FACTORY, "pagerduty")):
        assert factory.type == type_
        assert factory.kind is ComponentKind.EXPORTER
        assert factory.signals == frozenset({Signal.ALERTS})
    assert PdConfig(routing_key="k").url == "https://events.pagerduty.com/v2/enqueue"
    assert ROUTING_KEY not in repr(PdConfig(routing_key=ROUTING_KEY))
    assert SLACK_SECRET not in repr(
        SlackConfig(webhook_url=f"https://hooks.slack.com/services/{SLACK_SECRET}")
    )


async def test_slack_message_format_and_retry(
    stub: HttpStub, storage: Storage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stub.reply(500)
    stub.reply(429, headers={"Retry-After": "0"}, body=b"rate_limited")
    tel = SelfTelemetry()
    config = SlackConfig.model_validate(
        {
            "webhook_url": f"{stub.url}/services/{SLACK_SECRET}",
            "trace_url_template": "http://jaeger:16686/trace/{trace_id}",
            "dashboard_url": "http://otel-llm:8080/",
            **FAST,
        }
    )
    notifier = SlackNotifier(create_settings("slack", tel), config)
    await notifier.start(host_with(tel, str(tmp_path), {"storage": storage}))
    await notifier.consume_alerts([alert_event("firing"), alert_event("resolved")])
    requests = await stub.wait_requests(4)
    await notifier.shutdown(time.monotonic() + 5)

    assert all(r.path == f"/services/{SLACK_SECRET}" for r in requests)
    assert requests[0].body == requests[2].body  # the retried message is identical
    assert requests[2].json() == {
        "text": ":rotating_light: [FIRING] ERROR: error rate 42% on gpt-4o",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "[FIRING] error rate 42% on gpt-4o"}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "error_rate 0.42 > 0.1 for 1m"},
                "fields": [
                    {"type": "mrkdwn", "text": "*Severity*\nERROR"},
                    {"type": "mrkdwn", "text": "*State*\nfiring"},
                    {"type": "mrkdwn", "text": "*Value*\n0.42 (threshold 0.1)"},
                    {"type": "mrkdwn", "text": "*Rule*\nHighErrorRate"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "`model=gpt-4o`  `provider=openai`  `service=checkout`"}
                ],
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"<http://jaeger:16686/trace/{TRACE}|trace {TRACE[:16]}> | <http://otel-llm:8080/|Dashboard>",
                },
            },
        ],
    }
    resolved = requests[3].json()
    assert resolved["text"] == ":white_check_mark: [RESOLVED] ERROR: error rate 42% on gpt-4o"
    assert resolved["blocks"][0]["text"]["text"] == "[RESOLVED] error rate 42% on gpt-4o"
    assert tel.counter("slack", "notifications_failed", reason="http_500") == 1
    assert tel.counter("slack", "notifications_failed", reason="http_429") == 1
    assert tel.counter("slack", "notifications_sent") == 2
    assert "HTTP Request: POST" in caplog.text  # httpx did log the requests...
    assert SLACK_SECRET not in caplog.text  # ...with the webhook URL redacted
    assert all(SLACK_SECRET not in repr(s) for s in tel.samples())


async def test_pagerduty_events_v2(
    stub: HttpStub, storage: Storage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stub.default = (
        202,
        {"content-type": "application/json"},
        b'{"status":"success","message":"Event processed"}',
    )
    stub.reply(503)
    stub.reply(429)
    stub.reply(400, body=b'{"status":"invalid event"}')  # the acknowledge below is refused: dropped
    tel = SelfTelemetry()
    config = PdConfig.model_validate(
        {
            "routing_key": ROUTING_KEY,
            "url": f"{stub.url}/v2/enqueue",
            "trace_url_template": "http://jaeger:16686/trace/{trace_id}",
            "dashboard_url": "http://otel-llm:8080/",
            **FAST,
        }
    )
    notifier = PagerDutyNotifier(create_settings("pagerduty/oncall", tel), config)
    await notifier.start(host_with(tel, str(tmp_path), {"storage": storage}))
    await notifier.consume_alerts(
        [alert_event("pending"), alert_event("firing"), alert_event("acknowledged"), alert_event("resolved")]
    )
    requests = await stub.wait_requests(5)
    await eventually(lambda: tel.counter("pagerduty/oncall", "notifications_sent") == 2)
    await notifier.shutdown(time.monotonic() + 5)

    assert all(r.path == "/v2/enqueue" for r in requests)
    bodies = [r.json() for r in requests]
    assert [b["event_action"] for b in bodies] == ["trigger", "trigger", "trigger", "acknowledge", "resolve"]
    assert bodies[2] == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "HighErrorRate/svc/gpt-4o",
        "payload": {
            "summary": "error rate 42% on gpt-4o",
            "source": "checkout",
            "severity": "error",
            "timestamp": "2025-10-09T08:53:20.000Z",
            "component": "gpt-4o",
            "group": "checkout",
            "class": "HighErrorRate",
            "custom_details": {
                "description": "error_rate 0.42 > 0.1 for 1m",
                "value": 0.42,
                "threshold": 0.1,
                "labels": {"service": "checkout", "model": "gpt-4o", "provider": "openai"},
                "alert_id": "alert-1",
            },
        },
        "links": [
            {"href": f"http://jaeger:16686/trace/{TRACE}", "text": f"trace {TRACE}"},
            {"href": "http://otel-llm:8080/", "text": "otel-llm dashboard"},
        ],
        "client": "otel-llm-processor",
        "client_url": "http://otel-llm:8080/",
    }
    assert bodies[3] == {
        "routing_key": ROUTING_KEY,
        "event_action": "acknowledge",
        "dedup_key": "HighErrorRate/svc/gpt-4o",
    }
    assert bodies[4] == {
        "routing_key": ROUTING_KEY,
        "event_action": "resolve",
        "dedup_key": "HighErrorRate/svc/gpt-4o",
    }
    assert tel.counter("pagerduty/oncall", "notifications_failed", reason="http_503") == 1
    assert tel.counter("pagerduty/oncall", "notifications_failed", reason="http_429") == 1
    assert tel.counter("pagerduty/oncall", "notifications_dropped", reason="permanent") == 1
    assert ROUTING_KEY not in caplog.text
    assert all(ROUTING_KEY not in repr(s) for s in tel.samples())
    raw = await storage._fetch("SELECT payload FROM outbox")  # type: ignore[attr-defined]
    assert raw == []


async def test_pagerduty_severity_mapping(stub: HttpStub, storage: Storage, tmp_path: Path) -> None:
    stub.default = (202, {}, b"{}")
    tel = SelfTelemetry()
    config = PdConfig.model_validate(
        {"routing_key": ROUTING_KEY, "url": f"{stub.url}/v2/enqueue", "source": "prod", **FAST}
    )
    notifier = PagerDutyNotifier(create_settings("pagerduty", tel), config)
    await notifier.start(host_with(tel, str(tmp_path), {"storage": storage}))
    severities = ["CRITICAL", "ERROR", "WARNING", "INFO"]
    await notifier.consume_alerts([alert_event("firing", severity=s, dedup_key=s) for s in severities])
    requests = await stub.wait_requests(4)
    await notifier.shutdown(time.monotonic() + 5)
    payloads = {r.json()["dedup_key"]: r.json()["payload"] for r in requests}
    assert {k: p["severity"] for k, p in payloads.items()} == {
        "CRITICAL": "critical",
        "ERROR": "error",
        "WARNING": "warning",
        "INFO": "info",
    }
    assert {p["source"] for p in payloads.values()} == {"prod"}
    assert all("links" in r.json() and r.json()["links"] == [] for r in requests)
