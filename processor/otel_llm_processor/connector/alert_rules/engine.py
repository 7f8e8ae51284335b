"""The alert state machine: rules x series -> alerts, with no I/O and an explicit clock.

Every call takes ``now`` and returns the :class:`Transition`s it caused; the connector persists
them and hands their events to the notifiers. States::

    (none) -> pending -> firing -> acknowledged -> resolved
                 \\-> resolved (cleared before ``for``; never notified)

An alert is identified per rule and series by its deduplication key; after it resolves, the same
key stays quiet for the rule's ``cooldown``. A silence (label matchers, plus ``rule`` and
``severity``) keeps transitions out of the notifiers while it lasts; a firing alert whose silence
ends is notified then. Notifiers see ``firing``, then ``acknowledged`` and ``resolved`` only for
alerts they were told about.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_llm_processor.connector.alert_rules.rules import CompiledRule
from otel_llm_processor.processor.anomaly.signals import GroupKey, SeriesWindow, group_key
from otel_llm_processor.services import AlertEvent, Anomaly, SeriesUpdate

__all__ = ["ACTIVE", "AlertEngine", "AlertState", "Transition", "dedup_key"]

ACTIVE = ("pending", "firing", "acknowledged")
_EXEMPT_MIN_CALLS = (
    "calls",
    "errors",
    "tokens",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
)


def dedup_key(rule_id: str, labels: Mapping[str, str]) -> str:
    digest = hashlib.sha1(json.dumps(sorted(labels.items())).encode(), usedforsecurity=False)
    return f"{rule_id}/{digest.hexdigest()[:16]}"


@dataclass(slots=True)
class AlertState:
    id: str
    rule: str
    dedup_key: str
    state: str
    severity: str
    labels: dict[str, str]
    value: float
    threshold: float | None
    starts_at: float
    updated_at: float
    summary: str = ""
    description: str = ""
    fired_at: float | None = None
    ends_at: float | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str = ""
    resolved_by: str = ""
    notified: bool = False
    silenced: bool = False
    exemplars: tuple[tuple[str, str], ...] = ()

    def record(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        out["labels"] = dict(self.labels)
        out["exemplars"] = [list(e) for e in self.exemplars]
        return out

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> AlertState:
        kw = {name: data[name] for name in cls.__slots__ if name in data}
        kw["labels"] = dict(kw.get("labels") or {})
        kw["exemplars"] = tuple((str(a), str(b)) for a, b in kw.get("exemplars") or ())
        return cls(**kw)

    def event(self) -> AlertEvent:
        return AlertEvent(
            alert_id=self.id,
            rule=self.rule,
            dedup_key=self.dedup_key,
            state=self.state,
            severity=self.severity,
            summary=self.summary,
            description=self.description,
            labels=dict(self.labels),
            value=self.value,
            threshold=self.threshold,
            starts_at=self.fired_at if self.fired_at is not None else self.starts_at,
            updated_at=self.updated_at,
            ends_at=self.ends_at,
            exemplars=self.exemplars,
        )


@dataclass(frozen=True, slots=True)
class Transition:
    record: Mapping[str, Any]
    from_state: str
    to_state: str
    at: float
    by: str = ""
    event: AlertEvent | None = None


@dataclass
class _WindowSet:
    group_by: tuple[str, ...]
    resolution: float
    span: float
    rules: list[CompiledRule] = field(default_factory=list)
    series: OrderedDict[GroupKey, SeriesWindow] = field(default_factory=OrderedDict)


@dataclass(frozen=True, slots=True)
class _Silence:
    id: str
    matchers: Mapping[str, str]
    until: float
    by: str

    def covers(self, labels: Mapping[str, str], now: float) -> bool:
        return now < self.until and all(labels.get(k) == v for k, v in self.matchers.items())


class AlertEngine:
    def __init__(self, max_series: int = 5000, max_alerts: int = 10_000, history: int = 500) -> None:
        self.max_series = max_series
        self.max_alerts = max_alerts
        self.rules: dict[str, CompiledRule] = {}
        self.active: dict[str, AlertState] = {}  # dedup key -> alert
        self.recent: deque[dict[str, Any]] = deque(maxlen=history)  # resolved records
        self.silences: dict[str, _Silence] = {}
        self.dropped = 0  # alerts refused by max_alerts, series evicted
        self._sets: dict[tuple[tuple[str, ...], float], _WindowSet] = {}
        self._cooldown: dict[str, float] = {}
        self._anomaly_seen: OrderedDict[str, tuple[float, float, str, tuple[tuple[str, str], ...]]] = (
            OrderedDict()
        )
        self._anomaly_labels: dict[str, dict[str, str]] = {}

    # -- rules ---------------------------------------------------------------------------
    def set_rules(self, rules: Iterable[CompiledRule], now: float) -> list[Transition]:
        self.rules = {r.id: r for r in rules}
        self._reindex()
        return self._drop_orphans(now)

    def put_rule(self, rule: CompiledRule, now: float) -> list[Transition]:
        self.rules[rule.id] = rule
        self._reindex()
        return self._drop_orphans(now)

    def delete_rule(self, rule_id: str, now: float) -> list[Transition]:
        if self.rules.pop(rule_id, None) is None:
            return []
        self._reindex()
        return self._drop_orphans(now)

    def _reindex(self) -> None:
        sets: dict[tuple[tuple[str, ...], float], _WindowSet] = {}
        for rule in self.rules.values():
            if rule.rule.source != "metric" or not rule.rule.enabled:
                continue
            key = (rule.group_by, rule.resolution)
            ws = sets.get(key)
            if ws is None:
                old = self._sets.get(key)
                ws = sets[key] = old or _WindowSet(rule.group_by, rule.resolution, rule.rule.window)
                ws.rules = []
                ws.span = 0.0
            ws.rules.append(rule)
            ws.span = max(ws.span, rule.rule.window)
        for ws in sets.values():
            for window in ws.series.values():
                window.span = ws.span
        self._sets = sets

    def _drop_orphans(self, now: float) -> list[Transition]:
        out = []
        for st in list(self.active.values()):
            rule = self.rules.get(st.rule)
            if rule is None or not rule.rule.enabled:
                out.extend(self._resolve(st, now, "rule removed"))
        return out

    # -- inputs --------------------------------------------------------------------------
    def on_updates(self, updates: Sequence[SeriesUpdate], now: float) -> list[Transition]:
        if not updates or not self._sets:
            return []
        now = max(now, max(u.time for u in updates))
        out: list[Transition] = []
        for ws in self._sets.values():
            touched: dict[GroupKey, SeriesWindow] = {}
            for update in updates:
                key = group_key(update.labels, ws.group_by)
                window = ws.series.get(key)
                if window is None:
                    window = self._new_window(ws, key)
                else:
                    ws.series.move_to_end(key)
                window.add(update)
                touched[key] = window
            for key, window in touched.items():
                labels = dict(key)
                for rule in ws.rules:
                    if rule.matches(labels):
                        out.extend(self._eval_metric(rule, labels, window, now))
        return out

    def _has_window(self, rule: CompiledRule, labels: Mapping[str, str]) -> bool:
        ws = self._sets.get((rule.group_by, rule.resolution))
        return ws is not None and group_key(labels, rule.group_by) in ws.series

    def _new_window(self, ws: _WindowSet, key: GroupKey) -> SeriesWindow:
        if len(ws.series) >= self.max_series:
            ws.series.popitem(last=False)
            self.dropped += 1
        buckets = max(ws.span / ws.resolution, 1.0)
        window = SeriesWindow(ws.resolution, ws.span, sample_cap=max(8, int(4096 // buckets)))
        ws.series[key] = window
        return window

    def on_anomalies(self, anomalies: Sequence[Anomaly], now: float) -> list[Transition]:
        out: list[Transition] = []
        rules = [r for r in self.rules.values() if r.rule.source == "anomaly" and r.rule.enabled]
        for anomaly in anomalies:
            labels = {**anomaly.series, "metric": anomaly.metric, "detector": anomaly.detector}
            for rule in rules:
                if not rule.accepts_anomaly(anomaly.detector, anomaly.metric, anomaly.severity):
                    continue
                if not rule.matches(labels) or not rule.condition(anomaly.score):
                    continue
                key = dedup_key(rule.id, labels)
                seen = (max(anomaly.time, now), anomaly.score, anomaly.severity, anomaly.exemplars)
                self._anomaly_seen[key] = seen
                self._anomaly_seen.move_to_end(key)
                self._anomaly_labels[key] = labels
                if len(self._anomaly_seen) > self.max_series:
                    old, _ = self._anomaly_seen.popitem(last=False)
                    self._anomaly_labels.pop(old, None)
                out.extend(
                    self._step(rule, labels, True, anomaly.score, now, anomaly.exemplars, anomaly.severity)
                )
        return out

    def tick(self, now: float) -> list[Transition]:
        """``for`` durations, resolution of series that went quiet, expired silences."""
        out: list[Transition] = []
        for sid in [s.id for s in self.silences.values() if s.until <= now]:
            del self.silences[sid]
        for ws in self._sets.values():
            gone = []
            for key, window in ws.series.items():
                window.evict(now)
                labels = dict(key)
                for rule in ws.rules:
                    dkey = dedup_key(rule.id, labels)
                    if (dkey in self.active or rule.rule.op in ("lt", "eq", "ne")) and rule.matches(labels):
                        out.extend(self._eval_metric(rule, labels, window, now))
                if window.empty():
                    gone.append(key)
            for key in gone:
                labels = dict(key)
                if not any(dedup_key(r.id, labels) in self.active for r in ws.rules):
                    del ws.series[key]
        for dkey, st in list(self.active.items()):
            found = self.rules.get(st.rule)
            if found is None:
                out.extend(self._resolve(st, now, "rule removed"))
            elif found.rule.source == "anomaly":
                seen = self._anomaly_seen.get(dkey)
                fresh = seen is not None and now - seen[0] <= found.rule.window
                value = seen[1] if seen is not None else st.value
                exemplars = seen[3] if seen is not None else ()
                out.extend(self._step(found, st.labels, fresh, value, now, exemplars, st.severity, dkey))
            elif now - st.updated_at > found.rule.window and not self._has_window(found, st.labels):
                out.extend(self._resolve(st, now, "no data"))  # restored alert whose series is gone
        for st in list(self.active.values()):  # silence ended while firing: notify now
            if st.state == "firing" and not st.notified and not self._silenced(st, now):
                st.silenced = False
                st.notified = True
                out.append(Transition(st.record(), "firing", "firing", now, "silence ended", st.event()))
        for cooled in [k for k, until in self._cooldown.items() if until <= now]:
            del self._cooldown[cooled]
        return out

    def evaluate(
        self, rule_id: str, labels: Mapping[str, str], value: float | None, now: float
    ) -> list[Transition]:
        """Step one rule on a value computed elsewhere (backtests over a recorded series)."""
        rule = self.rules[rule_id]
        return self._step(rule, labels, rule.condition(value), value, now, (), None)

    # -- state machine -------------------------------------------------------------------
    def _eval_metric(
        self, rule: CompiledRule, labels: dict[str, str], window: SeriesWindow, now: float
    ) -> list[Transition]:
        metric = rule.rule.metric or ""
        value = window.value(metric, rule.rule.window, now)
        base, _, stat = metric.partition(".")
        if (
            value is not None
            and rule.rule.min_calls
            and not (base in _EXEMPT_MIN_CALLS and stat != "per_call")
        ):
            calls = window.value("calls", rule.rule.window, now) or 0.0
            if calls < rule.rule.min_calls:
                value = None
        exemplars = window.exemplars(rule.rule.window, now)
        return self._step(rule, labels, rule.condition(value), value, now, exemplars, None)

    def _step(
        self,
        rule: CompiledRule,
        labels: Mapping[str, str],
        condition: bool,
        value: float | None,
        now: float,
        exemplars: tuple[tuple[str, str], ...],
        anomaly_severity: str | None,
        key: str | None = None,
    ) -> list[Transition]:
        key = key or dedup_key(rule.id, labels)
        st = self.active.get(key)
        if not condition:
            if st is None:
                return []
            return self._resolve(st, now, "")
        out: list[Transition] = []
        if st is None:
            if now < self._cooldown.get(key, 0.0):
                return []
            if len(self.active) >= self.max_alerts:
                self.dropped += 1
                return []
            all_labels = {**labels, **rule.rule.labels}
            st = AlertState(
                id=uuid.uuid4().hex,
                rule=rule.id,
                dedup_key=key,
                state="pending",
                severity=rule.severity_for(anomaly_severity),
                labels=all_labels,
                value=float(value if value is not None else 0.0),
                threshold=rule.rule.threshold,
                starts_at=now,
                updated_at=now,
            )
            self.active[key] = st
            out.append(Transition(st.record(), "", "pending", now))
        st.value = float(value if value is not None else st.value)
        if exemplars:
            st.exemplars = tuple(exemplars)
        st.summary = rule.render(rule.rule.summary, st.labels, st.value)
        st.description = (
            rule.render(rule.rule.description, st.labels, st.value) if rule.rule.description else ""
        )
        if st.state == "pending" and now - st.starts_at >= rule.rule.for_:
            st.fired_at = now
            out.append(self._move(st, "firing", now, ""))
        return out

    def _move(self, st: AlertState, to: str, now: float, by: str) -> Transition:
        before = st.state
        st.state = to
        st.updated_at = now
        emit = False
        if to == "firing":
            st.silenced = self._silenced(st, now)
            emit = not st.silenced
            st.notified = emit
        elif to in ("acknowledged", "resolved"):
            emit = st.notified
        return Transition(st.record(), before, to, now, by, st.event() if emit else None)

    def _resolve(self, st: AlertState, now: float, by: str) -> list[Transition]:
        self.active.pop(st.dedup_key, None)
        st.ends_at = now
        st.resolved_by = by
        was_firing = st.state != "pending"
        transition = self._move(st, "resolved", now, by)
        if was_firing:
            rule = self.rules.get(st.rule)
            cooldown = rule.rule.cooldown if rule is not None else 0.0
            if cooldown > 0:
                self._cooldown[st.dedup_key] = now + cooldown
        self.recent.append(transition.record)  # type: ignore[arg-type]
        return [transition]

    def _silenced(self, st: AlertState, now: float) -> bool:
        labels = {**st.labels, "rule": st.rule, "severity": st.severity}
        return any(s.covers(labels, now) for s in self.silences.values())

    # -- operator actions ----------------------------------------------------------------
    def find(self, alert_id: str) -> AlertState | None:
        return next((st for st in self.active.values() if st.id == alert_id), None)

    def acknowledge(self, alert_id: str, by: str, now: float) -> list[Transition]:
        st = self._operable(alert_id)
        if st.state != "firing":
            raise ValueError(f"alert {alert_id} is {st.state}; only a firing alert can be acknowledged")
        st.acknowledged_at = now
        st.acknowledged_by = by
        return [self._move(st, "acknowledged", now, by)]

    def resolve(self, alert_id: str, by: str, now: float) -> list[Transition]:
        return self._resolve(self._operable(alert_id), now, by or "manual")

    def _operable(self, alert_id: str) -> AlertState:
        st = self.find(alert_id)
        if st is not None:
            return st
        if any(r.get("id") == alert_id for r in self.recent):
            raise ValueError(f"alert {alert_id} is already resolved")
        raise KeyError(alert_id)

    def silence(self, matchers: Mapping[str, str], until: float, by: str, now: float) -> str:
        if until <= now:
            raise ValueError("a silence must end in the future")
        if not matchers:
            raise ValueError("a silence needs at least one matcher")
        sid = uuid.uuid4().hex
        self.silences[sid] = _Silence(sid, dict(matchers), until, by)
        for st in self.active.values():
            if self._silenced(st, now):
                st.silenced = True
        return sid

    def restore(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Re-activate alerts persisted by a previous run (pending, firing, acknowledged)."""
        count = 0
        for data in records:
            if data.get("state") not in ACTIVE:
                continue
            try:
                st = AlertState.from_record(data)
            except (KeyError, TypeError, ValueError):
                continue
            self.active[st.dedup_key] = st
            count += 1
        return count

    def list_alerts(self, state: str | None = None) -> list[dict[str, Any]]:
        out = [st.record() for st in self.active.values()]
        out.extend(reversed(self.recent))
        if state is not None:
            out = [r for r in out if r["state"] == state]
        return out
