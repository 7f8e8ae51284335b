"""PagerDuty Events API v2: ``POST /v2/enqueue``.

firing -> ``trigger`` (with ``payload``), acknowledged -> ``acknowledge``, resolved -> ``resolve``;
``dedup_key`` is the alert's deduplication key so the three land on one incident. Other states are
not sent. Severity maps CRITICAL/ERROR/WARNING/INFO to critical/error/warning/info.
"""

from __future__ import annotations

from typing import Any

from otel_llm_processor.component import CreateSettings
from otel_llm_processor.exporter.notify.event import rfc3339, trace_links
from otel_llm_processor.exporter.notify.http import HttpNotifier
from otel_llm_processor.exporter.pagerduty.config import Config
from otel_llm_processor.services import AlertEvent

__all__ = ["ACTIONS", "PagerDutyNotifier", "pagerduty_event"]

ACTIONS = {"firing": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}
_SEVERITY = {"CRITICAL": "critical", "ERROR": "error", "WARNING": "warning", "INFO": "info"}


def pagerduty_event(event: AlertEvent, routing_key: str, config: Config) -> dict[str, Any] | None:
    action = ACTIONS.get(event.state)
    if action is None:
        return None
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": event.dedup_key[:255],
    }
    if action != "trigger":
        return body
    details: dict[str, Any] = {
        "description": event.description,
        "value": event.value,
        "threshold": event.threshold,
        "labels": dict(event.labels),
        "alert_id": event.alert_id,
    }
    if event.annotations:
        details["annotations"] = dict(event.annotations)
    body["payload"] = {
        "summary": (event.summary or event.rule)[:1024],
        "source": config.source or event.labels.get("service", "") or "otel-llm-processor",
        "severity": _SEVERITY.get(event.severity, "error"),
        "timestamp": rfc3339(event.starts_at),
        "component": event.labels.get("model", ""),
        "group": event.labels.get("service", ""),
        "class": event.rule,
        "custom_details": details,
    }
    links = [
        {"href": url, "text": f"trace {trace_id}"}
        for trace_id, url in trace_links(event, config.trace_url_template)
        if url
    ]
    if config.dashboard_url:
        links.append({"href": config.dashboard_url, "text": "otel-llm dashboard"})
    body["links"] = links
    body["client"] = "otel-llm-processor"
    if config.dashboard_url:
        body["client_url"] = config.dashboard_url
    return body


class PagerDutyNotifier(HttpNotifier):
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        super().__init__(settings, config, secrets=[config.routing_key.get_secret_value()])
        self._config = config

    async def deliver(self, event: AlertEvent) -> None:
        body = pagerduty_event(event, self._config.routing_key.get_secret_value(), self._config)
        if body is not None:
            await self.post(self._config.url, body)
