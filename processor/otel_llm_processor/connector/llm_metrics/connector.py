"""The ``llm_metrics`` connector: LLM spans in, metrics out, windowed summaries in-process.

``consume_traces`` turns a batch into de-duplicated :class:`LlmCall` objects, aggregates them in one
vectorised pass (:mod:`.aggregator`) and adds the result to the rolling windows and to the state
since the last flush. Every ``flush_interval`` the state becomes one OTLP metrics request for the
next consumers (cumulative by default, or delta). Published as ``host.services["llm_metrics"]``
(:class:`~otel_llm_processor.services.LlmMetricsView`).

Under load, batches are aggregated together: a batch that is ready while others are still being
read by the worker processes is staged, and the staged batches are aggregated in one pass (one
update per series for the subscribers) once none is being read, ``aggregate_delay`` after the
first was staged, or when 32,768 calls wait, whichever comes first. Every read (``summarize``,
``flush``, ``memory``) aggregates what is staged first, so it never sees stale state. A batch that
arrives alone is aggregated at once.

Memory per series is bounded and flat: the windows and the cumulative state are kept packed
(:mod:`.packed`), and a series that saw no call for longer than the longest window plus one
flush interval is expired at flush (counted as ``series_expired``): it is dropped from the
cumulative state and no longer exported, and its id is reused. When its key comes back it is a
new series with a new start time, so its cumulative stream restarts from zero (the Collector's
spanmetrics ``metrics_expiration`` does the same), and no window still holds its old data.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_llm_processor.component import CreateSettings, Host, MetricsBatch, TracesBatch
from otel_llm_processor.connector.llm_metrics import part as P
from otel_llm_processor.connector.llm_metrics.aggregator import Aggregator, Columns, columns_of_calls
from otel_llm_processor.connector.llm_metrics.columns import Extracted, extract, extract_raw
from otel_llm_processor.connector.llm_metrics.config import Config
from otel_llm_processor.connector.llm_metrics.otlp import Snapshot, build_request
from otel_llm_processor.connector.llm_metrics.packed import EMPTY_PACKED, pack, unpack
from otel_llm_processor.connector.llm_metrics.pricing import Pricer
from otel_llm_processor.connector.llm_metrics.summary import summarize
from otel_llm_processor.connector.llm_metrics.windows import Windows
from otel_llm_processor.connector.llm_metrics.workers import WorkerPool, resolve_workers
from otel_llm_processor.model.llm_call import LlmCall, Row, make_call
from otel_llm_processor.services import WINDOWS, GroupSummary, SeriesUpdate

__all__ = ["SERVICE_NAME", "LlmMetricsConnector"]

_log = logging.getLogger(__name__)
SERVICE_NAME = "llm_metrics"
_COMPACT_EVERY = 64  # pending parts merged into one when this many piled up between flushes
_STAGE_MAX_CALLS = 32_768  # ready calls aggregated at once, whatever aggregate_delay says


class LlmMetricsConnector:
    def __init__(
        self,
        settings: CreateSettings,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        pricer: Pricer | None = None,
    ) -> None:
        self._id = str(settings.id)
        self._telemetry = settings.telemetry
        self._next = settings.next_metrics
        self._config = config
        self._clock = clock
        if pricer is None and config.compute_cost:
            pricer = Pricer()
        self._dims = tuple(d.name for d in config.dimensions)
        self._dim_defaults = tuple(d.default for d in config.dimensions)
        self._agg = Aggregator(self._dims, config.max_series, config.exemplars_per_series, pricer)
        self._windows = Windows()
        self._pending: list[P.Part] = []
        self._cumulative = EMPTY_PACKED
        # idle for longer than this: no window holds the series any more and its last point is out
        self._idle_timeout = max(WINDOWS.values()) + config.flush_interval
        self._last_flush = clock()
        self._subscribers: list[Callable[[Sequence[SeriesUpdate]], None]] = []
        self._call_subscribers: list[Callable[[Sequence[LlmCall]], None]] = []
        self._task: asyncio.Task[None] | None = None
        # ready batches not aggregated yet (see Config.aggregate_delay), and batches being read
        self._staged: list[Columns] = []
        self._staged_rows: list[Row] = []
        self._staged_calls = 0
        self._staged_since = 0.0
        self._drain_timer: asyncio.TimerHandle | None = None
        self._reading = 0
        self._reads: set[asyncio.Future[Extracted]] = set()
        self._seen_waits = self._seen_failures = 0
        workers = resolve_workers(config.workers)
        self._pool = WorkerPool(workers, self._dims, self._dim_defaults) if workers > 0 else None
        self._started = False
        self._stopped = False
        for name, text in (
            ("llm_calls_aggregated", "LLM calls aggregated into metrics"),
            ("series_overflow", "LLM calls aggregated into the overflow series (max_series reached)"),
            ("series_expired", "Series forgotten after no call for longer than 1 h plus a flush interval"),
            ("state_bytes", "Bytes of aggregated state held (windows, cumulative, pending), after a flush"),
            ("llm_calls_unpriced", "LLM calls with usage but no known price"),
            ("metric_points_sent", "Metric data points sent downstream"),
            ("metrics_send_failed", "Flushes the next consumer refused"),
            ("subscriber_errors", "Exceptions raised by llm_metrics subscribers"),
            ("batches_failed", "Span batches llm_metrics failed to aggregate (a bug; see debug log)"),
            ("worker_waits", "Span batches that waited for a free llm_metrics worker process"),
            ("worker_failures", "Span batches a worker process failed on (read in-process instead)"),
        ):
            self._telemetry.describe(name, text)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, host: Host) -> None:
        if self._started:
            return
        self._started = True
        host.services.setdefault(SERVICE_NAME, self)
        if self._pool is not None:
            try:
                await self._pool.start()
            except Exception as exc:  # no interpreter to run, no pipes...: read spans in-process
                _log.warning(
                    "llm_metrics: worker processes could not start (%r); reading spans in-process", exc
                )
                self._pool.shutdown()
                self._pool = None
        self._last_flush = self._clock()
        self._task = asyncio.create_task(self._flush_loop(), name=f"{self._id} flush")

    async def shutdown(self, deadline: float) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._reads:  # batches the workers still hold: aggregated before the last flush
            with contextlib.suppress(Exception):
                await asyncio.wait(set(self._reads), timeout=max(0.0, deadline - time.monotonic()))
            await asyncio.sleep(0)  # their done callbacks (_on_read) run first
        if self._pool is not None:
            self._pool.shutdown()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.flush(), timeout=max(0.0, deadline - time.monotonic()))

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._config.flush_interval)
            try:
                await self.flush()
            except Exception:  # never let the loop die
                _log.debug("llm_metrics flush failed", exc_info=True)

    # -- intake ------------------------------------------------------------------------------
    async def consume_traces(self, batch: TracesBatch) -> None:
        try:
            want_rows = bool(self._call_subscribers)
            pool = self._pool
            if pool is not None and self._started and not self._stopped:
                raw = batch.raw if batch.raw is not None else batch.request.SerializeToString()
                future = None
                try:
                    future = await pool.submit(raw, want_rows)
                except Exception:
                    _log.debug("llm_metrics: worker failed; reading the batch in-process", exc_info=True)
                self._pool_counters()
                if future is not None:  # aggregated when the worker is done (_on_read)
                    self._reading += 1
                    self._reads.add(future)
                    future.add_done_callback(functools.partial(self._on_read, raw, want_rows))
                    return
            if batch.raw is not None:
                extracted = extract_raw(batch.raw, self._dims, self._dim_defaults, want_rows)
            else:
                extracted = extract(batch.request, self._dims, self._dim_defaults, want_rows)
            self._stage(*extracted)
        except Exception:  # a bug here must not refuse the batch for the other exporters
            self._telemetry.add(self._id, "batches_failed")
            _log.debug("llm_metrics: batch not aggregated", exc_info=True)

    def _on_read(self, raw: bytes, want_rows: bool, future: asyncio.Future[Extracted]) -> None:
        """A worker is done with a batch: stage its columns (or read it here when the worker failed)."""
        self._reads.discard(future)
        self._reading -= 1
        try:
            if future.cancelled() or future.exception() is not None:
                _log.debug("llm_metrics: worker failed; reading the batch in-process", exc_info=True)
                extracted = extract_raw(raw, self._dims, self._dim_defaults, want_rows)
            else:
                extracted = future.result()
            self._pool_counters()
            self._stage(*extracted)
        except Exception:
            self._telemetry.add(self._id, "batches_failed")
            _log.debug("llm_metrics: batch not aggregated", exc_info=True)

    def _pool_counters(self) -> None:
        pool = self._pool
        if pool is None:
            return
        if pool.waits != self._seen_waits:
            self._telemetry.add(self._id, "worker_waits", pool.waits - self._seen_waits)
            self._seen_waits = pool.waits
        if pool.failures != self._seen_failures:
            self._telemetry.add(self._id, "worker_failures", pool.failures - self._seen_failures)
            self._seen_failures = pool.failures

    def _stage(self, columns: Columns, rows: Sequence[Row] | None) -> None:
        """Aggregate a read batch now, or with the next ones when more are being read (load)."""
        n = len(columns)
        if n:
            now = time.monotonic()
            if not self._staged:
                self._staged_since = now
            self._staged.append(columns)
            if rows:
                self._staged_rows.extend(rows)
            self._staged_calls += n
        if not self._staged:
            return
        delay = self._config.aggregate_delay
        waited = time.monotonic() - self._staged_since
        if self._reading == 0 or self._staged_calls >= _STAGE_MAX_CALLS or waited >= delay:
            self._drain()
        elif self._drain_timer is None:
            self._drain_timer = asyncio.get_running_loop().call_later(delay - waited, self._drain)

    def _drain(self) -> None:
        """Aggregate every staged batch now (one vectorised pass, one update per series)."""
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if not self._staged:
            return
        parts, rows = self._staged, self._staged_rows
        self._staged, self._staged_rows, self._staged_calls = [], [], 0
        try:
            self._ingest(Columns.concat(parts), rows if self._call_subscribers else None)
        except Exception:  # a bug here must not stop the pipeline
            self._telemetry.add(self._id, "batches_failed", len(parts))
            _log.debug("llm_metrics: batches not aggregated", exc_info=True)

    async def record_calls(self, calls: Sequence[LlmCall]) -> None:
        if not calls:
            return
        self._drain()
        dims = [self._dim_defaults] * len(calls) if self._dims else None
        self._ingest(columns_of_calls(calls, dims), calls)

    def _ingest(self, columns: Columns, calls: Sequence[LlmCall] | Sequence[Row] | None) -> None:
        n = len(columns)
        if not n:
            return
        now = self._clock()
        result = self._agg.aggregate_columns(columns, now, want_updates=bool(self._subscribers))
        self._windows.add(now, result.part)
        self._pending.append(result.part)
        if len(self._pending) >= _COMPACT_EVERY:
            self._pending = [P.merge(self._pending)]
        tel = self._telemetry
        tel.add(self._id, "llm_calls_aggregated", n)
        if result.overflowed:
            tel.add(self._id, "series_overflow", result.overflowed)
        if result.unpriced:
            tel.add(self._id, "llm_calls_unpriced", result.unpriced)
        tel.set(self._id, "series_active", len(self._agg.registry))
        for callback in self._subscribers:
            self._notify(callback, result.updates)
        if self._call_subscribers and calls is not None:
            objects = [c if isinstance(c, LlmCall) else make_call(c) for c in calls]
            for call_callback in self._call_subscribers:
                self._notify(call_callback, objects)

    def _notify(self, callback: Callable[[Any], None], payload: Any) -> None:
        try:
            callback(payload)
        except Exception:
            self._telemetry.add(self._id, "subscriber_errors")
            _log.debug("llm_metrics subscriber failed", exc_info=True)

    # -- flush -------------------------------------------------------------------------------
    async def flush(self) -> MetricsBatch | None:
        """Send the state to the next consumer now; returns what was sent (``None``: nothing)."""
        self._drain()
        now = self._clock()
        interval = P.merge(self._pending)
        self._pending = []
        cumulative = self._config.temporality == "cumulative"
        state = interval
        expired = self._expire(now)
        if cumulative:
            state = P.merge([unpack(self._cumulative), interval])
            if expired:
                state = P.drop_series(state, expired)
            self._cumulative = pack(state)
        registry = self._agg.registry
        snap = Snapshot(
            part=state,
            time_ns=int(now * 1e9),
            start_ns=[int(t * 1e9) for t in registry.first_seen]
            if cumulative
            else int(self._last_flush * 1e9),
            cumulative=cumulative,
            exemplars=self._agg.take_exemplars(),
            max_buckets=self._config.max_buckets,
        )
        self._last_flush = now
        self._telemetry.set(self._id, "state_bytes", sum(self.memory().values()))
        if len(snap.part.series) == 0:
            return None
        request = build_request(registry, snap)
        points = sum(
            len(_points(m)) for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        )
        batch = MetricsBatch(request=request, point_count=points, received_at=now)
        if self._next is None:
            return batch
        try:
            await self._next.consume_metrics(batch)
        except Exception:
            self._telemetry.add(self._id, "metrics_send_failed")
            _log.debug("llm_metrics: next consumer refused the metrics", exc_info=True)
            return batch
        self._telemetry.add(self._id, "metric_points_sent", points)
        return batch

    def _expire(self, now: float) -> list[int]:
        """Forget the series idle for longer than ``_idle_timeout``; their window slots are gone."""
        self._windows.advance(now)
        expired = self._agg.registry.expire(now - self._idle_timeout)
        if expired:
            self._telemetry.add(self._id, "series_expired", len(expired))
            self._telemetry.set(self._id, "series_active", len(self._agg.registry))
        return expired

    def memory(self) -> dict[str, int]:
        """Bytes of array data held: per window tier, the cumulative state, the unflushed parts."""
        self._drain()
        out = {f"window_{name}": n for name, n in self._windows.memory().items()}
        out["cumulative"] = self._cumulative.nbytes
        out["pending"] = sum(p.nbytes for p in self._pending)
        return out

    # -- LlmMetricsView ----------------------------------------------------------------------
    def summarize(
        self, window: str, group_by: Sequence[str] = (), where: Mapping[str, str] | None = None
    ) -> list[GroupSummary]:
        self._drain()
        part = self._windows.part(window, self._clock())
        return summarize(self._agg.registry, part, window, group_by, where)

    def subscribe(self, callback: Callable[[Sequence[SeriesUpdate]], None]) -> None:
        self._subscribers.append(callback)

    def subscribe_calls(self, callback: Callable[[Sequence[LlmCall]], None]) -> None:
        self._call_subscribers.append(callback)


def _points(metric: Any) -> Sequence[Any]:
    kind = metric.WhichOneof("data")
    return getattr(metric, kind).data_points if kind else ()
