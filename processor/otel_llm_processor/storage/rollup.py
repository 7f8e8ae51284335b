"""Hourly rollups of the derived metrics: what is stored, and how trends are computed from it.

Per series (a label set) and hour (``int(unix_seconds // 3600)``) we keep sums -- ``calls``,
``errors``, ``input_tokens``, ``output_tokens``, ``cached_tokens``, ``cost_usd``,
``duration_s_sum``/``_count``, ``ttft_s_sum``/``_count`` -- the maxima ``duration_s_max`` and
``ttft_s_max``, and a log-scale histogram of durations and TTFTs. Histogram buckets have a ratio
of 2^(1/4) (index ``i`` holds values in (2^((i-1)/4), 2^(i/4)]), so a percentile read back from
them is within about 9 % of the true value, for 4 bytes-ish per occupied bucket and hour; sums and
histograms merge exactly across replicas and hours, which a stored p95 could not.

In ``add_rollup`` values, histogram counts use the key ``"<metric>:<index>"`` (e.g.
``"duration_s:-7"``); :func:`values_from_update` builds the whole mapping from a ``SeriesUpdate``.

Trend buckets are aligned to the UTC week grid that starts on Monday 1969-12-29 00:00, so 24-hour
buckets are UTC days and 168-hour buckets are ISO weeks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from otel_llm_processor.services import SeriesUpdate

__all__ = [
    "HIST_METRICS",
    "MAX_FIELDS",
    "SUM_FIELDS",
    "TREND_METRICS",
    "bucket_index",
    "bucket_indices",
    "bucket_value",
    "hour_of",
    "quantile",
    "series_key",
    "split_values",
    "trend_value",
    "values_from_update",
]

SUM_FIELDS = (
    "calls",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost_usd",
    "duration_s_sum",
    "duration_s_count",
    "ttft_s_sum",
    "ttft_s_count",
)
MAX_FIELDS = ("duration_s_max", "ttft_s_max")
HIST_METRICS = ("duration_s", "ttft_s")
WEEK_ORIGIN_HOUR = -72  # Monday 1969-12-29 00:00 UTC, in hours since the epoch

_SCALE = 4  # buckets per power of two
_MIN_INDEX, _MAX_INDEX = -20 * _SCALE, 24 * _SCALE  # ~1 µs .. ~194 days; outside is clamped
ZERO_INDEX = _MIN_INDEX - 1  # values <= 0

# metric name -> description; the values API callers may ask for.
TREND_METRICS: Mapping[str, str] = {
    "calls": "number of calls",
    "errors": "number of failed calls",
    "error_rate": "errors / calls",
    "input_tokens": "input tokens",
    "output_tokens": "output tokens",
    "cached_tokens": "cached input tokens",
    "tokens": "input + output tokens",
    "cost_usd": "cost in USD",
    **{f"{m}.{s}": f"{m} {s}" for m in HIST_METRICS for s in ("avg", "max", "p50", "p95", "p99")},
}


def hour_of(unix_seconds: float) -> int:
    return int(unix_seconds // 3600)


def series_key(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


def bucket_index(value: float) -> int:
    if value <= 0.0 or math.isnan(value):
        return ZERO_INDEX
    if math.isinf(value):  # a malformed span value must not raise: clamp like any huge value
        return _MAX_INDEX
    return min(_MAX_INDEX, max(_MIN_INDEX, math.ceil(math.log2(value) * _SCALE - 1e-9)))


def bucket_indices(values: np.ndarray) -> np.ndarray:
    """:func:`bucket_index` of every value, vectorised (same results, bucket for bucket)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        idx = np.ceil(np.log2(values) * _SCALE - 1e-9)
    idx = np.clip(
        np.nan_to_num(idx, nan=_MIN_INDEX, posinf=_MAX_INDEX, neginf=_MIN_INDEX), _MIN_INDEX, _MAX_INDEX
    )
    idx = idx.astype(np.int64)
    idx[~(values > 0.0)] = ZERO_INDEX  # <= 0 and NaN
    return idx


def bucket_value(index: int) -> float:
    """Representative value of a bucket: the geometric middle of its bounds."""
    if index == ZERO_INDEX:
        return 0.0
    return float(2.0 ** ((index - 0.5) / _SCALE))


def quantile(counts: Mapping[int, float], q: float, maximum: float | None = None) -> float | None:
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = max(1.0, math.ceil(q * total))
    seen = 0.0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= rank:
            value = bucket_value(index)
            return min(value, maximum) if maximum else value
    return maximum  # not reached: rank <= total


