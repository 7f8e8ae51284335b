"""The latest cumulative state of every metric series received, ready to render as Prometheus.

Cumulative points replace the stored state; delta points are added to it. Exponential histograms
become classic histograms with explicit bucket bounds chosen by unit (the Prometheus text format
cannot carry native histograms): each exponential bucket is counted in the explicit bucket that
holds its geometric middle, exact whenever an explicit bound does not cut through it (bounds that
are powers of two never do; others are off by at most one exponential bucket, < 1.1 % of the value).

Bounded: at most ``max_series`` series (new ones beyond are dropped and counted); series not
updated for ``expiration`` seconds are removed. A lock guards the state, because prometheus-client's
HTTP server collects from its own thread.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from otel_llm_processor.exporter.prometheus.naming import label_name, metric_name

__all__ = ["Family", "HistogramState", "MetricsStore", "StoredExemplar"]

_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class StoredExemplar:
    trace_id: str  # hex
    span_id: str  # hex
    value: float
    time_s: float


@dataclass(slots=True)
class HistogramState:
    counts: np.ndarray  # per explicit bucket (len(bounds) + 1), not cumulative
    sum: float
    count: int
    exemplars: dict[int, StoredExemplar] = field(default_factory=dict)  # bucket -> latest


_Value = float | HistogramState | tuple[float, float, list[tuple[float, float]]]


@dataclass(slots=True)
class _Series:
    value: _Value
    updated: float
    exemplar: StoredExemplar | None = None


@dataclass(slots=True)
class Family:
    name: str  # Prometheus family name (no _total)
    kind: str  # counter | gauge | histogram | summary
    unit: str  # Prometheus unit suffix, "" if none
    help: str
    bounds: tuple[float, ...] = ()
    series: dict[Labels, _Series] = field(default_factory=dict)


def _value_text(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind in ("int_value", "double_value"):
        return str(getattr(value, kind))
    if kind == "array_value":
        return json.dumps([_value_text(v) for v in value.array_value.values])
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return ""


def _labels(attributes: Sequence[KeyValue], base: Mapping[str, str]) -> Labels:
    out = dict(base)
    for kv in attributes:
        out[label_name(kv.key)] = _value_text(kv.value)
    return tuple(sorted(out.items()))


def _resource_labels(attributes: Sequence[KeyValue]) -> dict[str, str]:
    attrs = {kv.key: _value_text(kv.value) for kv in attributes}
    out: dict[str, str] = {}
    service = attrs.get("service.name")
    if service:
        namespace = attrs.get("service.namespace")
        out["job"] = f"{namespace}/{service}" if namespace else service
    instance = attrs.get("service.instance.id")
    if instance:
        out["instance"] = instance
    return out


class MetricsStore:
    def __init__(
        self,
        buckets_for_unit: Callable[[str], Sequence[float]],
        max_series: int = 100_000,
        expiration: float = 300.0,
        namespace: str = "",
        clock: Callable[[], float] = time.monotonic,
        on_drop: Callable[[str, int], None] | None = None,
    ) -> None:
        self._buckets_for_unit = buckets_for_unit
        self._max_series = max_series
        self._expiration = expiration
        self._namespace = namespace
        self._clock = clock
        self._on_drop = on_drop or (lambda reason, n: None)
        self._families: dict[str, Family] = {}
        self._count = 0
        self._lock = threading.Lock()

    @property
    def series_count(self) -> int:
        return self._count

    # -- ingest ------------------------------------------------------------------------------
    def add(self, request: ExportMetricsServiceRequest) -> None:
        now = self._clock()
        with self._lock:
            for rm in request.resource_metrics:
                base = _resource_labels(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        self._add_metric(metric, base, now)

    def _family(self, metric: Metric, kind: str, bounds: tuple[float, ...] = ()) -> Family | None:
        name, unit = metric_name(metric.name, metric.unit, kind, self._namespace)
        full = f"{name}_{unit}" if unit else name
        family = self._families.get(full)
        if family is None:
            family = Family(
                name=full, kind=kind, unit=unit, help=metric.description or metric.name, bounds=bounds
            )
            self._families[full] = family
        elif family.kind != kind:
            self._on_drop("type_conflict", 1)
            return None
        return family

    def _lookup(self, family: Family, labels: Labels) -> tuple[bool, _Series | None]:
        """(admitted, existing series); a new series beyond ``max_series`` is not admitted."""
        series = family.series.get(labels)
        if series is None and self._count >= self._max_series:
            self._on_drop("series_limit", 1)
            return False, None
        return True, series

    def _add_metric(self, metric: Metric, base: Mapping[str, str], now: float) -> None:
        kind = metric.WhichOneof("data")
        if kind == "sum":
            fam_kind = "counter" if metric.sum.is_monotonic else "gauge"
            family = self._family(metric, fam_kind)
            delta = metric.sum.aggregation_temporality == _DELTA
            for p in metric.sum.data_points:
                self._number(family, _labels(p.attributes, base), p, delta, now)
        elif kind == "gauge":
            family = self._family(metric, "gauge")
            for p in metric.gauge.data_points:
                self._number(family, _labels(p.attributes, base), p, False, now)
        elif kind == "histogram":
            delta = metric.histogram.aggregation_temporality == _DELTA
            for hp in metric.histogram.data_points:
                bounds = tuple(hp.explicit_bounds)
                family = self._family(metric, "histogram", bounds)
                if family is None:
                    continue
                if family.bounds != bounds:
                    self._on_drop("bounds_conflict", 1)
                    continue
                counts = np.zeros(len(bounds) + 1, dtype=np.int64)
                counts[: len(hp.bucket_counts)] = list(hp.bucket_counts)[: len(counts)]
                self._histogram(
                    family, _labels(hp.attributes, base), counts, hp.sum, hp.count, hp.exemplars, delta, now
                )
        elif kind == "exponential_histogram":
            bounds = tuple(float(b) for b in self._buckets_for_unit(metric.unit))
            family = self._family(metric, "histogram", bounds)
            if family is None:
                return
            delta = metric.exponential_histogram.aggregation_temporality == _DELTA
            for ep in metric.exponential_histogram.data_points:
                counts = _explicit_counts(ep, family.bounds)
                self._histogram(
                    family, _labels(ep.attributes, base), counts, ep.sum, ep.count, ep.exemplars, delta, now
                )
        elif kind == "summary":
            family = self._family(metric, "summary")
            if family is None:
                return
            for sp in metric.summary.data_points:
                labels = _labels(sp.attributes, base)
                admitted, series = self._lookup(family, labels)
                if not admitted:
                    continue
                value = (float(sp.count), sp.sum, [(q.quantile, q.value) for q in sp.quantile_values])
                self._put(family, labels, series, value, now)

    def _put(
        self, family: Family, labels: Labels, series: _Series | None, value: _Value, now: float
    ) -> _Series:
        if series is None:
            series = _Series(value, now)
            family.series[labels] = series
            self._count += 1
        else:
            series.value = value
            series.updated = now
        return series

    def _number(self, family: Family | None, labels: Labels, point: object, delta: bool, now: float) -> None:
        if family is None:
            return
        admitted, series = self._lookup(family, labels)
        if not admitted:
            return
        value = point.as_double if point.WhichOneof("value") == "as_double" else float(point.as_int)  # type: ignore[attr-defined]
        if delta and series is not None and isinstance(series.value, float):
            value += series.value
        series = self._put(family, labels, series, value, now)
        exemplars = point.exemplars  # type: ignore[attr-defined]
        if len(exemplars):
            series.exemplar = _exemplar(exemplars[-1])

    def _histogram(
        self,
        family: Family,
        labels: Labels,
        counts: np.ndarray,
        total: float,
        count: int,
        exemplars: Sequence[object],
        delta: bool,
        now: float,
    ) -> None:
        admitted, series = self._lookup(family, labels)
        if not admitted:
            return
        old = series.value if series is not None and isinstance(series.value, HistogramState) else None
        if delta and old is not None:
            state = HistogramState(
                old.counts + counts, old.sum + total, old.count + count, dict(old.exemplars)
            )
        else:
            state = HistogramState(counts, total, count, dict(old.exemplars) if old is not None else {})
        bounds = np.asarray(family.bounds)
        for ex in exemplars:
            stored = _exemplar(ex)
            state.exemplars[int(np.searchsorted(bounds, stored.value, side="left"))] = stored
        self._put(family, labels, series, state, now)

    # -- read --------------------------------------------------------------------------------
    def expire(self) -> int:
        """Drop series not updated for ``expiration`` seconds; returns how many."""
        if self._expiration <= 0:
            return 0
        cutoff = self._clock() - self._expiration
        removed = 0
        with self._lock:
            for name in list(self._families):
                family = self._families[name]
                stale = [k for k, s in family.series.items() if s.updated < cutoff]
                for k in stale:
                    del family.series[k]
                removed += len(stale)
                if not family.series:
                    del self._families[name]
            self._count -= removed
        return removed

    def snapshot(self) -> Iterator[tuple[Family, list[tuple[Labels, _Series]]]]:
        with self._lock:
            items = [(f, list(f.series.items())) for f in self._families.values()]
        yield from items


def _exemplar(ex: object) -> StoredExemplar:
    value = ex.as_double if ex.WhichOneof("value") == "as_double" else float(ex.as_int)  # type: ignore[attr-defined]
    return StoredExemplar(ex.trace_id.hex(), ex.span_id.hex(), value, ex.time_unix_nano / 1e9)  # type: ignore[attr-defined]


def _explicit_counts(point: object, bounds: tuple[float, ...]) -> np.ndarray:
    """Counts per explicit bucket of an OTLP exponential histogram point."""
    b = np.asarray(bounds, dtype=np.float64)
    out = np.zeros(len(b) + 1, dtype=np.int64)
    zero_and_negative = point.zero_count + sum(point.negative.bucket_counts)  # type: ignore[attr-defined]
    if zero_and_negative:
        out[int(np.searchsorted(b, 0.0, side="left"))] += zero_and_negative
    counts = np.asarray(point.positive.bucket_counts, dtype=np.int64)  # type: ignore[attr-defined]
    if len(counts):
        index = point.positive.offset + np.arange(len(counts))  # type: ignore[attr-defined]
        middles = np.exp2((index + 0.5) * 2.0**-point.scale)  # type: ignore[attr-defined]
        out += np.bincount(
            np.searchsorted(b, middles, side="left"), weights=counts, minlength=len(out)
        ).astype(np.int64)
    return out
