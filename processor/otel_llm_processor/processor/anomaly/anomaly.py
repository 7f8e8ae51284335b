"""The ``anomaly`` processor: detectors over the derived signals of every series.

Data comes from the ``llm_metrics`` connector's service (``subscribe`` for aggregated series
updates, ``subscribe_calls`` for the calls themselves), not from the pipeline: metrics batches
that reach ``consume_metrics`` pass through unchanged.

Per evaluation tick (``evaluation_interval`` seconds of event time) every series that had calls
is scored by its configured detectors. Budgets, unpriced models and runaway traces are checked
per call. Each anomaly goes to a bounded in-memory ring (``list_anomalies``, published as the
``"anomalies"`` service), to storage (``add_anomaly``, by a background task) and straight to the
alert engine (the ``"alerts"`` service's ``on_anomalies``, looked up when needed, so start order
does not matter).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any

from otel_llm_processor.component import CreateSettings, Host, MetricsBatch
from otel_llm_processor.model.llm_call import LlmCall
from otel_llm_processor.processor.anomaly import detectors as d
from otel_llm_processor.processor.anomaly.budgets import BudgetBreach, BudgetTracker
from otel_llm_processor.processor.anomaly.config import Config
from otel_llm_processor.processor.anomaly.runaway import RunawayBreach, TraceTracker
from otel_llm_processor.processor.anomaly.signals import Bucket, GroupKey, derive, group_key
from otel_llm_processor.services import Anomaly, SeriesUpdate
from otel_llm_processor.tasks import drain_and_cancel

__all__ = ["AnomalyProcessor", "default_cost"]

_log = logging.getLogger(__name__)
_MAX_MODELS = 10_000


def default_cost(call: LlmCall) -> float | None:
    """Cost from the ``otel_llm`` price book (None for unknown models)."""
    from otel_llm._core.cost import default_price_book

    found = default_price_book().cost(
        call.provider,
        call.model,
        call.input_tokens,
        call.output_tokens,
        call.cache_read_tokens,
        call.cache_creation_tokens,
    )
    return found[0] if found else None


class _Series:
    __slots__ = ("detectors", "labels")

    def __init__(self, labels: dict[str, str], detectors: list[list[d.Detector]]) -> None:
        self.labels = labels
        self.detectors = detectors  # per configured metric


class AnomalyProcessor:
    def __init__(
        self,
        settings: CreateSettings,
        config: Config,
        clock: Callable[[], float] = time.time,
        cost: Callable[[LlmCall], float | None] = default_cost,
    ) -> None:
        self.settings = settings
        self.config = config
        self.component = str(settings.id)
        self.telemetry = settings.telemetry
        self._clock = clock
        self._cost = cost
        self._group_by = tuple(config.group_by)
        self._series: OrderedDict[GroupKey, _Series] = OrderedDict()
        self._tick_end: float | None = None
        self._current: dict[GroupKey, Bucket] = {}
        self._last_raised: dict[tuple[GroupKey, str, str], tuple[float, int]] = {}
        self._ring: deque[Anomaly] = deque(maxlen=config.max_anomalies)
        self._unpriced_seen: set[str] = set()
        self._priced: set[tuple[str, str]] = set()
        self._budgets = [BudgetTracker(b, cost) for b in config.budgets]
        self._traces = TraceTracker(config.runaway, cost)
        self._host: Host | None = None
        self._queue: asyncio.Queue[Anomaly] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._listeners: list[Callable[[Sequence[Anomaly]], None]] = []
        self._started = False
        # Backtests: called per evaluated point with (t, labels, metric, value, highest score).
        self.on_point: Callable[[float, dict[str, str], str, float, float], None] | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def _attach(self, view: Any) -> None:
        view.subscribe(self.on_updates)
        if self.config.runaway.enabled or self._budgets or self.config.unpriced_models:
            view.subscribe_calls(self.on_calls)

    async def start(self, host: Host) -> None:
        if self._started:
            return
        self._started = True
        self._host = host
        host.services["anomalies"] = self
        host.on_service("llm_metrics", self._attach)
        self._queue = asyncio.Queue(self.config.queue_size)
        self._tasks = [
            asyncio.create_task(self._store_loop(), name=f"{self.component}-store"),
            asyncio.create_task(self._tick_loop(), name=f"{self.component}-tick"),
        ]

    async def shutdown(self, deadline: float) -> None:
        tasks, self._tasks = self._tasks, []
        await drain_and_cancel(self._queue, tasks, deadline)

    async def consume_metrics(self, batch: MetricsBatch) -> None:
        nxt = self.settings.next_metrics
        if nxt is not None:
            await nxt.consume_metrics(batch)

    # -- service -------------------------------------------------------------------------
    def list_anomalies(self, since: float | None = None, limit: int = 100) -> Sequence[Anomaly]:
        """Newest first."""
        out = []
        for anomaly in reversed(self._ring):
            if since is not None and anomaly.time < since:
                break
            out.append(anomaly)
            if len(out) >= limit:
                break
        return out

    def subscribe(self, callback: Callable[[Sequence[Anomaly]], None]) -> None:
        """Extra in-process listeners (besides the alert engine)."""
        self._listeners.append(callback)

    def budget_status(self) -> list[dict[str, object]]:
        return [row for tracker in self._budgets for row in tracker.status()]

    # -- inputs --------------------------------------------------------------------------
    def on_updates(self, updates: Sequence[SeriesUpdate]) -> None:
        try:
            found: list[Anomaly] = []
            interval = self.config.evaluation_interval
            for update in updates:
                if self._tick_end is None:
                    self._tick_end = (update.time // interval + 1) * interval
                elif update.time >= self._tick_end:
                    found.extend(self._close_tick(update.time))
                key = group_key(update.labels, self._group_by)
                bucket = self._current.get(key)
                if bucket is None:
                    bucket = self._current[key] = Bucket(self._tick_end - interval)
                bucket.add(update, sample_cap=1024, exemplar_cap=self.config.exemplars)
                if self.config.unpriced_models:
                    for model in update.unpriced_models:
                        found.extend(self._unpriced(model, update.labels, update.time, update.exemplars))
            self._emit(found)
        except Exception:  # a bug here must never break the connector calling us
            _log.debug("anomaly: on_updates failed", exc_info=True)
            self.telemetry.add(self.component, "anomaly_errors")

    def on_calls(self, calls: Sequence[LlmCall]) -> None:
        try:
            found: list[Anomaly] = []
            runaway = self.config.runaway.enabled
            for call in calls:
                t = call.end_ns / 1e9 if call.end_ns else self._clock()
                if runaway:
                    found.extend(self._runaway(b) for b in self._traces.add(call, t))
                for tracker in self._budgets:
                    found.extend(self._budget(b, call) for b in tracker.add(call, t))
                if self.config.unpriced_models and call.cost_usd is None:
                    found.extend(self._check_priced(call, t))
            self._emit(found)
        except Exception:
            _log.debug("anomaly: on_calls failed", exc_info=True)
            self.telemetry.add(self.component, "anomaly_errors")

    def advance(self, now: float) -> None:
        """Close the current tick when event time has moved past it (also called by a timer)."""
        found: list[Anomaly] = []
        if self._tick_end is not None and now >= self._tick_end:
            found.extend(self._close_tick(now))
        for tracker in self._budgets:
            found.extend(self._budget(b, None) for b in tracker.check_burn(now))
        self._traces.expire(now)
        self.telemetry.set(self.component, "active_traces", float(len(self._traces)))
        self._emit(found)

    # -- evaluation ----------------------------------------------------------------------
    def _close_tick(self, now: float) -> list[Anomaly]:
        assert self._tick_end is not None
        interval = self.config.evaluation_interval
        t = self._tick_end
        current, self._current = self._current, {}
        self._tick_end = (now // interval + 1) * interval
        found: list[Anomaly] = []
        for key, bucket in current.items():
            series = self._series_for(key)
            if series is None:
                continue
            for i, metric_cfg in enumerate(self.config.metrics):
                if any(series.labels.get(k) != v for k, v in metric_cfg.match.items()):
                    continue
                if metric_cfg.min_calls and bucket.calls < metric_cfg.min_calls:
                    continue
                value = derive((bucket,), metric_cfg.metric, interval)
                if value is None:
                    continue
                for detector in series.detectors[i]:
                    hit = detector.update(value, t)
                    if hit is not None:
                        anomaly = self._from_detection(key, series.labels, metric_cfg.metric, hit, bucket)
                        if anomaly is not None:
                            found.append(anomaly)
                if self.on_point is not None:
                    score = max((det.last_score for det in series.detectors[i]), default=0.0)
                    self.on_point(t, series.labels, metric_cfg.metric, value, score)
        self.telemetry.set(self.component, "series", float(len(self._series)))
        return found

    def _series_for(self, key: GroupKey) -> _Series | None:
        series = self._series.get(key)
        if series is not None:
            self._series.move_to_end(key)
            return series
        if len(self._series) >= self.config.max_series:
            self._series.popitem(last=False)
            self.telemetry.add(self.component, "series_evicted")
        detectors = [[spec.build() for spec in m.detectors] for m in self.config.metrics]
        series = self._series[key] = _Series(dict(key), detectors)
        return series

    def _from_detection(
        self, key: GroupKey, labels: dict[str, str], metric: str, hit: d.Detection, bucket: Bucket
    ) -> Anomaly | None:
        if not self._due((key, metric, hit.detector), hit.t, hit.severity):
            return None
        expected = "" if hit.expected is None else f" (expected {hit.expected:.4g})"
        return Anomaly(
            id=uuid.uuid4().hex,
            time=hit.t,
            series=dict(labels),
            metric=metric,
            value=hit.value,
            expected=hit.expected,
            band=hit.band,
            score=hit.score,
            severity=hit.severity,
            detector=hit.detector,
            message=f"{metric} = {hit.value:.4g}{expected}, score {hit.score:.2f} by {hit.detector}",
            exemplars=tuple(bucket.exemplars[: self.config.exemplars]),
        )

    def _due(self, flag: tuple[GroupKey, str, str], t: float, severity: str) -> bool:
        """Rate limit: one anomaly per series+metric+detector per repeat_interval, unless worse."""
        rank = d.severity_rank(severity)
        last = self._last_raised.get(flag)
        if last is not None and t - last[0] < self.config.repeat_interval and rank <= last[1]:
            return False
        if len(self._last_raised) >= 4 * self.config.max_series:
            self._last_raised.clear()
        self._last_raised[flag] = (t, rank)
        return True

    def _unpriced(
        self, model: str, labels: Any, t: float, exemplars: Sequence[tuple[str, str]]
    ) -> list[Anomaly]:
        if model in self._unpriced_seen or len(self._unpriced_seen) >= _MAX_MODELS:
            return []
        self._unpriced_seen.add(model)
        series = {k: str(labels.get(k, "")) for k in ("service", "provider")}
        series["model"] = model
        return [
            Anomaly(
                id=uuid.uuid4().hex,
                time=t,
                series=series,
                metric="cost_usd",
                value=0.0,
                expected=None,
                band=None,
                score=0.0,
                severity="WARNING",
                detector="unpriced",
                message=f"model {model!r} has no known price: its cost is not counted "
                "(add it to the price overrides)",
                exemplars=tuple(exemplars[: self.config.exemplars]),
            )
        ]

    def _check_priced(self, call: LlmCall, t: float) -> list[Anomaly]:
        model = call.model
        if not model or model in self._unpriced_seen or (call.provider, model) in self._priced:
            return []
        if call.input_tokens is None and call.output_tokens is None:
            return []
        if self._cost(call) is not None:
            if len(self._priced) < _MAX_MODELS:
                self._priced.add((call.provider, model))
            return []
        labels = {"service": call.service, "provider": call.provider}
        return self._unpriced(model, labels, t, [(call.trace_id.hex(), call.span_id.hex())])

    def _runaway(self, b: RunawayBreach) -> Anomaly:
        return Anomaly(
            id=uuid.uuid4().hex,
            time=b.t,
            series={"service": b.service, "trace_id": b.trace_id},
            metric=b.metric,
            value=b.value,
            expected=b.limit,
            band=(0.0, b.limit),
            score=b.value / b.limit,
            severity="ERROR",
            detector="runaway",
            message=f"trace {b.trace_id} is still running with {b.metric} = {b.value:g} "
            f"(limit {b.limit:g}), last model {b.model}",
            exemplars=tuple((b.trace_id, s) for s in b.span_ids[: self.config.exemplars]),
        )

    def _budget(self, b: BudgetBreach, call: LlmCall | None) -> Anomaly:
        if b.kind == "budget":
            message = f"budget {b.budget!r}: {b.scope} {b.key!r} spent {b.value:.4g} (>= {b.limit:.4g})"
        else:
            message = f"budget {b.budget!r}: {b.scope} {b.key!r} burning {b.value:.2f}x the budget pace"
        exemplars = ((call.trace_id.hex(), call.span_id.hex()),) if call is not None else ()
        return Anomaly(
            id=uuid.uuid4().hex,
            time=b.t,
            series={"budget": b.budget, b.scope: b.key},
            metric=b.metric,
            value=b.value,
            expected=b.limit,
            band=(0.0, b.limit),
            score=b.value / b.limit if b.limit else 0.0,
            severity=b.severity,
            detector="budget",
            message=message,
            exemplars=exemplars,
        )

    # -- outputs -------------------------------------------------------------------------
    def _emit(self, found: list[Anomaly]) -> None:
        if not found:
            return
        self.telemetry.add(self.component, "anomalies_detected", float(len(found)))
        self._ring.extend(found)
        host = self._host
        alerts = host.service("alerts") if host is not None else None
        sink = getattr(alerts, "on_anomalies", None)
        for callback in [sink, *self._listeners] if sink is not None else self._listeners:
            try:
                callback(found)
            except Exception:
                _log.debug("anomaly: listener failed", exc_info=True)
                self.telemetry.add(self.component, "anomaly_errors")
        queue = self._queue
        if queue is None:
            return
        for anomaly in found:
            try:
                queue.put_nowait(anomaly)
            except asyncio.QueueFull:
                self.telemetry.add(self.component, "anomalies_dropped")

    async def _store_loop(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            anomaly = await queue.get()
            try:
                storage = self._host.service("storage") if self._host is not None else None
                if storage is not None:
                    await storage.add_anomaly(anomaly)
                    self.telemetry.add(self.component, "anomalies_stored")
            except Exception:
                _log.debug("anomaly: storing failed", exc_info=True)
                self.telemetry.add(self.component, "anomalies_dropped")
            finally:
                queue.task_done()

    async def _tick_loop(self) -> None:
        interval = self.config.evaluation_interval
        while True:
            await asyncio.sleep(interval)
            # Event time normally follows the wall clock; close ticks that no new data closed.
            self.advance(self._clock() - interval)
