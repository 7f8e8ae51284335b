"""Per-batch, vectorised aggregation of LLM calls into series (the hot path of ``llm_metrics``).

One pass of Python over the calls builds the series key and seven columns; everything after is
numpy over the whole batch: cost where the span lacks it (per-series token rates), per-series
counters (``bincount``), and for the distributions one sort of ``(series, metric, bucket)`` keys
that yields both the sparse exponential-histogram counts and count/sum/min/max per series. The
result is one :class:`~otel_llm_processor.connector.llm_metrics.part.Part`. The OpenTelemetry SDK's
instruments (about 20 µs per ``record()``) are never used here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np

from otel_llm_processor.connector.llm_metrics import part as P
from otel_llm_processor.connector.llm_metrics.expohist import biased_indices
from otel_llm_processor.connector.llm_metrics.pricing import Pricer, Rates, TieredRates
from otel_llm_processor.model.llm_call import LlmCall
from otel_llm_processor.services import SERIES_LABELS, SeriesUpdate

__all__ = ["Aggregator", "BatchResult", "Columns", "Exemplar", "SeriesRegistry", "columns_of_calls"]

_UNPRICED, _FLAT, _SLOW, _TIERED = 0, 1, 2, 3
_SHIFT = P.BUCKET_BITS
_M = 1 << P.METRIC_BITS


@dataclass(frozen=True, slots=True)
class Exemplar:
    value: float  # duration in seconds
    time_ns: int
    trace_id: bytes
    span_id: bytes


@dataclass(slots=True)
class Columns:
    """A batch of calls as columns: what :meth:`Aggregator.aggregate_columns` needs, nothing more.

    ``keys`` are the batch's distinct series keys in order of first appearance, ``key_of`` the key
    of each call; ``values`` rows are :data:`VALUES`. Built from :class:`LlmCall` objects
    (:func:`columns_of_calls`) or straight from spans (no objects), possibly in a worker process.
    """

    keys: list[tuple[str, ...]]
    key_of: np.ndarray  # int64 (n,)
    values: np.ndarray  # float64 (len(VALUES), n); nan where the call has no value
    trace_ids: list[bytes]
    span_ids: list[bytes]
    end_ns: list[int]

    def __len__(self) -> int:
        return len(self.key_of)

    @staticmethod
    def concat(parts: Sequence[Columns]) -> Columns:
        """One batch of the calls of ``parts``, in order (keys merged, first appearance first)."""
        if len(parts) == 1:
            return parts[0]
        index: dict[tuple[str, ...], int] = {}
        key_of = []
        for c in parts:
            remap = np.array([index.setdefault(k, len(index)) for k in c.keys], dtype=np.int64)
            key_of.append(remap[c.key_of] if len(remap) else c.key_of)
        return Columns(
            list(index),
            np.concatenate(key_of),
            np.concatenate([c.values for c in parts], axis=1),
            [t for c in parts for t in c.trace_ids],
            [s for c in parts for s in c.span_ids],
            [e for c in parts for e in c.end_ns],
        )


# Rows of Columns.values: duration (end - start, ns), ttft (s), tokens, cost recorded on the span.
VALUES = (
    "duration_ns",
    "ttft_s",
    "input_tokens",
    "output_tokens",
    "cache_read",
    "cache_creation",
    "cost_usd",
)


def columns_of_calls(calls: Sequence[LlmCall], dims: Sequence[tuple[str, ...]] | None = None) -> Columns:
    keys: list[tuple[str, ...]]
    if dims is None:
        keys = [
            (c.service, c.provider, c.response_model or c.request_model, c.operation, c.error_type)
            for c in calls
        ]
    else:
        keys = [
            (c.service, c.provider, c.response_model or c.request_model, c.operation, c.error_type, *d)
            for c, d in zip(calls, dims, strict=True)
        ]
    index: dict[tuple[str, ...], int] = {}
    key_of = [index.setdefault(k, len(index)) for k in keys]
    # object first, then float: numpy converts None to nan faster this way
    values = (
        np.array(
            [
                (
                    c.end_ns - c.start_ns,
                    c.ttft_s,
                    c.input_tokens,
                    c.output_tokens,
                    c.cache_read_tokens,
                    c.cache_creation_tokens,
                    c.cost_usd,
                )
                for c in calls
            ],
            dtype=object,
        )
        .astype(np.float64)
        .reshape(len(calls), len(VALUES))
        .T
    )
    return Columns(
        list(index),
        np.array(key_of, dtype=np.int64),
        values,
        [c.trace_id for c in calls],
        [c.span_id for c in calls],
        [c.end_ns for c in calls],
    )


class SeriesRegistry:
    """Series keys -> dense ids, bounded by ``max_series`` plus one overflow series.

    A key is ``(service, provider, model, operation, error_type, *dimension values)``; the
    overflow series (``overflow_id``) takes every call of a new key once the limit is reached.
    :meth:`expire` forgets series idle since a given time; their ids are reused by new keys (with a
    new ``first_seen``, so a cumulative stream of a key that comes back starts afresh).
    """

    def __init__(self, dimensions: Sequence[str], max_series: int, pricer: Pricer | None) -> None:
        self.label_names: tuple[str, ...] = (*SERIES_LABELS, *dimensions)
        self.max_series = max_series
        self.ids: dict[tuple[str, ...], int] = {}
        self.keys: list[tuple[str, ...]] = []
        self.label_maps: list[Mapping[str, str]] = []
        self.first_seen: list[float] = []
        self.last_seen = np.zeros(0)
        self.overflow_id = -1
        self._free: list[int] = []
        self._pricer = pricer
        self._capacity = 0
        self.rates = np.zeros((0, 4))
        self.price_kind = np.zeros(0, dtype=np.int8)
        self.is_error = np.zeros(0, dtype=bool)
        self.tiered: dict[int, TieredRates] = {}

    def __len__(self) -> int:
        """Active series (the overflow series included once it exists)."""
        return len(self.keys) - len(self._free)

    @property
    def capacity(self) -> int:
        """One more than the largest series id handed out."""
        return len(self.keys)

    def get_or_add(self, key: tuple[str, ...], now: float) -> int:
        found = self.ids.get(key)
        if found is not None:
            return found
        if len(self.ids) >= self.max_series:
            if self.overflow_id < 0:
                self.overflow_id = self._append(("",) * len(self.label_names), now, overflow=True)
            return self.overflow_id
        sid = self._append(key, now)
        self.ids[key] = sid
        return sid

    def _append(self, key: tuple[str, ...], now: float, overflow: bool = False) -> int:
        labels = dict(zip(self.label_names, key, strict=True))
        if self._free:
            sid = self._free.pop()
            self.keys[sid] = key
            self.label_maps[sid] = labels
            self.first_seen[sid] = now
            self.tiered.pop(sid, None)
        else:
            sid = len(self.keys)
            if sid >= self._capacity:
                self._capacity = max(16, self._capacity * 2)
                self.rates = np.resize(self.rates, (self._capacity, 4))
                self.price_kind = np.resize(self.price_kind, self._capacity)
                self.is_error = np.resize(self.is_error, self._capacity)
                self.last_seen = np.resize(self.last_seen, self._capacity)
            self.keys.append(key)
            self.label_maps.append(labels)
            self.first_seen.append(now)
        self.last_seen[sid] = now
        self.is_error[sid] = bool(key[4]) and not overflow
        self.rates[sid] = 0.0
        if overflow:
            self.price_kind[sid] = _SLOW
            return sid
        rates = self._pricer.rates(key[1], key[2]) if self._pricer is not None else None
        if isinstance(rates, Rates):
            self.rates[sid] = (rates.input, rates.output, rates.cache_read, rates.cache_write)
            self.price_kind[sid] = _FLAT
        elif isinstance(rates, TieredRates):
            self.tiered[sid] = rates
            self.price_kind[sid] = _TIERED
        else:
            self.price_kind[sid] = _SLOW if rates == "tiered" else _UNPRICED
        return sid

    def is_overflow(self, sid: int) -> bool:
        return sid == self.overflow_id

    def expire(self, idle_since: float) -> list[int]:
        """Forget the series that saw no call since ``idle_since``; returns their (now free) ids."""
        free = set(self._free)
        idle = [
            sid
            for sid in np.flatnonzero(self.last_seen[: len(self.keys)] < idle_since).tolist()
            if sid not in free
        ]
        for sid in idle:
            if sid == self.overflow_id:
                self.overflow_id = -1
            else:
                del self.ids[self.keys[sid]]
            self.keys[sid] = ()
            self.label_maps[sid] = {}
            self.tiered.pop(sid, None)
            self.last_seen[sid] = np.inf  # never idle while free
        self._free.extend(sorted(idle, reverse=True))  # the lowest id is reused first
        return idle


@dataclass(slots=True)
class BatchResult:
    part: P.Part
    overflowed: int  # calls routed to the overflow series
    unpriced: int  # calls with usage but no known price
    updates: list[SeriesUpdate]


class Aggregator:
    """Turns a batch of calls into a :class:`Part` and keeps the interval's exemplars."""

    def __init__(
        self,
        dimensions: Sequence[str] = (),
        max_series: int = 10_000,
        exemplars_per_series: int = 4,
        pricer: Pricer | None = None,
    ) -> None:
        self.registry = SeriesRegistry(dimensions, max_series, pricer)
        self._pricer = pricer
        self._k = exemplars_per_series
        self._dims = len(dimensions)
        self.exemplars: dict[int, list[Exemplar]] = {}
        self._floors = np.full(16, -np.inf)  # per series: see _floor_of

    def take_exemplars(self) -> dict[int, list[Exemplar]]:
        out, self.exemplars = self.exemplars, {}
        self._floors[:] = -np.inf
        return out

    # ------------------------------------------------------------------------------------------
    def aggregate(
        self,
        calls: Sequence[LlmCall],
        now: float,
        dims: Sequence[tuple[str, ...]] | None = None,
        want_updates: bool = False,
    ) -> BatchResult:
        if not calls:
            return BatchResult(P.EMPTY, 0, 0, [])
        return self.aggregate_columns(columns_of_calls(calls, dims), now, want_updates)

    def aggregate_columns(self, batch: Columns, now: float, want_updates: bool = False) -> BatchResult:
        n = len(batch)
        if n == 0:
            return BatchResult(P.EMPTY, 0, 0, [])
        reg = self.registry
        get = reg.ids.get
        ids = [get(k, -1) for k in batch.keys]
        if -1 in ids:
            ids = [i if i >= 0 else reg.get_or_add(k, now) for i, k in zip(ids, batch.keys, strict=True)]
        reg.last_seen[ids] = now
        sid = np.array(ids, dtype=np.int64)[batch.key_of]
        cols = batch.values
        dur = np.maximum(cols[0] / 1e9, 0.0)
        ttft, inp, out, cread, cwrite = cols[1], cols[2], cols[3], cols[4], cols[5]
        cost = cols[6].copy()
        unpriced_mask = self._price(batch, sid, inp, out, cread, cwrite, cost)

        useries, inv = np.unique(sid, return_inverse=True)
        k = len(useries)
        counters = np.empty((k, len(P.COUNTERS)))
        counters[:, P.CALLS] = np.bincount(inv, minlength=k)
        counters[:, P.ERRORS] = counters[:, P.CALLS] * reg.is_error[useries]
        for col, values in (
            (P.INPUT, inp),
            (P.OUTPUT, out),
            (P.CACHE_READ, cread),
            (P.CACHE_CREATION, cwrite),
            (P.COST, cost),
        ):
            counters[:, col] = np.bincount(inv, weights=np.nan_to_num(values), minlength=k)
        priced = ~np.isnan(cost)
        counters[:, P.PRICED] = np.bincount(inv, weights=priced, minlength=k)

        stat_keys, stats, hist_keys, hist_counts = _distributions(sid, np.stack((dur, ttft, inp, out, cost)))
        part = P.Part(useries, counters, stat_keys, stats, hist_keys, hist_counts)

        overflowed = int(np.count_nonzero(sid == reg.overflow_id)) if reg.overflow_id >= 0 else 0
        unpriced = int(np.count_nonzero(unpriced_mask))
        updates: list[SeriesUpdate] = []
        if self._k > 0 or want_updates:
            order = np.lexsort((dur, sid))
            sorted_sid = sid[order]
            starts = P.run_starts(sorted_sid)
            ends = np.append(starts[1:], n)
            if self._k > 0:
                self._keep_exemplars(batch, sorted_sid[starts], order[ends - 1], dur)
            if want_updates:
                updates = self._updates(batch, now, part, order, starts, ends, dur, ttft, unpriced_mask)
        return BatchResult(part, overflowed, unpriced, updates)

    # ------------------------------------------------------------------------------------------
    def _price(
        self,
        batch: Columns,
        sid: np.ndarray,
        inp: np.ndarray,
        out: np.ndarray,
        cread: np.ndarray,
        cwrite: np.ndarray,
        cost: np.ndarray,
    ) -> np.ndarray:
        """Fill ``cost`` in place where the span had none; returns the mask of unpriced calls."""
        missing = np.isnan(cost) & ~(np.isnan(inp) & np.isnan(out))
        if not missing.any():
            return missing
        reg = self.registry
        kind = reg.price_kind[sid]
        flat = missing & (kind == _FLAT)
        if flat.any():
            r = reg.rates[sid[flat]]
            i0, o0 = np.nan_to_num(inp[flat]), np.nan_to_num(out[flat])
            cr0, cw0 = np.nan_to_num(cread[flat]), np.nan_to_num(cwrite[flat])
            uncached = np.maximum(i0 - cr0 - cw0, 0.0)
            cost[flat] = uncached * r[:, 0] + o0 * r[:, 1] + cr0 * r[:, 2] + cw0 * r[:, 3]
        tiered = missing & (kind == _TIERED)
        if tiered.any():
            at = np.flatnonzero(tiered)
            i0, o0 = np.nan_to_num(inp[at]), np.nan_to_num(out[at])
            cr0, cw0 = np.nan_to_num(cread[at]), np.nan_to_num(cwrite[at])
            r = np.empty((len(at), 4))
            tables: dict[int, TieredRates] = {}  # one per (provider, model), shared by its series
            owner = [id(tables.setdefault(id(t), t)) for t in map(reg.tiered.__getitem__, sid[at].tolist())]
            owners = np.array(owner, dtype=np.int64) if len(tables) > 1 else None
            for key, t in tables.items():
                sel = slice(None) if owners is None else owners == key
                r[sel] = t.table[t.bands(i0[sel])]
            uncached = np.maximum(i0 - cr0 - cw0, 0.0)
            cost[at] = uncached * r[:, 0] + o0 * r[:, 1] + cr0 * r[:, 2] + cw0 * r[:, 3]
        slow = missing & (kind == _SLOW)
        if slow.any() and self._pricer is not None:
            keys, key_of = batch.keys, batch.key_of
            for i in np.flatnonzero(slow).tolist():
                key = keys[key_of[i]]
                usd = self._pricer.cost(
                    key[1],
                    key[2],
                    _opt_int(inp[i]),
                    _opt_int(out[i]),
                    _opt_int(cread[i]),
                    _opt_int(cwrite[i]),
                )
                if usd is not None:
                    cost[i] = usd
        return missing & np.isnan(cost)

    def _keep_exemplars(
        self, batch: Columns, series: np.ndarray, argmax: np.ndarray, dur: np.ndarray
    ) -> None:
        """Keep, per series, the ``k`` slowest calls of the interval (each batch offers its slowest)."""
        store, k = self.exemplars, self._k
        floor = self._floor_of(series)
        values = dur[argmax]
        better = values > floor  # the batch's slowest beats the fastest kept (or fewer than k kept)
        if not better.any():
            return
        trace_ids, span_ids, end_ns = batch.trace_ids, batch.span_ids, batch.end_ns
        for s, i, value in zip(
            series[better].tolist(), argmax[better].tolist(), values[better].tolist(), strict=True
        ):
            trace_id, span_id = trace_ids[i], span_ids[i]
            if not trace_id or not span_id:
                continue
            kept = store.get(s)
            if kept is None:
                kept = store[s] = [Exemplar(value, end_ns[i], trace_id, span_id)]
            elif len(kept) < k:
                kept.append(Exemplar(value, end_ns[i], trace_id, span_id))
            else:
                low = min(range(k), key=lambda j: kept[j].value)
                if value > kept[low].value:
                    kept[low] = Exemplar(value, end_ns[i], trace_id, span_id)
            self._floors[s] = min(e.value for e in kept) if len(kept) >= k else -np.inf

    def _floor_of(self, series: np.ndarray) -> np.ndarray:
        """Per series, the value a new exemplar must beat: the fastest kept once ``k`` are kept."""
        floors = self._floors
        if len(floors) < self.registry.capacity:
            grown = np.full(max(16, 2 * self.registry.capacity), -np.inf)
            grown[: len(floors)] = floors
            self._floors = floors = grown
        return floors[series]

    def _updates(
        self,
        batch: Columns,
        now: float,
        part: P.Part,
        order: np.ndarray,
        starts: np.ndarray,
        ends: np.ndarray,
        dur: np.ndarray,
        ttft: np.ndarray,
        unpriced: np.ndarray,
    ) -> list[SeriesUpdate]:
        reg = self.registry
        rows = part.counters.tolist()
        durs = dur[order].tolist()
        ttfts = ttft[order].tolist()
        unpriced_sorted = unpriced[order]
        has_unpriced = (np.add.reduceat(unpriced_sorted, starts) > 0).tolist() if len(starts) else []
        slowest_of = order[ends - 1].tolist()
        trace_ids, span_ids = batch.trace_ids, batch.span_ids
        label_maps = reg.label_maps
        out: list[SeriesUpdate] = []
        append = out.append
        for row, s, a, b, slowest, unpriced_any in zip(
            rows, part.series.tolist(), starts.tolist(), ends.tolist(), slowest_of, has_unpriced, strict=True
        ):
            trace_id = trace_ids[slowest]
            exemplars = [(trace_id.hex(), span_ids[slowest].hex())] if trace_id else []
            models: Sequence[str] = ()
            if unpriced_any:
                keys, key_of = batch.keys, batch.key_of
                models = sorted({keys[key_of[i]][2] for i in order[a:b][unpriced_sorted[a:b]].tolist()})
            series_ttfts = ttfts[a:b]
            update = _new(SeriesUpdate)
            for setter, value in zip(
                _UPDATE_SETTERS,
                (
                    label_maps[s],
                    now,
                    int(row[P.CALLS]),
                    int(row[P.ERRORS]),
                    int(row[P.INPUT]),
                    int(row[P.OUTPUT]),
                    int(row[P.CACHE_READ]),
                    row[P.COST],
                    durs[a:b],
                    [t for t in series_ttfts if t == t] if series_ttfts else series_ttfts,
                    exemplars,
                    models,
                ),
                strict=True,
            ):
                setter(update, value)
            append(update)
        return out


