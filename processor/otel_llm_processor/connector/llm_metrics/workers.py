"""Worker processes that turn raw export requests into :class:`~.aggregator.Columns`.

Reading LLM spans is pure Python over protobuf objects (~10 µs a span), while the aggregation that
follows is numpy over a whole batch. With ``workers: N`` the connector sends each request's bytes
(``TracesBatch.raw``, as received) to one of N spawned processes, which parse them, map and
de-duplicate the calls (:func:`.columns.extract`) and send back the compact columns; the event
loop only merges them into the series (:meth:`.aggregator.Aggregator.aggregate_columns`). So the
event loop keeps serving the receiver and the exporters while another core reads spans.

The connector hands a batch over and returns (the receiver answers its client) without waiting for
the result, which is aggregated when it comes back. In-flight batches are bounded (``4 * N``): a
caller waits for a free slot (counted as ``worker_waits``) and the wait backs up into the
receiver's bounded intake queue, which refuses with a retryable status when full. A worker that
dies is replaced; the batch it held is read in the event loop's process instead (counted as
``worker_failures``).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from otel_llm_processor.connector.llm_metrics.columns import Extracted, extract_raw

__all__ = ["WorkerPool", "resolve_workers"]

_log = logging.getLogger(__name__)
_SLOTS_PER_WORKER = 4  # batches in flight per worker: one being read, the rest queued behind it


def resolve_workers(setting: int | str, cpus: int | None = None) -> int:
    """``auto``: one worker per core beyond the first (none on one core); an int is taken as is."""
    if setting == "auto":
        n = cpus if cpus is not None else (os.cpu_count() or 1)
        return max(0, n - 1)
    return int(setting)


class WorkerPool:
    def __init__(self, workers: int, dims: Sequence[str], defaults: Sequence[str]) -> None:
        self.workers = workers
        self._dims = tuple(dims)
        self._defaults = tuple(defaults)
        self._executor: ProcessPoolExecutor | None = None
        self._slots: asyncio.Semaphore | None = None
        self.waits = 0
        self.failures = 0

    def start(self) -> None:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
            self._slots = asyncio.Semaphore(_SLOTS_PER_WORKER * self.workers)

    async def submit(self, raw: bytes, want_rows: bool) -> asyncio.Future[Extracted]:
        """Hand the batch to a worker; waits only for a free slot (of ``2 * workers``).

        The returned future gives the batch's columns, or the worker's exception (counted in
        ``failures``; a broken pool is replaced): the caller then reads the batch itself.
        """
        if self._executor is None or self._slots is None:
            raise RuntimeError("worker pool not started")
        slots = self._slots
        if slots.locked():
            self.waits += 1
        await slots.acquire()
        executor = self._executor
        try:
            future = asyncio.get_running_loop().run_in_executor(
                executor, extract_raw, raw, self._dims, self._defaults, want_rows
            )
        except Exception:
            slots.release()
            self.failures += 1
            self._replace(executor)
            raise

        def done(f: asyncio.Future[Extracted]) -> None:
            slots.release()
            if not f.cancelled() and f.exception() is not None:
                self.failures += 1
                self._replace(executor)

        future.add_done_callback(done)
        return future

    def _replace(self, broken: ProcessPoolExecutor | None) -> None:
        if broken is not None and broken is self._executor and getattr(broken, "_broken", False):
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )

    def shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        return f"WorkerPool(workers={self.workers})"
