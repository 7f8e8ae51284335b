"""Cost and token budgets per service, user or tenant, with burn-rate alerts.

The key space of users is unbounded, so each budget keeps a weighted Space-Saving sketch
(Metwally et al.) of ``top_k`` counters: a key that was never evicted is counted exactly; a key
that entered by evicting another carries an error bound (``error``), and its guaranteed spend is
``count - error``. Alerts use the guaranteed spend, so the sketch never raises a false alert.
What the tracked keys do not account for is reported as one aggregated ``(other)`` row.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from otel_llm_processor.model.llm_call import LlmCall
from otel_llm_processor.processor.anomaly.config import BudgetConfig

__all__ = ["BudgetBreach", "BudgetTracker", "SpaceSaving"]

OTHER = "(other)"


class SpaceSaving:
    """Weighted Space-Saving: at most ``capacity`` counters ``key -> [count, error]``."""

    __slots__ = ("capacity", "counters", "total")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self.counters: dict[str, list[float]] = {}
        self.total = 0.0

    def add(self, key: str, weight: float) -> str | None:
        """Count ``weight`` for ``key``; returns the key evicted to make room, if any."""
        self.total += weight
        slot = self.counters.get(key)
        if slot is not None:
            slot[0] += weight
            return None
        if len(self.counters) < self.capacity:
            self.counters[key] = [weight, 0.0]
            return None
        victim = min(self.counters, key=lambda k: self.counters[k][0])
        floor = self.counters.pop(victim)[0]
        self.counters[key] = [floor + weight, floor]
        return victim

    def guaranteed(self, key: str) -> float:
        slot = self.counters.get(key)
        return slot[0] - slot[1] if slot is not None else 0.0

    def estimate(self, key: str) -> float:
        slot = self.counters.get(key)
        return slot[0] if slot is not None else 0.0

    def top(self, n: int) -> list[tuple[str, float, float]]:
        """(key, guaranteed, estimate), highest estimate first."""
        ranked = sorted(self.counters.items(), key=lambda kv: kv[1][0], reverse=True)[:n]
        return [(k, c - e, c) for k, (c, e) in ranked]

    def other(self) -> float:
        """Spend not attributed to any tracked key with certainty."""
        return max(self.total - sum(c - e for c, e in self.counters.values()), 0.0)


@dataclass(frozen=True, slots=True)
class BudgetBreach:
    budget: str
    scope: str
    key: str
    kind: str  # "budget" (share of the period used) or "burn_rate"
    metric: str  # e.g. "budget.cost_usd", "budget.cost_usd.burn_rate.1h"
    value: float  # spend, or burn-rate multiple
    limit: float
    severity: str
    t: float


def _window_label(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class BudgetTracker:
    """One configured budget: the current period's sketch plus short buckets for burn rates."""

    def __init__(self, config: BudgetConfig, cost: Callable[[LlmCall], float | None]) -> None:
        self.config = config
        self._cost = cost
        self._period = -1.0
        self._sketch = SpaceSaving(config.top_k)
        self._levels = sorted(config.alert_at.items())
        self._raised: set[tuple[str, float]] = set()  # (key, level) raised this period
        longest = max((b.window for b in config.burn_rates), default=0.0)
        shortest = min((b.window for b in config.burn_rates), default=60.0)
        self._resolution = max(shortest / 12.0, 1.0)
        self._horizon = longest
        self._recent: dict[str, deque[list[float]]] = {}  # key -> [[bucket_start, amount], ...]
        self._burning: set[tuple[str, float]] = set()  # (key, burn window) currently over

    def key_of(self, call: LlmCall) -> str | None:
        match = self.config.match
        if match:
            labels = {
                "service": call.service,
                "provider": call.provider,
                "model": call.model,
                "user": call.user_id,
                "tenant": call.tenant_id,
            }
            if any(labels.get(k) != v for k, v in match.items()):
                return None
        scope = self.config.scope
        if scope == "all":
            return "*"
        value = {"service": call.service, "user": call.user_id, "tenant": call.tenant_id}[scope]
        return value or "(none)"

    def amount_of(self, call: LlmCall) -> float:
        if self.config.resource == "tokens":
            return float((call.input_tokens or 0) + (call.output_tokens or 0))
        cost = call.cost_usd if call.cost_usd is not None else self._cost(call)
        return float(cost or 0.0)

    def add(self, call: LlmCall, t: float) -> list[BudgetBreach]:
        key = self.key_of(call)
        if key is None:
            return []
        amount = self.amount_of(call)
        if amount <= 0 or not math.isfinite(amount):
            return []
        self._roll(t)
        evicted = self._sketch.add(key, amount)
        if evicted is not None:
            self._recent.pop(evicted, None)
            for burn in self.config.burn_rates:
                self._burning.discard((evicted, burn.window))
        if self.config.burn_rates:
            buckets = self._recent.setdefault(key, deque())
            start = (t // self._resolution) * self._resolution
            if buckets and buckets[-1][0] >= start:
                buckets[-1][1] += amount
            else:
                buckets.append([start, amount])
            while buckets and buckets[0][0] < t - self._horizon - self._resolution:
                buckets.popleft()
        return list(self._check_levels(key, t))

    def _roll(self, t: float) -> None:
        period = (t // self.config.window) * self.config.window
        if period != self._period:
            self._period = period
            self._sketch = SpaceSaving(self.config.top_k)
            self._raised.clear()

    def _check_levels(self, key: str, t: float) -> Iterator[BudgetBreach]:
        spent = self._sketch.guaranteed(key)
        limit = self.config.limit
        for level, severity in self._levels:
            if spent >= level * limit and (key, level) not in self._raised:
                self._raised.add((key, level))
                yield BudgetBreach(
                    self.config.name,
                    self.config.scope,
                    key,
                    "budget",
                    f"budget.{self.config.resource}",
                    spent,
                    level * limit,
                    severity,
                    t,
                )

    def check_burn(self, t: float) -> list[BudgetBreach]:
        """Burn rates of every tracked key at time ``t`` (called once per evaluation tick)."""
        out = []
        pace = self.config.limit / self.config.window  # budget per second
        for key, buckets in self._recent.items():
            for burn in self.config.burn_rates:
                since = t - burn.window
                spent = sum(amount for start, amount in buckets if start >= since)
                rate = spent / (pace * burn.window)
                flag = (key, burn.window)
                if rate >= burn.factor:
                    if flag not in self._burning:
                        self._burning.add(flag)
                        metric = f"budget.{self.config.resource}.burn_rate.{_window_label(burn.window)}"
                        out.append(
                            BudgetBreach(
                                self.config.name,
                                self.config.scope,
                                key,
                                "burn_rate",
                                metric,
                                rate,
                                burn.factor,
                                burn.severity,
                                t,
                            )
                        )
                else:
                    self._burning.discard(flag)
        return out

    def status(self, n: int = 20) -> list[dict[str, object]]:
        """Top spenders of the current period plus the aggregated rest."""
        rows: list[dict[str, object]] = [
            {"budget": self.config.name, "key": k, "spent": g, "estimate": e, "limit": self.config.limit}
            for k, g, e in self._sketch.top(n)
        ]
        rows.append(
            {
                "budget": self.config.name,
                "key": OTHER,
                "spent": self._sketch.other(),
                "estimate": self._sketch.other(),
                "limit": None,
            }
        )
        return rows