# A frozen dataclass's __init__ costs a __setattr__ per field (~3 us an update); set the slots directly.
_new = object.__new__
_UPDATE_SETTERS = tuple(getattr(SeriesUpdate, f.name).__set__ for f in fields(SeriesUpdate))
assert len(_UPDATE_SETTERS) == 12 and fields(SeriesUpdate)[-1].name == "unpriced_models", (
    "_updates sets SeriesUpdate's fields positionally: keep them in step"
)


def _opt_int(x: float) -> int | None:
    return None if x != x else int(x)


def _distributions(
    sid: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sparse histograms and count/sum/min/max per (series, metric) of ``values`` (metrics x calls)."""
    m, _n = values.shape
    sm = (sid[None, :] * _M + np.arange(m, dtype=np.int64)[:, None]).ravel()
    v = values.ravel()
    keep = ~np.isnan(v)
    if not keep.all():
        sm, v = sm[keep], v[keep]
    if len(v) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros((0, 4)), empty, empty
    key = (sm << _SHIFT) | biased_indices(v)
    order = np.argsort(key)
    key, v = key[order], v[order]
    hstarts = P.run_starts(key)
    hist_counts = np.diff(np.append(hstarts, len(key)))
    smk = key >> _SHIFT
    gstarts = P.run_starts(smk)
    stats = np.empty((len(gstarts), 4))
    stats[:, 0] = np.diff(np.append(gstarts, len(key)))
    stats[:, 1] = np.add.reduceat(v, gstarts)
    stats[:, 2] = np.minimum.reduceat(v, gstarts)
    stats[:, 3] = np.maximum.reduceat(v, gstarts)
    return smk[gstarts], stats, key[hstarts], hist_counts
