"""Group the series of one window's :class:`Part` and summarise them (``LlmMetricsView.summarize``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from otel_llm_processor.connector.llm_metrics import part as P
from otel_llm_processor.connector.llm_metrics.aggregator import SeriesRegistry
from otel_llm_processor.connector.llm_metrics.expohist import quantiles
from otel_llm_processor.services import GroupSummary, Summary

__all__ = ["QUANTILES", "summarize"]

QUANTILES = (0.5, 0.95, 0.99)
_SHIFT = P.BUCKET_BITS
_M = 1 << P.METRIC_BITS


def _group_of_series(
    registry: SeriesRegistry, series: Sequence[int], group_by: Sequence[str], where: Mapping[str, str]
) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Group index per series id (``-1``: filtered out) and the label values of each group."""
    lookup = np.full(max(series, default=-1) + 1, -1, dtype=np.int64)
    groups: dict[tuple[str, ...], int] = {}
    for sid in series:
        labels = registry.label_maps[sid]
        if any(labels[k] != v for k, v in where.items()):
            continue
        key = tuple(labels[k] for k in group_by)
        lookup[sid] = groups.setdefault(key, len(groups))
    return lookup, list(groups)


def summarize(
    registry: SeriesRegistry,
    part: P.Part,
    window: str,
    group_by: Sequence[str] = (),
    where: Mapping[str, str] | None = None,
) -> list[GroupSummary]:
    where = dict(where or {})
    unknown = sorted({*group_by, *where} - set(registry.label_names))
    if unknown:
        raise ValueError(f"unknown label(s) {', '.join(unknown)}; known: {', '.join(registry.label_names)}")
    if len(part.series) == 0:
        return []
    lookup, group_keys = _group_of_series(registry, part.series.tolist(), group_by, where)
    n = len(group_keys)
    if n == 0:
        return []

    g = lookup[part.series]
    keep = g >= 0
    totals = np.zeros((n, len(P.COUNTERS)))
    np.add.at(totals, g[keep], part.counters[keep])

    sg = lookup[part.stat_keys // _M]
    keep = sg >= 0
    gm = sg[keep] * _M + part.stat_keys[keep] % _M
    stats = part.stats[keep]
    size = n * _M
    count = np.bincount(gm, weights=stats[:, 0], minlength=size)
    total = np.bincount(gm, weights=stats[:, 1], minlength=size)
    vmin = np.full(size, np.inf)
    vmax = np.full(size, -np.inf)
    np.minimum.at(vmin, gm, stats[:, 2])
    np.maximum.at(vmax, gm, stats[:, 3])

    hg = lookup[part.hist_keys >> (_SHIFT + P.METRIC_BITS)]
    keep = hg >= 0
    hkeys = part.hist_keys[keep]
    hkeys = ((hg[keep] * _M + (hkeys >> _SHIFT) % _M) << _SHIFT) | (hkeys & ((1 << _SHIFT) - 1))
    hcounts = part.hist_counts[keep]
    order = np.argsort(hkeys, kind="stable")
    hkeys, hcounts = hkeys[order], hcounts[order]
    hgm = hkeys >> _SHIFT

    out: list[GroupSummary] = []
    for gi, key in enumerate(group_keys):
        row = totals[gi]
        distributions: dict[str, Summary] = {}
        for mi, name in enumerate(P.METRICS):
            j = gi * _M + mi
            c = int(count[j])
            if c == 0:
                continue
            lo, hi = np.searchsorted(hgm, [j, j + 1])
            # merge runs of equal buckets (slots of the window each contribute their own counts)
            keys_j, counts_j = hkeys[lo:hi], hcounts[lo:hi]
            starts = P.run_starts(keys_j)
            buckets = keys_j[starts] & ((1 << _SHIFT) - 1)
            counts_j = np.add.reduceat(counts_j, starts)
            p50, p95, p99 = quantiles(buckets, counts_j, QUANTILES, float(vmin[j]), float(vmax[j]))
            s = float(total[j])
            distributions[name] = Summary(c, s, s / c, float(vmin[j]), float(vmax[j]), p50, p95, p99)
        out.append(
            GroupSummary(
                labels=dict(zip(group_by, key, strict=True)),
                window=window,
                calls=int(row[P.CALLS]),
                errors=int(row[P.ERRORS]),
                input_tokens=int(row[P.INPUT]),
                output_tokens=int(row[P.OUTPUT]),
                cached_tokens=int(row[P.CACHE_READ]),
                cost_usd=float(row[P.COST]),
                distributions=distributions,
            )
        )
    return out
