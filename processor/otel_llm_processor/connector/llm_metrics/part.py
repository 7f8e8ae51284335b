"""``Part``: a columnar aggregate of many series, the unit every store of the connector merges.

One aggregated batch is a Part; a window slot, the cumulative state and the state since the last
flush are Parts too (merges of Parts). Three tables, each sorted by its integer key:

- ``series`` -> ``counters`` (one row per series, columns :data:`COUNTERS`);
- ``stat_keys`` (``series * 8 + metric``) -> ``stats`` (count, sum, min, max of the metric);
- ``hist_keys`` (``(series * 8 + metric) << 16 | biased bucket``) -> ``hist_counts``.

``metric`` is the position in :data:`METRICS` (the same order as ``services.DISTRIBUTION_METRICS``).
Merging concatenates and reduces runs of equal keys; the inputs are already sorted, so numpy's
stable sort (timsort) merges them in linear time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from otel_llm_processor.services import DISTRIBUTION_METRICS

__all__ = [
    "CACHE_CREATION",
    "CACHE_READ",
    "CALLS",
    "COST",
    "COUNTERS",
    "EMPTY",
    "ERRORS",
    "INPUT",
    "METRICS",
    "METRIC_BITS",
    "OUTPUT",
    "PRICED",
    "Part",
    "drop_series",
    "merge",
    "run_starts",
]

METRICS: tuple[str, ...] = tuple(DISTRIBUTION_METRICS)  # duration_s, ttft_s, input/output tokens, cost
METRIC_BITS = 3  # up to 8 metrics per series in a key
BUCKET_BITS = 16

COUNTERS = (
    "calls",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read",
    "cache_creation",
    "cost",
    "priced",
)
CALLS, ERRORS, INPUT, OUTPUT, CACHE_READ, CACHE_CREATION, COST, PRICED = range(len(COUNTERS))


@dataclass(frozen=True, slots=True)
class Part:
    series: np.ndarray  # int64 (n,)
    counters: np.ndarray  # float64 (n, len(COUNTERS))
    stat_keys: np.ndarray  # int64 (m,)
    stats: np.ndarray  # float64 (m, 4): count, sum, min, max
    hist_keys: np.ndarray  # int64 (k,)
    hist_counts: np.ndarray  # int64 (k,)

    @property
    def size(self) -> int:
        return len(self.series) + len(self.hist_keys)

    @property
    def nbytes(self) -> int:
        return sum(
            a.nbytes
            for a in (
                self.series,
                self.counters,
                self.stat_keys,
                self.stats,
                self.hist_keys,
                self.hist_counts,
            )
        )


def _empty() -> Part:
    i64 = np.zeros(0, dtype=np.int64)
    return Part(i64, np.zeros((0, len(COUNTERS))), i64, np.zeros((0, 4)), i64, i64)


EMPTY = _empty()


def run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Positions where a new run of equal keys begins (``sorted_keys`` must be non-empty)."""
    flags = np.empty(len(sorted_keys), dtype=bool)
    flags[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=flags[1:])
    return np.flatnonzero(flags)


def merge(parts: Sequence[Part]) -> Part:
    live = [p for p in parts if p.size]
    if not live:
        return EMPTY
    if len(live) == 1:
        return live[0]
    series, counters = _reduce_sum(
        np.concatenate([p.series for p in live]), np.concatenate([p.counters for p in live])
    )
    stat_keys, stats = _reduce_stats(
        np.concatenate([p.stat_keys for p in live]), np.concatenate([p.stats for p in live])
    )
    hist_keys, hist_counts = _reduce_sum(
        np.concatenate([p.hist_keys for p in live]), np.concatenate([p.hist_counts for p in live])
    )
    return Part(series, counters, stat_keys, stats, hist_keys, hist_counts)


def _reduce_sum(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(keys) == 0:
        return keys, values
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = run_starts(keys)
    if len(starts) == len(keys):
        return keys, values[order]
    return keys[starts], np.add.reduceat(values[order], starts, axis=0)


def _reduce_stats(keys: np.ndarray, stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(keys) == 0:
        return keys, stats
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    stats = stats[order]
    starts = run_starts(keys)
    if len(starts) == len(keys):
        return keys, stats
    out = np.empty((len(starts), 4))
    out[:, :2] = np.add.reduceat(stats[:, :2], starts, axis=0)
    out[:, 2] = np.minimum.reduceat(stats[:, 2], starts)
    out[:, 3] = np.maximum.reduceat(stats[:, 3], starts)
    return keys[starts], out


def drop_series(part: Part, series: Sequence[int]) -> Part:
    """``part`` without the rows of ``series``."""
    gone = np.asarray(series, dtype=np.int64)
    keep = ~np.isin(part.series, gone)
    keep_stats = ~np.isin(part.stat_keys >> METRIC_BITS, gone)
    keep_hist = ~np.isin(part.hist_keys >> (METRIC_BITS + BUCKET_BITS), gone)
    return Part(
        part.series[keep],
        part.counters[keep],
        part.stat_keys[keep_stats],
        part.stats[keep_stats],
        part.hist_keys[keep_hist],
        part.hist_counts[keep_hist],
    )
