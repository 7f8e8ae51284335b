"""The ``alert_rules`` connector: evaluates rules as data arrives and emits alert transitions.

Inputs come from in-process services, not the pipeline: the ``llm_metrics`` connector's series
updates (``subscribe``) and the ``anomaly`` processor's anomalies (it calls ``on_anomalies``).
Rules are evaluated synchronously in those callbacks, so the span that tips a rule reaches the
notifiers (``next_alerts``) after one queue hop, with no polling interval in the path. A timer
(``tick_interval``) handles ``for`` durations, resolution and silences.

One worker task delivers transitions in order: events to ``next_alerts`` first (latency), then
the alert record and transition to storage (``upsert_alert``, ``add_transition``), so alert state
survives a restart. Rules created through the API are persisted with ``put_rule``.
Published as the ``"alerts"`` service (:class:`otel_llm_processor.services.AlertsService`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_llm_processor.component import CreateSettings, Host, MetricsBatch
from otel_llm_processor.connector.alert_rules.config import Config
from otel_llm_processor.connector.alert_rules.engine import AlertEngine, Transition
from otel_llm_processor.connector.alert_rules.rules import Rule, compile_rule, parse_rule
from otel_llm_processor.services import Anomaly, SeriesUpdate
from otel_llm_processor.tasks import drain_and_cancel

__all__ = ["AlertRulesConnector"]

_log = logging.getLogger(__name__)
_RULE_KEYS = frozenset(Rule.model_fields) | {"for"}


class AlertRulesConnector:
    def __init__(
        self, settings: CreateSettings, config: Config, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings = settings
        self.config = config
        self.component = str(settings.id)
        self.telemetry = settings.telemetry
        self._clock = clock
        self.engine = AlertEngine(config.max_series, config.max_alerts, config.history)
        self._config_rules = {r.id: compile_rule(r, "config") for r in config.rules}
        self.engine.set_rules(self._config_rules.values(), clock())
        self._host: Host | None = None
        self._queue: asyncio.Queue[Transition] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self, host: Host) -> None:
        if self._started:
            return
        self._started = True
        self._host = host
        self._queue = asyncio.Queue(self.config.queue_size)
        storage = host.service("storage")
        if storage is not None:
            await self._load(storage)
        host.services["alerts"] = self
        host.on_service("llm_metrics", lambda view: view.subscribe(self.on_updates))
        self._tasks = [
            asyncio.create_task(self._deliver_loop(), name=f"{self.component}-deliver"),
            asyncio.create_task(self._tick_loop(), name=f"{self.component}-tick"),
        ]

    async def _load(self, storage: Any) -> None:
        now = self._clock()
        try:
            stored = await storage.list_rules()
        except Exception:
            _log.warning("%s: could not load rules from storage", self.component, exc_info=True)
            stored = []
        for data in stored:
            try:
                rule = parse_rule({k: v for k, v in data.items() if k in _RULE_KEYS})
            except ValueError as exc:
                self.telemetry.add(self.component, "rules_invalid")
                _log.warning("%s: stored rule skipped: %s", self.component, exc)
                continue
            if rule.id not in self._config_rules:
                self.engine.put_rule(compile_rule(rule, "api"), now)
        try:
            records = await storage.list_alerts(None, self.config.max_alerts)
        except Exception:
            _log.warning("%s: could not load alerts from storage", self.component, exc_info=True)
            records = []
        restored = self.engine.restore(records)
        self.telemetry.set(self.component, "alerts_active", float(len(self.engine.active)))
        if restored:
            _log.info("%s: restored %d active alerts", self.component, restored)

    async def shutdown(self, deadline: float) -> None:
        tasks, self._tasks = self._tasks, []
        await drain_and_cancel(self._queue, tasks, deadline)

    async def consume_metrics(self, batch: MetricsBatch) -> None:
        nxt = self.settings.next_metrics
        if nxt is not None:
            await nxt.consume_metrics(batch)

    # -- event-driven inputs -------------------------------------------------------------
    def on_updates(self, updates: Sequence[SeriesUpdate]) -> None:
        try:
            self._push(self.engine.on_updates(updates, self._clock()))
        except Exception:
            _log.debug("alert_rules: on_updates failed", exc_info=True)
            self.telemetry.add(self.component, "alert_errors")

    def on_anomalies(self, anomalies: Sequence[Anomaly]) -> None:
        try:
            self._push(self.engine.on_anomalies(anomalies, self._clock()))
        except Exception:
            _log.debug("alert_rules: on_anomalies failed", exc_info=True)
            self.telemetry.add(self.component, "alert_errors")

    def tick(self, now: float | None = None) -> None:
        self._push(self.engine.tick(self._clock() if now is None else now))

    def _push(self, transitions: Sequence[Transition]) -> None:
        if not transitions:
            return
        for tr in transitions:
            if tr.to_state == "firing" and tr.from_state != "firing":
                self.telemetry.add(self.component, "alerts_fired")
            if self._queue is None:
                continue
            try:
                self._queue.put_nowait(tr)
            except asyncio.QueueFull:
                self.telemetry.add(self.component, "alert_transitions_dropped")
        self.telemetry.set(self.component, "alerts_active", float(len(self.engine.active)))

    # -- delivery ------------------------------------------------------------------------
    async def _deliver_loop(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < 256:
                batch.append(queue.get_nowait())
            try:
                await self._deliver(batch)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _deliver(self, batch: list[Transition]) -> None:
        events = [tr.event for tr in batch if tr.event is not None]
        nxt = self.settings.next_alerts
        if events and nxt is not None:
            try:
                await nxt.consume_alerts(events)
                self.telemetry.add(self.component, "alert_events_sent", float(len(events)))
            except Exception:
                _log.debug("alert_rules: notifier refused events", exc_info=True)
                self.telemetry.add(self.component, "alert_events_failed", float(len(events)))
        storage = self._host.service("storage") if self._host is not None else None
        if storage is None:
            return
        for tr in batch:
            try:
                await storage.upsert_alert(tr.record)
                await storage.add_transition(
                    tr.record["id"], tr.from_state or "inactive", tr.to_state, tr.at, tr.by
                )
            except Exception:
                _log.debug("alert_rules: storing a transition failed", exc_info=True)
                self.telemetry.add(self.component, "alert_store_errors")

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval)
            try:
                self.tick()
            except Exception:
                _log.debug("alert_rules: tick failed", exc_info=True)
                self.telemetry.add(self.component, "alert_errors")

    async def flush(self) -> None:
        """Wait until every queued transition was delivered and stored (tests, shutdown)."""
        if self._queue is not None:
            await self._queue.join()

    # -- AlertsService -------------------------------------------------------------------
    def list_alerts(self, state: str | None = None) -> Sequence[Mapping[str, Any]]:
        return self.engine.list_alerts(state)

    async def acknowledge(self, alert_id: str, by: str = "") -> Mapping[str, Any]:
        return await self._operate(self.engine.acknowledge, alert_id, by)

    async def resolve(self, alert_id: str, by: str = "") -> Mapping[str, Any]:
        return await self._operate(self.engine.resolve, alert_id, by)

    async def _operate(
        self, action: Callable[[str, str, float], list[Transition]], alert_id: str, by: str
    ) -> Mapping[str, Any]:
        try:
            transitions = action(alert_id, by, self._clock())
        except KeyError:
            storage = self._host.service("storage") if self._host is not None else None
            stored = await storage.get_alert(alert_id) if storage is not None else None
            if stored is not None:
                raise ValueError(f"alert {alert_id} is {stored.get('state')}") from None
            raise
        self._push(transitions)
        return transitions[-1].record

    async def silence(self, matchers: Mapping[str, str], until: float, by: str = "") -> str:
        return self.engine.silence(matchers, until, by, self._clock())

    def list_rules(self) -> Sequence[Mapping[str, Any]]:
        return [
            {**r.rule.model_dump(mode="json", by_alias=True), "origin": r.origin}
            for r in self.engine.rules.values()
        ]

    async def put_rule(self, rule: Mapping[str, Any]) -> Mapping[str, Any]:
        parsed = parse_rule(rule)
        if parsed.id in self._config_rules:
            raise ValueError(f"rule {parsed.id!r} is defined in the config file and cannot be changed here")
        data = parsed.model_dump(mode="json", by_alias=True)
        storage = self._host.service("storage") if self._host is not None else None
        if storage is not None:
            await storage.put_rule(data)
        self._push(self.engine.put_rule(compile_rule(parsed, "api"), self._clock()))
        return {**data, "origin": "api"}

    async def delete_rule(self, rule_id: str) -> bool:
        if rule_id in self._config_rules:
            raise ValueError(f"rule {rule_id!r} is defined in the config file and cannot be deleted here")
        if rule_id not in self.engine.rules:
            return False
        storage = self._host.service("storage") if self._host is not None else None
        if storage is not None:
            await storage.delete_rule(rule_id)
        self._push(self.engine.delete_rule(rule_id, self._clock()))
        return True
