"""The Storage contract implemented once over SQL; backends supply four async primitives.

Queries are written with ``?`` placeholders (the PostgreSQL backend rewrites them to ``%s``) in
the SQL both SQLite (>= 3.35: ``RETURNING``, ``ON CONFLICT``) and PostgreSQL understand; the
few dialect differences are the ``_greatest`` function and the outbox claim's row locking.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from otel_llm_processor.services import Anomaly
from otel_llm_processor.storage import rollup
from otel_llm_processor.storage.migrations import MIGRATIONS, SCHEMA_VERSION_TABLE, render

__all__ = ["SqlStorage", "Statement"]

Statement = tuple[str, Sequence[Any]]

_ALERT_COLUMNS = ("rule", "dedup_key", "state", "severity", "starts_at", "updated_at", "ends_at")
_MAX_ERROR_CHARS = 500


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class SqlStorage:
    """Shared logic of the SQLite and PostgreSQL backends (see ``services.Storage``)."""

    dialect = "sqlite"
    _greatest = "MAX"  # SQLite's two-argument MAX; PostgreSQL: GREATEST
    _claim_lock = ""  # PostgreSQL: FOR UPDATE OF o SKIP LOCKED

    def __init__(self, outbox_lease_s: float = 60.0) -> None:
        self._lease = outbox_lease_s

    # ---- primitives (backends) ----------------------------------------------------------------
    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement in its own transaction and return its rows."""
        raise NotImplementedError

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; return the affected row count."""
        raise NotImplementedError

    async def _transaction(self, statements: Sequence[Statement]) -> None:
        """Run statements atomically (executemany-friendly order is preserved)."""
        raise NotImplementedError

    async def _migrate(self) -> None:
        """Create ``schema_version`` and apply pending migrations under an exclusive lock."""
        raise NotImplementedError

    # ---- migrations ---------------------------------------------------------------------------
    @staticmethod
    def _schema_version_table() -> str:
        return SCHEMA_VERSION_TABLE

    def _pending_statements(self, current: int) -> list[Statement]:
        statements: list[Statement] = []
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            statements.extend((render(s, self.dialect), ()) for s in migration.statements)
            statements.append(
                (
                    "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.description, time.time()),
                )
            )
        return statements

    async def schema_version(self) -> int:
        rows = await self._fetch("SELECT MAX(version) FROM schema_version")
        return int(rows[0][0] or 0) if rows else 0

    # ---- alerts -------------------------------------------------------------------------------
    async def upsert_alert(self, alert: Mapping[str, Any]) -> None:
        alert_id = alert.get("id") or alert.get("alert_id")
        if not alert_id:
            raise ValueError("alert record needs an 'id'")
        values = [
            str(alert.get("rule", "")),
            str(alert.get("dedup_key", "")),
            str(alert.get("state", "")),
            str(alert.get("severity", "")),
            alert.get("starts_at"),
            float(alert.get("updated_at") or time.time()),
            alert.get("ends_at"),
        ]
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*_ALERT_COLUMNS, "data"))
        await self._execute(
            f"INSERT INTO alerts (id, {', '.join(_ALERT_COLUMNS)}, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            f" ON CONFLICT (id) DO UPDATE SET {updates}",
            [str(alert_id), *values, _dumps(dict(alert))],
        )

    async def get_alert(self, alert_id: str) -> Mapping[str, Any] | None:
        rows = await self._fetch("SELECT data FROM alerts WHERE id = ?", (alert_id,))
        return json.loads(rows[0][0]) if rows else None

    async def list_alerts(self, state: str | None = None, limit: int = 500) -> list[Mapping[str, Any]]:
        if state is None:
            rows = await self._fetch(
                "SELECT data FROM alerts ORDER BY updated_at DESC, id LIMIT ?", (int(limit),)
            )
        else:
            rows = await self._fetch(
                "SELECT data FROM alerts WHERE state = ? ORDER BY updated_at DESC, id LIMIT ?",
                (state, int(limit)),
            )
        return [json.loads(row[0]) for row in rows]

    async def add_transition(
        self, alert_id: str, from_state: str, to_state: str, at: float, by: str = ""
    ) -> None:
        await self._execute(
            "INSERT INTO alert_transitions (alert_id, from_state, to_state, at, by_user) VALUES (?, ?, ?, ?, ?)",
            (alert_id, from_state, to_state, float(at), by),
        )

    async def list_transitions(self, alert_id: str) -> list[Mapping[str, Any]]:
        rows = await self._fetch(
            "SELECT from_state, to_state, at, by_user FROM alert_transitions WHERE alert_id = ?"
            " ORDER BY at, id",
            (alert_id,),
        )
        return [
            {"alert_id": alert_id, "from_state": r[0], "to_state": r[1], "at": float(r[2]), "by": r[3]}
            for r in rows
        ]

    # ---- anomalies ----------------------------------------------------------------------------
    async def add_anomaly(self, anomaly: Anomaly) -> None:
        data = dataclasses.asdict(anomaly)
        data["series"] = dict(anomaly.series)
        await self._execute(
            "INSERT INTO anomalies (id, time, metric, severity, detector, data) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET time = excluded.time, metric = excluded.metric,"
            " severity = excluded.severity, detector = excluded.detector, data = excluded.data",
            (anomaly.id, anomaly.time, anomaly.metric, anomaly.severity, anomaly.detector, _dumps(data)),
        )

    async def list_anomalies(self, since: float | None = None, limit: int = 100) -> list[Anomaly]:
        rows = await self._fetch(
            "SELECT data FROM anomalies WHERE time >= ? ORDER BY time DESC, id LIMIT ?",
            (float(since) if since is not None else float("-inf"), int(limit)),
        )
        return [_anomaly(json.loads(row[0])) for row in rows]

    # ---- rules --------------------------------------------------------------------------------
    async def put_rule(self, rule: Mapping[str, Any]) -> None:
        rule_id = rule.get("id") or rule.get("name")
        if not rule_id:
            raise ValueError("rule record needs an 'id' (or 'name')")
        await self._execute(
            "INSERT INTO rules (id, data, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
            (str(rule_id), _dumps(dict(rule)), time.time()),
        )

    async def delete_rule(self, rule_id: str) -> bool:
        return await self._execute("DELETE FROM rules WHERE id = ?", (rule_id,)) > 0

    async def list_rules(self) -> list[Mapping[str, Any]]:
        rows = await self._fetch("SELECT data FROM rules ORDER BY id")
        return [json.loads(row[0]) for row in rows]

    # ---- outbox -------------------------------------------------------------------------------
    async def outbox_put(self, notifier: str, payload: Mapping[str, Any], not_before: float) -> int:
        """Queue ``payload``; entries sharing ``payload["order_key"]`` (else ``["dedup_key"]``) keep order."""
        order_key = str(payload.get("order_key") or payload.get("dedup_key") or "")
        rows = await self._fetch(
            "INSERT INTO outbox (notifier, order_key, payload, created_at, not_before)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (notifier, order_key, _dumps(dict(payload)), time.time(), float(not_before)),
        )
        return int(rows[0][0])

    async def outbox_due(
        self, notifier: str, now: float, limit: int = 100
    ) -> list[tuple[int, Mapping[str, Any], int]]:
        """Claim due entries for ``outbox_lease_s`` (other replicas skip them), oldest first.

        An entry is not due while an older entry with the same non-empty order key exists (it is
        being delivered or waits for a retry), so per-alert transitions arrive in order.
        """
        rows = await self._fetch(
            "UPDATE outbox SET claimed_until = ? WHERE id IN ("
            " SELECT o.id FROM outbox o WHERE o.notifier = ? AND o.not_before <= ? AND o.claimed_until <= ?"
            " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.notifier = o.notifier"
            " AND p.order_key = o.order_key AND o.order_key <> '' AND p.id < o.id)"
            f" ORDER BY o.id LIMIT ? {self._claim_lock}) RETURNING id, payload, attempts",
            (float(now) + self._lease, notifier, float(now), float(now), int(limit)),
        )
        return sorted((int(r[0]), json.loads(r[1]), int(r[2])) for r in rows)

    async def outbox_done(self, entry_id: int) -> None:
        await self._execute("DELETE FROM outbox WHERE id = ?", (int(entry_id),))

    async def outbox_retry(self, entry_id: int, not_before: float, error: str) -> None:
        await self._execute(
            "UPDATE outbox SET not_before = ?, attempts = attempts + 1, last_error = ?, claimed_until = 0"
            " WHERE id = ?",
            (float(not_before), error[:_MAX_ERROR_CHARS], int(entry_id)),
        )

    async def outbox_size(self, notifier: str | None = None) -> int:
        if notifier is None:
            rows = await self._fetch("SELECT COUNT(*) FROM outbox")
        else:
            rows = await self._fetch("SELECT COUNT(*) FROM outbox WHERE notifier = ?", (notifier,))
        return int(rows[0][0])

    # ---- rollups ------------------------------------------------------------------------------
    async def add_rollup(self, hour: int, labels: Mapping[str, str], values: Mapping[str, float]) -> None:
        scalars, hist = rollup.split_values(values)
        series = rollup.series_key(labels)
        columns = [*rollup.SUM_FIELDS, *rollup.MAX_FIELDS]
        updates = ", ".join(
            [f"{c} = rollups.{c} + excluded.{c}" for c in rollup.SUM_FIELDS]
            + [f"{c} = {self._greatest}(rollups.{c}, excluded.{c})" for c in rollup.MAX_FIELDS]
        )
        statements: list[Statement] = [
            (
                f"INSERT INTO rollups (hour, series, {', '.join(columns)})"
                f" VALUES (?, ?{', ?' * len(columns)}) ON CONFLICT (hour, series) DO UPDATE SET {updates}",
                [int(hour), series, *(scalars.get(c, 0.0) for c in columns)],
            )
        ]
        statements.extend(
            (
                "INSERT INTO rollup_hist (hour, series, metric, idx, n) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (hour, series, metric, idx) DO UPDATE SET n = rollup_hist.n + excluded.n",
                (int(hour), series, metric, index, count),
            )
            for metric, index, count in sorted(hist)
        )
        await self._transaction(statements)

    async def trends(
        self, metric: str, group_by: Sequence[str], since_hour: int, bucket_hours: int
    ) -> list[Mapping[str, Any]]:
        """Points ``{"hour", "time", "labels", "value"}`` of ``metric`` per bucket and group.

        ``metric`` is one of ``rollup.TREND_METRICS`` (e.g. ``cost_usd``, ``duration_s.p95``,
        ``error_rate``); buckets are ``bucket_hours`` long (24: UTC days, 168: ISO weeks).
        """
        if metric not in rollup.TREND_METRICS:
            raise ValueError(f"unknown trend metric {metric!r}; one of {', '.join(rollup.TREND_METRICS)}")
        if bucket_hours < 1:
            raise ValueError("bucket_hours must be >= 1")
        bucket = f"(hour - ({rollup.WEEK_ORIGIN_HOUR})) / {int(bucket_hours)}"
        sums = ", ".join(f"SUM({c})" for c in rollup.SUM_FIELDS)
        maxes = ", ".join(f"MAX({c})" for c in rollup.MAX_FIELDS)
        sum_rows = await self._fetch(
            f"SELECT {bucket} AS b, series, {sums}, {maxes} FROM rollups WHERE hour >= ? GROUP BY b, series",
            (int(since_hour),),
        )
        hist_rows: list[tuple[Any, ...]] = []
        base, _, stat = metric.partition(".")
        if stat.startswith("p"):
            hist_rows = await self._fetch(
                f"SELECT {bucket} AS b, series, idx, SUM(n) FROM rollup_hist"
                " WHERE metric = ? AND hour >= ? GROUP BY b, series, idx",
                (base, int(since_hour)),
            )
        return list(rollup.assemble(metric, group_by, bucket_hours, sum_rows, hist_rows))


def _anomaly(data: Mapping[str, Any]) -> Anomaly:
    band = data.get("band")
    return Anomaly(
        id=data["id"],
        time=float(data["time"]),
        series=dict(data.get("series") or {}),
        metric=data["metric"],
        value=float(data["value"]),
        expected=None if data.get("expected") is None else float(data["expected"]),
        band=None if band is None else (float(band[0]), float(band[1])),
        score=float(data["score"]),
        severity=data["severity"],
        detector=data["detector"],
        message=data.get("message", ""),
        exemplars=tuple((str(t), str(s)) for t, s in data.get("exemplars") or ()),
    )
