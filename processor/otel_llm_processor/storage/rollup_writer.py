"""Feeds the hourly rollups (``/v1/trends``) from the ``llm_metrics`` connector's series updates.

Updates are merged in memory per (hour, series) -- sums add, maxima take the max, histogram
counts add, exactly as the storage merges them -- and written every ``interval`` seconds and at
shutdown, so the database sees one write per series and interval instead of one per batch.
Bounded: past ``max_keys`` pending (hour, series) pairs an early flush is requested and further
new keys are dropped and counted until it has run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from otel_llm_processor.services import SeriesUpdate, Storage
from otel_llm_processor.storage.rollup import MAX_FIELDS, hour_of, series_key, values_from_update

__all__ = ["RollupWriter"]

_log = logging.getLogger(__name__)
COMPONENT = "rollups"


class RollupWriter:
    def __init__(
        self, storage: Storage, telemetry: Any, interval: float = 30.0, max_keys: int = 10_000
    ) -> None:
        self.storage = storage
        self.telemetry = telemetry
        self.interval = interval
        self.max_keys = max_keys
        self._pending: dict[tuple[int, str], tuple[Mapping[str, str], dict[str, float]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def on_updates(self, updates: Sequence[SeriesUpdate]) -> None:
        """``LlmMetricsView.subscribe`` callback: merge, never block."""
        for update in updates:
            if not update.calls:
                continue
            key = (hour_of(update.time), series_key(update.labels))
            entry = self._pending.get(key)
            if entry is None:
                if len(self._pending) >= self.max_keys:
                    self.telemetry.add(COMPONENT, "rollup_updates_dropped", reason="overflow")
                    self._wake.set()
                    continue
                self._pending[key] = (dict(update.labels), values_from_update(update))
                continue
            values = entry[1]
            for name, value in values_from_update(update).items():
                if name in MAX_FIELDS:
                    values[name] = max(values.get(name, value), value)
                else:
                    values[name] = values.get(name, 0.0) + value

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="rollup-writer")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> int:
        """Write what is pending; returns the number of (hour, series) rows written."""
        pending, self._pending = self._pending, {}
        written = 0
        for (hour, _), (labels, values) in pending.items():
            try:
                await self.storage.add_rollup(hour, labels, values)
                written += 1
            except Exception:  # storage outage: counted, never raised into the pipeline
                _log.debug("rollup write failed", exc_info=True)
                self.telemetry.add(COMPONENT, "rollup_updates_dropped", reason="storage")
        if written:
            self.telemetry.add(COMPONENT, "rollups_written", float(written))
        return written

    async def stop(self) -> None:
        """Stop the timer and write what is left (idempotent)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
