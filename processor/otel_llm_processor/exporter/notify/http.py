"""Base of the notifiers that POST JSON over HTTP (webhook, Slack, PagerDuty, Alertmanager)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from otel_llm_processor.component import CreateSettings
from otel_llm_processor.exporter.notify.config import NotifierConfig
from otel_llm_processor.exporter.notify.errors import post_json
from otel_llm_processor.exporter.notify.notifier import Notifier
from otel_llm_processor.exporter.notify.redact import redact_in_logs

__all__ = ["HttpNotifier"]


class HttpNotifier(Notifier):
    """One httpx client for the notifier's lifetime; ``secrets`` are masked in the HTTP libraries'
    logs. Subclasses implement ``deliver`` with :meth:`post`."""

    def __init__(self, settings: CreateSettings, config: NotifierConfig, secrets: Iterable[str] = ()) -> None:
        super().__init__(settings, config)
        self._client: httpx.AsyncClient | None = None
        redact_in_logs(*secrets)

    async def on_start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.config.timeout_s)

    async def on_shutdown(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def post(self, url: str, body: Any, headers: Mapping[str, str] | None = None) -> None:
        """POST ``body`` as JSON; errors are mapped to permanent/transient delivery errors."""
        assert self._client is not None, "on_start() first"
        await post_json(self._client, url, body, headers)
