"""A prometheus-client custom ``Collector`` over the :class:`MetricsStore` and the self-telemetry.

Families come out in the order they were first seen; histograms as classic ``_bucket{le}``,
``_sum`` and ``_count`` with OpenMetrics exemplars (``trace_id``, ``span_id``) on the buckets;
self-telemetry as ``otel_llm_processor_<name>_total{component=...}`` (counters) or without
``_total`` (gauges).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.samples import Exemplar, Sample
from prometheus_client.utils import floatToGoString

from otel_llm_processor.exporter.prometheus.naming import label_name
from otel_llm_processor.exporter.prometheus.store import HistogramState, MetricsStore, StoredExemplar

__all__ = ["SELF_PREFIX", "StoreCollector"]

SELF_PREFIX = "otel_llm_processor_"


def _exemplar(ex: StoredExemplar | None) -> Exemplar | None:
    if ex is None:
        return None
    return Exemplar({"trace_id": ex.trace_id, "span_id": ex.span_id}, ex.value, ex.time_s)


class StoreCollector:
    """``collect()`` renders the store's current state; ``telemetry`` may be ``None``."""

    def __init__(
        self, store: MetricsStore, telemetry: Any | None, before_collect: Callable[[], None] | None = None
    ) -> None:
        self._store = store
        self._telemetry = telemetry
        self._before_collect = before_collect

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: families vary with the data

    def collect(self) -> Iterator[Metric]:
        if self._before_collect is not None:
            self._before_collect()
        for family, series in self._store.snapshot():
            if not series:
                continue
            if family.kind == "histogram":
                yield self._histogram(family.name, family.help, family.unit, family.bounds, series)
                continue
            unit = family.unit if family.name.endswith(f"_{family.unit}") else ""
            base = family.name
            metric = Metric(base, family.help, family.kind, unit=unit)
            for labels, s in series:
                if family.kind == "summary":
                    count, total, quantiles = s.value  # type: ignore[misc]
                    for q, v in quantiles:
                        metric.add_sample(base, {**dict(labels), "quantile": floatToGoString(q)}, v)
                    metric.add_sample(f"{base}_sum", dict(labels), total)
                    metric.add_sample(f"{base}_count", dict(labels), count)
                    continue
                name = f"{base}_total" if family.kind == "counter" else base
                ex = _exemplar(s.exemplar) if family.kind == "counter" else None
                metric.samples.append(Sample(name, dict(labels), float(s.value), None, ex))  # type: ignore[arg-type]
            yield metric
        if self._telemetry is not None:
            yield from self._self_telemetry()

    @staticmethod
    def _histogram(
        name: str, help_text: str, unit: str, bounds: tuple[float, ...], series: list[Any]
    ) -> Metric:
        family = HistogramMetricFamily(name, help_text, unit=unit if name.endswith(f"_{unit}") else "")
        les = [floatToGoString(b) for b in bounds] + ["+Inf"]
        for labels, s in series:
            state: HistogramState = s.value
            cumulative = state.counts.cumsum().tolist()
            label_map = dict(labels)
            for i, (le, value) in enumerate(zip(les, cumulative, strict=True)):
                ex = _exemplar(state.exemplars.get(i))
                family.samples.append(
                    Sample(f"{family.name}_bucket", {**label_map, "le": le}, float(value), None, ex)
                )
            family.samples.append(Sample(f"{family.name}_count", label_map, float(state.count)))
            family.samples.append(Sample(f"{family.name}_sum", label_map, state.sum))
        return family

    def _self_telemetry(self) -> Iterator[Metric]:
        telemetry: Any = self._telemetry
        families: dict[tuple[str, str], Metric] = {}
        for sample in telemetry.samples():
            name = f"{SELF_PREFIX}{sample.name}"
            key = (name, sample.kind)
            metric = families.get(key)
            if metric is None:
                metric = families[key] = Metric(name, telemetry.help(sample.name), sample.kind)
            labels = {"component": sample.component, **{label_name(k): v for k, v in sample.labels}}
            metric.add_sample(f"{name}_total" if sample.kind == "counter" else name, labels, sample.value)
        yield from families.values()
