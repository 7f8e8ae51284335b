"""The alerts exporter every notifier is: ``consume_alerts`` only writes the outbox; a task delivers.

Delivery is sequential per notifier, oldest first, and per alert (dedup key) strictly in order:
a later transition waits while an earlier one is being retried. Transient failures retry with
exponential backoff and jitter (honouring ``Retry-After``) until ``retry.max_age_s``; permanent
failures are dropped at once. Everything is counted in self-telemetry under the component id:

- ``notifications_enqueued``, ``notifications_sent``
- ``notifications_failed{reason}``: every failed attempt (``http_503``, ``timeout``, ``connection``, ``smtp_451`` ...)
- ``notifications_dropped{reason}``: ``permanent``, ``expired``, ``overflow``
- ``outbox_size`` (gauge), ``outbox_errors`` (storage unavailable)

The outbox lives in the ``"storage"`` service (shared by replicas on PostgreSQL); without one the
notifier opens a SQLite file in ``data_dir``. When storage itself fails, events wait in a bounded
in-memory list (``max_pending``) until it is back; ingestion is never blocked.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from typing import Any

from otel_llm_processor.component import CreateSettings, Host, PermanentError, RetryableError
from otel_llm_processor.exporter.notify.config import SEVERITIES, NotifierConfig
from otel_llm_processor.exporter.notify.event import PAYLOAD_VERSION, event_from_dict, event_to_dict
from otel_llm_processor.services import AlertEvent, Storage

__all__ = ["Notifier"]

logger = logging.getLogger(__name__)

_HELP = {
    "notifications_enqueued": "alert transitions written to a notifier's outbox",
    "notifications_sent": "notifications delivered",
    "notifications_failed": "failed delivery attempts, by reason",
    "notifications_dropped": "notifications given up (permanent error, too old, overflow)",
    "outbox_size": "notifications waiting in the outbox",
    "outbox_errors": "outbox operations that failed because storage was unavailable",
}


class Notifier:
    """Base of every notifier: subclasses implement :meth:`deliver` (and may override the hooks)."""

    def __init__(self, settings: CreateSettings, config: NotifierConfig) -> None:
        self.config = config
        self.name = str(settings.id)
        self._telemetry = settings.telemetry
        self._states = frozenset(config.states)
        self._min_rank = SEVERITIES.index(config.min_severity)
        self._storage: Storage | None = None
        self._own_storage = False
        self._pending: collections.deque[dict[str, Any]] = collections.deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._started = False

    # ---- subclass interface --------------------------------------------------------------------
    async def deliver(self, event: AlertEvent) -> None:
        """Send one transition; raise PermanentError / RetryableError (with a ``reason``) on failure."""
        raise NotImplementedError

    async def on_start(self) -> None:
        """Create clients (called once, before delivery starts)."""

    async def on_shutdown(self) -> None:
        """Close clients (called once, after delivery stopped)."""

    def on_event(self, event: AlertEvent) -> None:
        """Called synchronously for every accepted event, before it is queued."""

    # ---- lifecycle ----------------------------------------------------------------------------
    async def start(self, host: Host) -> None:
        if self._started:
            return
        self._started = True
        for name, text in _HELP.items():
            if hasattr(self._telemetry, "describe"):
                self._telemetry.describe(name, text)
        storage = host.service("storage")
        if storage is None:
            from otel_llm_processor.storage import StorageConfig, open_storage

            storage = await open_storage(StorageConfig(), host.data_dir)
            self._own_storage = True
        self._storage = storage
        await self.on_start()
        self._task = asyncio.create_task(self._run(), name=f"notifier {self.name}")

    async def shutdown(self, deadline: float) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), max(0.0, deadline - time.monotonic()))
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._started:
            await self.on_shutdown()
        if self._own_storage and self._storage is not None:
            await self._storage.close()
        self._storage = None

    # ---- ingestion side -----------------------------------------------------------------------
    async def consume_alerts(self, events: Sequence[Any]) -> None:
        now = time.time()
        for event in events:
            if event.state not in self._states or self._rank(event.severity) < self._min_rank:
                continue
            self.on_event(event)
            payload = {
                "v": PAYLOAD_VERSION,
                "dedup_key": event.dedup_key,
                "enqueued_at": now,
                "event": event_to_dict(event),
            }
            if not await self._put(payload, now):
                self._hold(payload)
        self._wake.set()

    @staticmethod
    def _rank(severity: str) -> int:
        return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1

    async def _put(self, payload: dict[str, Any], now: float) -> bool:
        if self._storage is None or self._pending:  # keep order behind events already held
            return False
        try:
            await self._storage.outbox_put(self.name, payload, now)
        except Exception:  # storage unavailable: hold in memory, never fail ingestion
            logger.debug("outbox write failed for %s", self.name, exc_info=True)
            self._telemetry.add(self.name, "outbox_errors")
            return False
        self._telemetry.add(self.name, "notifications_enqueued")
        return True

    def _hold(self, payload: dict[str, Any]) -> None:
        if len(self._pending) >= self.config.max_pending:
            self._telemetry.add(self.name, "notifications_dropped", reason="overflow")
            return
        self._pending.append(payload)

    async def _flush_pending(self) -> None:
        assert self._storage is not None
        while self._pending:
            await self._storage.outbox_put(self.name, self._pending[0], time.time())
            self._pending.popleft()
            self._telemetry.add(self.name, "notifications_enqueued")

    # ---- delivery side ------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            full = False
            try:
                await self._flush_pending()
                full = await self._deliver_due()
                assert self._storage is not None
                self._telemetry.set(self.name, "outbox_size", await self._storage.outbox_size(self.name))
            except Exception:
                logger.debug("outbox pass failed for %s", self.name, exc_info=True)
                self._telemetry.add(self.name, "outbox_errors")
            if full or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_interval_s)

    async def _deliver_due(self) -> bool:
        storage = self._storage
        assert storage is not None
        batch = await storage.outbox_due(self.name, time.time(), self.config.batch_size)
        for index, (entry_id, payload, attempts) in enumerate(batch):
            if self._stopping:  # hand the rest back at once instead of waiting for the lease
                for rest_id, _, _ in batch[index:]:
                    await storage.outbox_retry(rest_id, time.time(), "shutdown")
                return False
            await self._deliver_entry(storage, entry_id, payload, attempts)
        return len(batch) >= self.config.batch_size

    async def _deliver_entry(self, storage: Storage, entry_id: int, payload: Any, attempts: int) -> None:
        try:
            event = event_from_dict(payload["event"])
        except (KeyError, TypeError, ValueError):
            await storage.outbox_done(entry_id)
            self._telemetry.add(self.name, "notifications_dropped", reason="malformed")
            return
        try:
            await asyncio.wait_for(self.deliver(event), self.config.timeout_s)
        except PermanentError as exc:
            await storage.outbox_done(entry_id)
            self._failed(exc)
            self._telemetry.add(self.name, "notifications_dropped", reason="permanent")
            logger.warning("%s: dropped a notification after a permanent error: %s", self.name, exc)
        except Exception as exc:  # RetryableError, timeouts, anything unexpected: retry
            self._failed(exc)
            age = time.time() - float(payload.get("enqueued_at", 0.0))
            if age > self.config.retry.max_age_s:
                await storage.outbox_done(entry_id)
                self._telemetry.add(self.name, "notifications_dropped", reason="expired")
                logger.warning("%s: dropped a notification after retrying for %.0f s", self.name, age)
                return
            retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
            await storage.outbox_retry(entry_id, time.time() + self.backoff(attempts, retry_after), str(exc))
        else:
            await storage.outbox_done(entry_id)
            self._telemetry.add(self.name, "notifications_sent")

    def _failed(self, exc: BaseException) -> None:
        reason = "timeout" if isinstance(exc, TimeoutError) else getattr(exc, "reason", None) or "error"
        self._telemetry.add(self.name, "notifications_failed", reason=reason)

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        retry = self.config.retry
        delay = min(retry.max_interval_s, retry.initial_interval_s * retry.multiplier ** min(attempts, 60))
        delay *= 1.0 + random.uniform(-retry.jitter, retry.jitter)
        return max(delay, retry_after or 0.0)
