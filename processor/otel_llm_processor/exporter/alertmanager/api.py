"""Alertmanager API v2: ``POST {url}/api/v2/alerts`` with a list of postable alerts.

Each alert: ``labels`` (``alertname`` = rule, ``severity`` lower-cased, plus the alert's labels,
names sanitised to ``[a-zA-Z_][a-zA-Z0-9_]*``, empty values dropped), ``annotations`` (summary,
description, value, threshold, example trace links, dashboard, acknowledged_by), ``startsAt``,
``endsAt`` and ``generatorURL``. Alertmanager resolves an alert whose ``endsAt`` passes, so firing
alerts carry ``endsAt = now + 4 x resend_interval`` and are re-posted every ``resend_interval``
(as Prometheus does); a resolved transition carries its resolution time. Acknowledged alerts stay
firing in Alertmanager (it has no acknowledgement; silence there if you route by it) with an
``acknowledged_by`` annotation. The set of firing alerts being refreshed is kept in memory: after
a restart, Alertmanager keeps an alert until its last ``endsAt`` unless it fires again.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

from otel_llm_processor.component import CreateSettings
from otel_llm_processor.exporter.alertmanager.config import Config
from otel_llm_processor.exporter.notify.event import rfc3339, trace_links
from otel_llm_processor.exporter.notify.http import HttpNotifier
from otel_llm_processor.services import AlertEvent

__all__ = ["AlertmanagerNotifier", "postable_alert"]

_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_REFRESHED_STATES = ("firing", "acknowledged")
_TTL_INTERVALS = 4


def _label_name(name: str) -> str:
    name = _INVALID.sub("_", name)
    return name if name and not name[0].isdigit() else f"_{name}"


def postable_alert(event: AlertEvent, config: Config, now: float) -> dict[str, Any]:
    labels = {_label_name(k): v for k, v in event.labels.items() if v}
    labels["alertname"] = event.rule
    labels["severity"] = event.severity.lower()
    annotations = {"summary": event.summary, "description": event.description or event.summary}
    annotations["value"] = f"{event.value:.6g}"
    if event.threshold is not None:
        annotations["threshold"] = f"{event.threshold:.6g}"
    urls = [url for _, url in trace_links(event, config.trace_url_template) if url]
    if urls:
        annotations["traces"] = "\n".join(urls)
    if config.dashboard_url:
        annotations["dashboard"] = config.dashboard_url
    if event.state == "acknowledged":
        annotations["acknowledged_by"] = event.annotations.get("acknowledged_by", "") or "yes"
    annotations.update({_label_name(k): v for k, v in event.annotations.items() if k not in annotations})
    if event.state == "resolved":
        ends_at = event.ends_at if event.ends_at is not None else event.updated_at
    else:
        ends_at = now + _TTL_INTERVALS * config.resend_interval_s
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {k: v for k, v in annotations.items() if v},
        "startsAt": rfc3339(event.starts_at),
        "endsAt": rfc3339(ends_at),
    }
    generator = config.generator_url or config.dashboard_url
    if generator:
        alert["generatorURL"] = generator
    return alert


class AlertmanagerNotifier(HttpNotifier):
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        token = config.bearer_token.get_secret_value() if config.bearer_token is not None else ""
        super().__init__(settings, config, secrets=[token])
        self._config = config
        self._endpoint = config.url.rstrip("/") + "/api/v2/alerts"
        self._headers: dict[str, str] = {"authorization": f"Bearer {token}"} if token else {}
        self._firing: dict[str, AlertEvent] = {}  # dedup_key -> last firing/acknowledged event
        self._post_lock = asyncio.Lock()
        self._refresher: asyncio.Task[None] | None = None

    def on_event(self, event: AlertEvent) -> None:
        if event.state in _REFRESHED_STATES:
            self._firing[event.dedup_key] = event
        else:
            self._firing.pop(event.dedup_key, None)

    async def on_start(self) -> None:
        await super().on_start()
        self._refresher = asyncio.create_task(self._refresh_loop(), name=f"{self.name} refresh")

    async def on_shutdown(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await super().on_shutdown()

    async def deliver(self, event: AlertEvent) -> None:
        async with self._post_lock:
            await self.post(self._endpoint, [postable_alert(event, self._config, time.time())], self._headers)

    async def refresh(self) -> int:
        """Re-post every firing alert now; returns how many were sent."""
        async with self._post_lock:  # built under the lock: a refresh never overtakes a resolve
            now = time.time()
            alerts = [postable_alert(event, self._config, now) for event in list(self._firing.values())]
            if alerts:
                await self.post(self._endpoint, alerts, self._headers)
        return len(alerts)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._config.resend_interval_s)
            try:
                sent = await self.refresh()
            except Exception as exc:  # counted; the next round tries again
                self._failed(exc)
            else:
                if sent:
                    self._telemetry.add(self.name, "alerts_refreshed", sent)
