"""``Packed``: a read-only, compact encoding of a :class:`~.part.Part` for state that is kept a while.

A window slot lives up to an hour and the cumulative state for ever, so they are stored packed; a
:class:`Part` costs 16 bytes per histogram bucket (an int64 key and an int64 count), a Packed one
3 to 6: the ``(series, metric)`` of a run of buckets is stored once per run (``groups`` and
``lengths``), each bucket as its 16-bit biased index and its count in the narrowest unsigned type
that holds the largest count of the slot. Nothing is lost: ``unpack(pack(p))`` equals ``p``, so
percentiles keep their scale-6 accuracy and exported histograms do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from otel_llm_processor.connector.llm_metrics import part as P

__all__ = ["EMPTY_PACKED", "Packed", "pack", "unpack"]

_SHIFT = P.BUCKET_BITS
_LOW = (1 << _SHIFT) - 1


@dataclass(frozen=True, slots=True)
class Packed:
    series: np.ndarray  # int32 (n,)
    counters: np.ndarray  # float64 (n, len(COUNTERS))
    stat_keys: np.ndarray  # int32 (m,)
    stats: np.ndarray  # float64 (m, 4)
    groups: np.ndarray  # int32 (g,): series * 8 + metric of each run of buckets
    lengths: np.ndarray  # narrowest uint (g,): buckets in each run
    buckets: np.ndarray  # uint16 (k,): biased bucket indices
    counts: np.ndarray  # narrowest uint (k,)

    @property
    def nbytes(self) -> int:
        return sum(
            a.nbytes
            for a in (
                self.series,
                self.counters,
                self.stat_keys,
                self.stats,
                self.groups,
                self.lengths,
                self.buckets,
                self.counts,
            )
        )


def _narrow(values: np.ndarray) -> np.ndarray:
    top = int(values.max()) if len(values) else 0
    return values.astype(np.min_scalar_type(top))


def pack(part: P.Part) -> Packed:
    keys = part.hist_keys
    if len(keys):
        starts = P.run_starts(keys >> _SHIFT)
        groups = (keys[starts] >> _SHIFT).astype(np.int32)
        lengths = np.diff(np.append(starts, len(keys)))
    else:
        groups = np.zeros(0, dtype=np.int32)
        lengths = np.zeros(0, dtype=np.int64)
    return Packed(
        part.series.astype(np.int32),
        part.counters,
        part.stat_keys.astype(np.int32),
        part.stats,
        groups,
        _narrow(lengths),
        (keys & _LOW).astype(np.uint16),
        _narrow(part.hist_counts),
    )


def unpack(packed: Packed) -> P.Part:
    groups = np.repeat(packed.groups.astype(np.int64), packed.lengths.astype(np.int64))
    return P.Part(
        packed.series.astype(np.int64),
        packed.counters,
        packed.stat_keys.astype(np.int64),
        packed.stats,
        (groups << _SHIFT) | packed.buckets.astype(np.int64),
        packed.counts.astype(np.int64),
    )


EMPTY_PACKED = pack(P.EMPTY)
