"""Base-2 exponential histogram buckets, vectorised with numpy (OTLP ``ExponentialHistogram``).

At scale ``s`` the base is ``2**(2**-s)`` and bucket ``i`` holds the values in
``(base**i, base**(i+1)]``, so ``index(v) = ceil(log2(v) * 2**s) - 1``.

:data:`SCALE` = 6 gives a base of 1.0109: a percentile read as the geometric middle of its bucket is
within ``sqrt(base) - 1`` = 0.55 % of the exact value (< 1 %, which scale 5 would not guarantee).
There is no fixed range: one millisecond is index -638, twenty minutes index 654, a million tokens
index 1275. Buckets are stored sparsely (only non-empty ones), so a series costs memory in
proportion to the spread of its values, not to a fixed range.

A bucket index is kept *biased* in 16 bits (``index + BIAS``); the biased value 0 is the bucket of
zero values (OTLP ``zero_count``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "BIAS",
    "SCALE",
    "ZERO",
    "biased_indices",
    "downscale",
    "lower_bound",
    "quantiles",
    "representative",
    "upper_bound",
]

SCALE = 6
BIAS = 1 << 15  # biased index = index + BIAS, within [1, 2**16 - 1]
ZERO = 0  # biased index of the zero bucket
_FACTOR = float(1 << SCALE)


def biased_indices(values: np.ndarray) -> np.ndarray:
    """Biased bucket indices (int64) of non-negative finite ``values``; zero (and below) -> ZERO."""
    positive = values > 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.ceil(np.log2(np.where(positive, values, 1.0)) * _FACTOR) - 1.0
    np.clip(index, 1 - BIAS, BIAS - 1, out=index)
    biased = index.astype(np.int64) + BIAS
    biased[~positive] = ZERO
    return biased


def lower_bound(index: int, scale: int = SCALE) -> float:
    return float(2.0 ** (index / float(1 << scale))) if scale >= 0 else float(2.0 ** (index << -scale))


def upper_bound(index: int, scale: int = SCALE) -> float:
    return lower_bound(index + 1, scale)


def representative(index: int) -> float:
    """The geometric middle of bucket ``index`` (unbiased) at :data:`SCALE`."""
    return float(2.0 ** ((index + 0.5) / _FACTOR))


def downscale(indices: np.ndarray, counts: np.ndarray, max_buckets: int) -> tuple[int, int, np.ndarray]:
    """Dense OTLP buckets of sparse (unbiased, sorted) ``indices``: ``(scale, offset, bucket_counts)``.

    The scale is lowered (adjacent buckets merged, ``index >> d``) until the range fits in
    ``max_buckets``, as the OpenTelemetry SDK does.
    """
    if len(indices) == 0:
        return SCALE, 0, np.zeros(0, dtype=np.int64)
    shift = 0
    while (int(indices[-1]) >> shift) - (int(indices[0]) >> shift) + 1 > max_buckets:
        shift += 1
    shifted = indices >> shift
    offset = int(shifted[0])
    dense = np.bincount(shifted - offset, weights=counts, minlength=int(shifted[-1]) - offset + 1)
    return SCALE - shift, offset, dense.astype(np.int64)


def quantiles(
    biased: np.ndarray, counts: np.ndarray, qs: Sequence[float], vmin: float, vmax: float
) -> list[float]:
    """Quantiles of a histogram given as sorted biased indices and their counts.

    Matches ``numpy.percentile``'s default (linear interpolation between the order statistics at
    ``q * (n - 1)``), each order statistic read as its bucket's middle clamped to ``[vmin, vmax]``.
    """
    cum = np.cumsum(counts)
    total = int(cum[-1]) if len(cum) else 0
    if total == 0:
        return [float("nan")] * len(qs)

    def order_stat(rank: int) -> float:
        j = int(np.searchsorted(cum, rank, side="right"))
        b = int(biased[j])
        value = 0.0 if b == ZERO else representative(b - BIAS)
        return min(max(value, vmin), vmax)

    out: list[float] = []
    for q in qs:
        pos = q * (total - 1)
        lo = int(np.floor(pos))
        frac = pos - lo
        v_lo = order_stat(lo)
        out.append(v_lo if frac == 0.0 else v_lo + frac * (order_stat(min(lo + 1, total - 1)) - v_lo))
    return out
