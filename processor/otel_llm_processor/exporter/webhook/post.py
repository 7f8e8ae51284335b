"""The webhook body (schema version 1) and its delivery.

.. code-block:: json

    {
      "version": 1,
      "source": "otel-llm-processor",
      "receiver": "webhook/ops",
      "alert": {
        "alert_id": "...", "rule": "...", "dedup_key": "...",
        "state": "pending|firing|resolved|acknowledged|silenced",
        "severity": "INFO|WARNING|ERROR|CRITICAL",
        "summary": "...", "description": "...",
        "labels": {"service": "..."}, "annotations": {},
        "value": 0.42, "threshold": 0.1,
        "starts_at": 1700000000.0, "updated_at": 1700000060.0, "ends_at": null,
        "starts_at_rfc3339": "2023-11-14T22:13:20.000Z",
        "exemplars": [{"trace_id": "...", "span_id": "...", "url": "http://jaeger:16686/trace/..."}]
      },
      "dashboard_url": "http://..."
    }

Times are unix seconds (``*_rfc3339`` twins for readers that prefer text); ``url`` is empty
when no ``trace_url_template`` is configured.
"""

from __future__ import annotations

from typing import Any

from otel_llm_processor.component import CreateSettings
from otel_llm_processor.exporter.notify.event import event_to_dict, rfc3339
from otel_llm_processor.exporter.notify.http import HttpNotifier
from otel_llm_processor.exporter.webhook.config import Config
from otel_llm_processor.services import AlertEvent

__all__ = ["SCHEMA_VERSION", "WebhookNotifier", "webhook_body"]

SCHEMA_VERSION = 1


def webhook_body(event: AlertEvent, receiver: str, config: Config) -> dict[str, Any]:
    alert = event_to_dict(event)
    alert["starts_at_rfc3339"] = rfc3339(event.starts_at)
    alert["updated_at_rfc3339"] = rfc3339(event.updated_at)
    alert["ends_at_rfc3339"] = rfc3339(event.ends_at) if event.ends_at is not None else None
    template = config.trace_url_template
    alert["exemplars"] = [
        {
            "trace_id": trace_id,
            "span_id": span_id,
            "url": template.format(trace_id=trace_id, span_id=span_id) if template else "",
        }
        for trace_id, span_id in event.exemplars
    ]
    return {
        "version": SCHEMA_VERSION,
        "source": "otel-llm-processor",
        "receiver": receiver,
        "alert": alert,
        "dashboard_url": config.dashboard_url,
    }


class WebhookNotifier(HttpNotifier):
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        secrets = [v.get_secret_value() for v in config.headers.values()]
        if config.bearer_token is not None:
            secrets.append(config.bearer_token.get_secret_value())
        super().__init__(settings, config, secrets=secrets)
        self._config = config
        self._headers = {"content-type": "application/json", "user-agent": "otel-llm-processor"}
        self._headers.update({k: v.get_secret_value() for k, v in config.headers.items()})
        if config.bearer_token is not None:
            self._headers["authorization"] = f"Bearer {config.bearer_token.get_secret_value()}"

    async def deliver(self, event: AlertEvent) -> None:
        await self.post(self._config.url, webhook_body(event, self.name, self._config), self._headers)
