"""In-process interfaces that components publish for each other through ``Host.services``.

| service name   | published by              | protocol            |
|----------------|---------------------------|---------------------|
| "llm_metrics"  | connector ``llm_metrics`` | :class:`LlmMetricsView` |
| "storage"      | the service (storage/)    | :class:`Storage`    |
| "alerts"       | connector ``alert_rules`` | :class:`AlertsService` |
| "anomalies"    | processor ``anomaly``     | :class:`AnomaliesService` |

Only these protocols and the dataclasses here cross component boundaries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from otel_llm_processor.model.llm_call import LlmCall

__all__ = [
    "DISTRIBUTION_METRICS",
    "WINDOWS",
    "AlertEvent",
    "AlertsService",
    "AnomaliesService",
    "Anomaly",
    "GroupSummary",
    "LlmMetricsView",
    "SeriesUpdate",
    "Storage",
    "Summary",
]

# Rolling windows of the in-process summaries, in seconds.
WINDOWS: Mapping[str, int] = {"1m": 60, "5m": 300, "1h": 3600}
# Per-call distributions summarised with percentiles.
DISTRIBUTION_METRICS = ("duration_s", "ttft_s", "input_tokens", "output_tokens", "cost_usd")
# Series labels, in order; configured extra dimensions follow.
SERIES_LABELS = ("service", "provider", "model", "operation", "error_type")


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    sum: float
    avg: float
    min: float
    max: float
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True, slots=True)
class GroupSummary:
    """Totals and distributions of one group of series over one window."""

    labels: Mapping[str, str]
    window: str
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float
    distributions: Mapping[str, Summary]  # keys from DISTRIBUTION_METRICS, only when count > 0

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def calls_per_s(self) -> float:
        from otel_llm_processor.services import WINDOWS  # local: avoid a cycle in type checkers

        return self.calls / WINDOWS[self.window]


@dataclass(frozen=True, slots=True)
class SeriesUpdate:
    """What one aggregated batch added to one series; handed to subscribers synchronously."""

    labels: Mapping[str, str]
    time: float  # unix seconds of the batch
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float
    durations_s: Sequence[float]
    ttfts_s: Sequence[float]
    exemplars: Sequence[tuple[str, str]]  # (trace_id hex, span_id hex), a few per update
    unpriced_models: Sequence[str] = ()  # models seen in this update with no known price


@runtime_checkable
class LlmMetricsView(Protocol):
    """Read side of the ``llm_metrics`` connector."""

    def summarize(
        self, window: str, group_by: Sequence[str] = (), where: Mapping[str, str] | None = None
    ) -> list[GroupSummary]: ...

    def subscribe(self, callback: Callable[[Sequence[SeriesUpdate]], None]) -> None:
        """``callback`` runs after every aggregated batch (on the event loop; must be quick)."""
        ...

    def subscribe_calls(self, callback: Callable[[Sequence[LlmCall]], None]) -> None:
        """``callback`` gets the de-duplicated LLM calls of every batch (runaway detection, evaluation)."""
        ...

    async def record_calls(self, calls: Sequence[LlmCall]) -> None:
        """Ingest calls that did not come as spans (``POST /v1/metrics``)."""
        ...


@dataclass(frozen=True, slots=True)
class Anomaly:
    id: str
    time: float
    series: Mapping[str, str]
    metric: str  # e.g. "duration_s.p95", "error_rate", "cost_usd.per_min"
    value: float
    expected: float | None
    band: tuple[float, float] | None
    score: float
    severity: str  # INFO | WARNING | ERROR | CRITICAL
    detector: str  # zscore | mad | ewma | trend | threshold | composite | budget | runaway | unpriced
    message: str = ""
    exemplars: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One transition of one alert, as notifiers receive it."""

    alert_id: str
    rule: str
    dedup_key: str
    state: str  # pending | firing | resolved | acknowledged | silenced
    severity: str  # INFO | WARNING | ERROR | CRITICAL
    summary: str
    description: str
    labels: Mapping[str, str]
    value: float
    threshold: float | None
    starts_at: float
    updated_at: float
    ends_at: float | None = None
    exemplars: tuple[tuple[str, str], ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)


class AlertsService(Protocol):
    """Alert state and rules, for the API and dashboard."""

    def list_alerts(self, state: str | None = None) -> Sequence[Mapping[str, Any]]: ...

    async def acknowledge(self, alert_id: str, by: str = "") -> Mapping[str, Any]: ...

    async def resolve(self, alert_id: str, by: str = "") -> Mapping[str, Any]: ...

    async def silence(self, matchers: Mapping[str, str], until: float, by: str = "") -> str: ...

    def list_rules(self) -> Sequence[Mapping[str, Any]]: ...

    async def put_rule(self, rule: Mapping[str, Any]) -> Mapping[str, Any]:
        """Create or replace a rule; raises ``ValueError`` with a clear message when invalid."""
        ...

    async def delete_rule(self, rule_id: str) -> bool: ...


class AnomaliesService(Protocol):
    def list_anomalies(self, since: float | None = None, limit: int = 100) -> Sequence[Anomaly]: ...


class Storage(Protocol):
    """Persistent state: SQLite by default, PostgreSQL for replicas sharing state.

    Records are JSON-able mappings; every method is async (the SQLite backend runs its queries in a
    thread, the PostgreSQL one uses psycopg's async connection).
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # alerts and their transitions
    async def upsert_alert(self, alert: Mapping[str, Any]) -> None: ...

    async def get_alert(self, alert_id: str) -> Mapping[str, Any] | None: ...

    async def list_alerts(self, state: str | None = None, limit: int = 500) -> list[Mapping[str, Any]]: ...

    async def add_transition(
        self, alert_id: str, from_state: str, to_state: str, at: float, by: str = ""
    ) -> None: ...

    async def list_transitions(self, alert_id: str) -> list[Mapping[str, Any]]: ...

    # anomalies
    async def add_anomaly(self, anomaly: Anomaly) -> None: ...

    async def list_anomalies(self, since: float | None = None, limit: int = 100) -> list[Anomaly]: ...

    # rules
    async def put_rule(self, rule: Mapping[str, Any]) -> None: ...

    async def delete_rule(self, rule_id: str) -> bool: ...

    async def list_rules(self) -> list[Mapping[str, Any]]: ...

    # notification outbox
    async def outbox_put(self, notifier: str, payload: Mapping[str, Any], not_before: float) -> int: ...

    async def outbox_due(
        self, notifier: str, now: float, limit: int = 100
    ) -> list[tuple[int, Mapping[str, Any], int]]:
        """(id, payload, attempts) of entries whose time has come, oldest first."""
        ...

    async def outbox_done(self, entry_id: int) -> None: ...

    async def outbox_retry(self, entry_id: int, not_before: float, error: str) -> None: ...

    async def outbox_size(self, notifier: str | None = None) -> int: ...

    # hourly rollups of the derived metrics (trends)
    async def add_rollup(self, hour: int, labels: Mapping[str, str], values: Mapping[str, float]) -> None:
        """Add ``values`` (calls, errors, tokens, cost, duration sums...) into the bucket of ``hour``."""
        ...

    async def trends(
        self, metric: str, group_by: Sequence[str], since_hour: int, bucket_hours: int
    ) -> list[Mapping[str, Any]]: ...