def values_from_update(update: SeriesUpdate) -> dict[str, float]:
    """The ``add_rollup`` values of one :class:`SeriesUpdate`."""
    values: dict[str, float] = {
        "calls": float(update.calls),
        "errors": float(update.errors),
        "input_tokens": float(update.input_tokens),
        "output_tokens": float(update.output_tokens),
        "cached_tokens": float(update.cached_tokens),
        "cost_usd": float(update.cost_usd),
    }
    for metric, samples in (("duration_s", update.durations_s), ("ttft_s", update.ttfts_s)):
        if not samples:
            continue
        values[f"{metric}_sum"] = float(sum(samples))
        values[f"{metric}_count"] = float(len(samples))
        values[f"{metric}_max"] = float(max(samples))
        for sample in samples:
            key = f"{metric}:{bucket_index(sample)}"
            values[key] = values.get(key, 0.0) + 1.0
    return values


def split_values(values: Mapping[str, float]) -> tuple[dict[str, float], list[tuple[str, int, float]]]:
    """Scalar columns and histogram ``(metric, index, count)`` triples; unknown keys raise ValueError."""
    scalars: dict[str, float] = {}
    hist: list[tuple[str, int, float]] = []
    for key, value in values.items():
        if key in SUM_FIELDS or key in MAX_FIELDS:
            scalars[key] = float(value)
            continue
        metric, sep, index = key.partition(":")
        if sep and metric in HIST_METRICS:
            try:
                hist.append((metric, int(index), float(value)))
                continue
            except ValueError:
                pass
        raise ValueError(f"unknown rollup value {key!r}")
    return scalars, hist


def trend_value(metric: str, sums: Mapping[str, float], hist: Mapping[int, float]) -> float | None:
    """The value of ``metric`` for one bucket and group, or None when it is undefined (no data)."""
    if metric in SUM_FIELDS:
        return sums[metric]
    if metric == "tokens":
        return sums["input_tokens"] + sums["output_tokens"]
    if metric == "error_rate":
        return sums["errors"] / sums["calls"] if sums["calls"] else None
    base, _, stat = metric.partition(".")
    count = sums[f"{base}_count"]
    if not count:
        return None
    if stat == "avg":
        return sums[f"{base}_sum"] / count
    if stat == "max":
        return sums[f"{base}_max"]
    return quantile(hist, int(stat[1:]) / 100.0, sums[f"{base}_max"])


def group_labels(series: str, group_by: Sequence[str]) -> tuple[tuple[str, str], ...]:
    labels = json.loads(series)
    return tuple((name, str(labels.get(name, ""))) for name in group_by)


def assemble(
    metric: str,
    group_by: Sequence[str],
    bucket_hours: int,
    sum_rows: Iterable[Sequence[Any]],
    hist_rows: Iterable[Sequence[Any]],
) -> list[dict[str, Any]]:
    """Merge per-(bucket, series) rows into per-(bucket, group) trend points.

    ``sum_rows``: (bucket_number, series, *SUM_FIELDS, *MAX_FIELDS); ``hist_rows``: (bucket_number,
    series, idx, n). A bucket number ``b`` starts at hour ``b * bucket_hours + WEEK_ORIGIN_HOUR``.
    """
    sums: dict[tuple[int, tuple[tuple[str, str], ...]], dict[str, float]] = {}
    for row in sum_rows:
        key = (int(row[0]), group_labels(row[1], group_by))
        acc = sums.setdefault(key, dict.fromkeys(SUM_FIELDS + MAX_FIELDS, 0.0))
        for offset, name in enumerate(SUM_FIELDS, start=2):
            acc[name] += float(row[offset] or 0.0)
        for offset, name in enumerate(MAX_FIELDS, start=2 + len(SUM_FIELDS)):
            acc[name] = max(acc[name], float(row[offset] or 0.0))
    hists: dict[tuple[int, tuple[tuple[str, str], ...]], dict[int, float]] = {}
    for row in hist_rows:
        key = (int(row[0]), group_labels(row[1], group_by))
        bucket = hists.setdefault(key, {})
        bucket[int(row[2])] = bucket.get(int(row[2]), 0.0) + float(row[3])
    points = []
    for (number, labels), acc in sorted(sums.items()):
        value = trend_value(metric, acc, hists.get((number, labels), {}))
        if value is None:
            continue
        hour = number * bucket_hours + WEEK_ORIGIN_HOUR
        points.append({"hour": hour, "time": hour * 3600, "labels": dict(labels), "value": value})
    return points
