"""Derived signals over windows of ``SeriesUpdate``s, shared by ``anomaly`` and ``alert_rules``.

Metric names (``<base>`` or ``<base>.<stat>``):

| name | meaning over the window |
|------|-------------------------|
| ``calls``, ``errors`` | counts |
| ``calls.per_min``, ``errors.per_min`` | counts per minute (0 when the window is empty) |
| ``error_rate`` | errors / calls |
| ``duration_s.{p50,p95,p99,avg,max}`` | call latency |
| ``ttft_s.{p50,p95,p99,avg,max}`` | time to first token (streaming calls) |
| ``{tokens,input_tokens,output_tokens,cached_tokens,cost_usd}`` | totals (tokens = input + output) |
| ``{...}.per_call``, ``{...}.per_min`` | the totals per call and per minute |

Series are groups of the connector's series projected on ``group_by`` labels (the default drops
``error_type`` so that an error rate compares failures with successes of the same model).
Latency samples are bounded per bucket (reservoir sampling), so memory per series is bounded.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from otel_llm_processor.services import SeriesUpdate

__all__ = [
    "DEFAULT_GROUP_BY",
    "Bucket",
    "SeriesWindow",
    "derive",
    "group_key",
    "validate_metric",
]

DEFAULT_GROUP_BY = ("service", "provider", "model", "operation")
_COUNTS = ("calls", "errors")
_TOTALS = ("tokens", "input_tokens", "output_tokens", "cached_tokens", "cost_usd")
_DISTS = ("duration_s", "ttft_s")
_DIST_STATS = {"p50": 50.0, "p95": 95.0, "p99": 99.0}
_rng = random.Random(0x5EED)

GroupKey = tuple[tuple[str, str], ...]


def group_key(labels: Mapping[str, str], group_by: Sequence[str]) -> GroupKey:
    return tuple((name, str(labels.get(name, ""))) for name in group_by)


def validate_metric(name: str) -> str:
    """``name`` when it is a known derived metric, else ``ValueError`` listing the shapes."""
    base, _, stat = name.partition(".")
    ok = (
        (base in _COUNTS and stat in ("", "per_min"))
        or (base == "error_rate" and not stat)
        or (base in _DISTS and (stat in _DIST_STATS or stat in ("avg", "max")))
        or (base in _TOTALS and stat in ("", "per_call", "per_min"))
    )
    if not ok:
        raise ValueError(
            f"unknown metric {name!r}: use calls[.per_min], errors[.per_min], error_rate, "
            "duration_s|ttft_s.{p50,p95,p99,avg,max}, or "
            "tokens|input_tokens|output_tokens|cached_tokens|cost_usd[.per_call|.per_min]"
        )
    return name


@dataclass(slots=True)
class Bucket:
    start: float
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    durations: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    seen_durations: int = 0
    seen_ttfts: int = 0
    exemplars: list[tuple[str, str]] = field(default_factory=list)

    def add(self, update: SeriesUpdate, sample_cap: int, exemplar_cap: int = 4) -> None:
        self.calls += update.calls
        self.errors += update.errors
        self.input_tokens += update.input_tokens
        self.output_tokens += update.output_tokens
        self.cached_tokens += update.cached_tokens
        self.cost_usd += update.cost_usd
        self.seen_durations = _reservoir(self.durations, self.seen_durations, update.durations_s, sample_cap)
        self.seen_ttfts = _reservoir(self.ttfts, self.seen_ttfts, update.ttfts_s, sample_cap)
        for ex in update.exemplars:
            if len(self.exemplars) >= exemplar_cap:
                break
            self.exemplars.append((ex[0], ex[1]))


def _reservoir(samples: list[float], seen: int, new: Iterable[float], cap: int) -> int:
    for value in new:
        seen += 1
        if len(samples) < cap:
            samples.append(float(value))
        else:
            j = _rng.randrange(seen)
            if j < cap:
                samples[j] = float(value)
    return seen


def derive(buckets: Sequence[Bucket], metric: str, seconds: float) -> float | None:
    """The value of ``metric`` over ``buckets`` spanning ``seconds``; None when undefined."""
    base, _, stat = metric.partition(".")
    calls = sum(b.calls for b in buckets)
    if base in _COUNTS:
        total = float(calls if base == "calls" else sum(b.errors for b in buckets))
        return total * 60.0 / seconds if stat == "per_min" else total
    if base == "error_rate":
        return sum(b.errors for b in buckets) / calls if calls else None
    if base in _DISTS:
        parts = [b.durations if base == "duration_s" else b.ttfts for b in buckets]
        samples = [v for part in parts for v in part]
        if not samples:
            return None
        arr = np.asarray(samples, dtype=np.float64)
        if stat == "avg":
            return float(arr.mean())
        if stat == "max":
            return float(arr.max())
        return float(np.percentile(arr, _DIST_STATS[stat]))
    if base == "tokens":
        total = float(sum(b.input_tokens + b.output_tokens for b in buckets))
    else:
        total = float(sum(getattr(b, base) for b in buckets))
    if stat == "per_call":
        return total / calls if calls else None
    if stat == "per_min":
        return total * 60.0 / seconds
    return total


class SeriesWindow:
    """Time buckets of ``resolution`` seconds covering the last ``span`` seconds of one series."""

    __slots__ = ("_buckets", "last_time", "resolution", "sample_cap", "span")

    def __init__(self, resolution: float, span: float, sample_cap: int = 256) -> None:
        self.resolution = resolution
        self.span = span
        self.sample_cap = sample_cap
        self._buckets: deque[Bucket] = deque()
        self.last_time = 0.0

    def add(self, update: SeriesUpdate) -> None:
        start = (update.time // self.resolution) * self.resolution
        buckets = self._buckets
        if not buckets or start > buckets[-1].start:
            buckets.append(Bucket(start))
        target = buckets[-1]
        if start < target.start:  # late update: the bucket it belongs to, else the newest
            target = next((b for b in buckets if b.start == start), target)
        target.add(update, self.sample_cap)
        self.last_time = max(self.last_time, update.time)

    def evict(self, now: float) -> None:
        horizon = now - self.span - self.resolution
        buckets = self._buckets
        while buckets and buckets[0].start < horizon:
            buckets.popleft()

    def buckets(self, window: float, now: float) -> list[Bucket]:
        """Buckets overlapping ``(now - window, now]``."""
        since = now - window
        out = []
        for bucket in reversed(self._buckets):
            if bucket.start + self.resolution <= since:
                break
            if bucket.start <= now:
                out.append(bucket)
        out.reverse()
        return out

    def value(self, metric: str, window: float, now: float) -> float | None:
        return derive(self.buckets(window, now), metric, window)

    def exemplars(self, window: float, now: float, limit: int = 5) -> tuple[tuple[str, str], ...]:
        out: list[tuple[str, str]] = []
        for bucket in reversed(self.buckets(window, now)):
            for ex in bucket.exemplars:
                if len(out) >= limit:
                    return tuple(out)
                out.append(ex)
        return tuple(out)

    def empty(self) -> bool:
        return not self._buckets
