"""An in-memory ``Storage`` for tests of components that persist state (G's SQLite replaces it)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from otel_llm_processor.services import Anomaly

__all__ = ["MemoryStorage"]


class MemoryStorage:
    def __init__(self) -> None:
        self.alerts: dict[str, dict[str, Any]] = {}
        self.transitions: list[dict[str, Any]] = []
        self.anomalies: list[Anomaly] = []
        self.rules: dict[str, dict[str, Any]] = {}
        self.outbox: list[tuple[int, str, dict[str, Any], float, int]] = []

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def upsert_alert(self, alert: Mapping[str, Any]) -> None:
        self.alerts[alert["id"]] = copy.deepcopy(dict(alert))

    async def get_alert(self, alert_id: str) -> Mapping[str, Any] | None:
        return self.alerts.get(alert_id)

    async def list_alerts(self, state: str | None = None, limit: int = 500) -> list[Mapping[str, Any]]:
        rows = [a for a in self.alerts.values() if state is None or a["state"] == state]
        return rows[:limit]

    async def add_transition(
        self, alert_id: str, from_state: str, to_state: str, at: float, by: str = ""
    ) -> None:
        self.transitions.append(
            {"alert_id": alert_id, "from": from_state, "to": to_state, "at": at, "by": by}
        )

    async def list_transitions(self, alert_id: str) -> list[Mapping[str, Any]]:
        return [t for t in self.transitions if t["alert_id"] == alert_id]

    async def add_anomaly(self, anomaly: Anomaly) -> None:
        self.anomalies.append(anomaly)

    async def list_anomalies(self, since: float | None = None, limit: int = 100) -> list[Anomaly]:
        rows = [a for a in self.anomalies if since is None or a.time >= since]
        return rows[-limit:]

    async def put_rule(self, rule: Mapping[str, Any]) -> None:
        self.rules[rule["id"]] = copy.deepcopy(dict(rule))

    async def delete_rule(self, rule_id: str) -> bool:
        return self.rules.pop(rule_id, None) is not None

    async def list_rules(self) -> list[Mapping[str, Any]]:
        return list(self.rules.values())

    async def outbox_put(self, notifier: str, payload: Mapping[str, Any], not_before: float) -> int:
        entry_id = len(self.outbox) + 1
        self.outbox.append((entry_id, notifier, dict(payload), not_before, 0))
        return entry_id

    async def outbox_due(
        self, notifier: str, now: float, limit: int = 100
    ) -> list[tuple[int, Mapping[str, Any], int]]:
        return [(i, p, a) for i, n, p, nb, a in self.outbox if n == notifier and nb <= now][:limit]

    async def outbox_done(self, entry_id: int) -> None:
        self.outbox = [e for e in self.outbox if e[0] != entry_id]

    async def outbox_retry(self, entry_id: int, not_before: float, error: str) -> None:
        self.outbox = [
            (i, n, p, not_before if i == entry_id else nb, a + (i == entry_id))
            for i, n, p, nb, a in self.outbox
        ]

    async def outbox_size(self, notifier: str | None = None) -> int:
        return sum(1 for e in self.outbox if notifier is None or e[1] == notifier)

    async def add_rollup(self, hour: int, labels: Mapping[str, str], values: Mapping[str, float]) -> None:
        return None

    async def trends(
        self, metric: str, group_by: Sequence[str], since_hour: int, bucket_hours: int
    ) -> list[Mapping[str, Any]]:
        return []
