"""Translate the aggregated state (one :class:`Part`) into an OTLP ``ExportMetricsServiceRequest``.

One ``ResourceMetrics`` per service (resource attribute ``service.name``), one scope, and per
series: ``llm.calls``, ``llm.errors``, ``llm.tokens`` and ``llm.cost.usd`` sums, and the
``gen_ai.client.operation.duration``, ``gen_ai.client.operation.time_to_first_chunk`` and
``gen_ai.client.token.usage`` exponential histograms (exemplars on the duration points). Only
done at flush, never per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    ExponentialHistogramDataPoint,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
)

from otel_llm import semconv as sc
from otel_llm_processor import __version__
from otel_llm_processor.connector.llm_metrics import part as P
from otel_llm_processor.connector.llm_metrics.aggregator import Exemplar, SeriesRegistry
from otel_llm_processor.connector.llm_metrics.expohist import BIAS, ZERO, downscale

__all__ = ["SCOPE_NAME", "Snapshot", "build_request"]

SCOPE_NAME = "otel_llm_processor.llm_metrics"
_DURATION, _TTFT, _INPUT, _OUTPUT = (
    P.METRICS.index(m) for m in ("duration_s", "ttft_s", "input_tokens", "output_tokens")
)


_HISTOGRAMS: tuple[tuple[int, str, str, str, str | None], ...] = (
    (
        _DURATION,
        sc.METRIC_CLIENT_OPERATION_DURATION,
        sc.UNIT_SECONDS,
        "GenAI operation duration",
        None,
    ),
    (
        _TTFT,
        sc.METRIC_CLIENT_TIME_TO_FIRST_CHUNK,
        sc.UNIT_SECONDS,
        "Time to the first chunk of a streamed response",
        None,
    ),
    (
        _INPUT,
        sc.METRIC_CLIENT_TOKEN_USAGE,
        sc.UNIT_TOKEN,
        "Tokens used per call",
        sc.TOKEN_TYPE_INPUT,
    ),
    (
        _OUTPUT,
        sc.METRIC_CLIENT_TOKEN_USAGE,
        sc.UNIT_TOKEN,
        "Tokens used per call",
        sc.TOKEN_TYPE_OUTPUT,
    ),
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    part: P.Part
    time_ns: int
    start_ns: Sequence[int] | int  # per series id (cumulative) or one value (delta)
    cumulative: bool
    exemplars: Mapping[int, list[Exemplar]]
    max_buckets: int


def _kv(key: str, value: str | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _attributes(registry: SeriesRegistry, sid: int) -> list[KeyValue]:
    if registry.is_overflow(sid):
        return [_kv(sc.OTEL_METRIC_OVERFLOW, True)]
    key = registry.keys[sid]
    attrs = [
        _kv(sc.GEN_AI_OPERATION_NAME, key[3]),
        _kv(sc.GEN_AI_PROVIDER_NAME, key[1]),
        _kv(sc.GEN_AI_REQUEST_MODEL, key[2]),
    ]
    if key[4]:
        attrs.append(_kv(sc.ERROR_TYPE, key[4]))
    attrs.extend(_kv(name, value) for name, value in zip(registry.label_names[5:], key[5:], strict=True))
    return attrs


class _Resource:
    """The metrics of one resource, created on first use in a fixed order."""

    def __init__(self, rm: ResourceMetrics, cumulative: bool) -> None:
        self.scope = rm.scope_metrics.add(scope=InstrumentationScope(name=SCOPE_NAME, version=__version__))
        self.metrics: dict[str, Metric] = {}
        self.temporality = (
            AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
            if cumulative
            else AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
        )

    def sum(self, name: str, unit: str, description: str) -> Metric:
        metric = self.metrics.get(name)
        if metric is None:
            metric = self.metrics[name] = self.scope.metrics.add(
                name=name, unit=unit, description=description
            )
            metric.sum.is_monotonic = True
            metric.sum.aggregation_temporality = self.temporality
        return metric

    def histogram(self, name: str, unit: str, description: str) -> Metric:
        metric = self.metrics.get(name)
        if metric is None:
            metric = self.metrics[name] = self.scope.metrics.add(
                name=name, unit=unit, description=description
            )
            metric.exponential_histogram.aggregation_temporality = self.temporality
        return metric


def build_request(registry: SeriesRegistry, snap: Snapshot) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    part = snap.part
    resources: dict[str, _Resource] = {}
    stat_index = {int(k): i for i, k in enumerate(part.stat_keys.tolist())}
    hist_sm = part.hist_keys >> P.BUCKET_BITS
    for row, sid in zip(part.counters.tolist(), part.series.tolist(), strict=True):
        service = "" if registry.is_overflow(sid) else registry.keys[sid][0]
        res = resources.get(service)
        if res is None:
            rm = request.resource_metrics.add()
            if service:
                rm.resource.attributes.append(_kv(sc.SERVICE_NAME, service))
            res = resources[service] = _Resource(rm, snap.cumulative)
        start = snap.start_ns if isinstance(snap.start_ns, int) else snap.start_ns[sid]
        attrs = _attributes(registry, sid)

        pt = _PointArgs(attrs, start, snap.time_ns)
        _sums(res, pt, row)
        _histograms(res, pt, snap, sid, stat_index, hist_sm)
    return request


def _sums(res: _Resource, pt: _PointArgs, row: list[float]) -> None:
    _number(pt, res.sum(sc.METRIC_LLM_CALLS, sc.UNIT_CALL, "LLM calls"), row[P.CALLS])
    if row[P.ERRORS]:
        _number(pt, res.sum(sc.METRIC_LLM_ERRORS, sc.UNIT_CALL, "LLM calls that failed"), row[P.ERRORS])
    tokens = res.sum(sc.METRIC_LLM_TOKENS, sc.UNIT_TOKEN, "Tokens of LLM calls by gen_ai.token.type")
    for col, token_type, always in (
        (P.INPUT, sc.TOKEN_TYPE_INPUT, True),
        (P.OUTPUT, sc.TOKEN_TYPE_OUTPUT, True),
        (P.CACHE_READ, sc.TOKEN_TYPE_CACHE_READ, False),
        (P.CACHE_CREATION, sc.TOKEN_TYPE_CACHE_CREATION, False),
    ):
        if always or row[col]:
            _number(pt, tokens, row[col], _kv(sc.GEN_AI_TOKEN_TYPE, token_type))
    if row[P.PRICED]:
        _number(
            pt,
            res.sum(sc.METRIC_LLM_COST, sc.UNIT_USD, "Cost of LLM calls in US dollars"),
            row[P.COST],
            as_int=False,
        )


def _histograms(
    res: _Resource, pt: _PointArgs, snap: Snapshot, sid: int, stat_index: dict[int, int], hist_sm: np.ndarray
) -> None:
    part = snap.part
    for metric_index, name, unit, description, hist_token_type in _HISTOGRAMS:
        sm = sid * (1 << P.METRIC_BITS) + metric_index
        i = stat_index.get(sm)
        if i is None:
            continue
        count, total, vmin, vmax = part.stats[i].tolist()
        lo, hi = np.searchsorted(hist_sm, [sm, sm + 1])
        point = res.histogram(name, unit, description).exponential_histogram.data_points.add(
            start_time_unix_nano=pt.start_ns,
            time_unix_nano=snap.time_ns,
            count=int(count),
            sum=total,
            min=vmin,
            max=vmax,
        )
        point.attributes.extend(pt.attributes)
        if hist_token_type is not None:
            point.attributes.append(_kv(sc.GEN_AI_TOKEN_TYPE, hist_token_type))
        _fill_buckets(point, part.hist_keys[lo:hi], part.hist_counts[lo:hi], snap.max_buckets)
        if metric_index == _DURATION:
            for ex in snap.exemplars.get(sid, ()):
                point.exemplars.add(
                    time_unix_nano=ex.time_ns,
                    as_double=ex.value,
                    trace_id=ex.trace_id,
                    span_id=ex.span_id,
                )


@dataclass(frozen=True, slots=True)
class _PointArgs:
    attributes: list[KeyValue]
    start_ns: int
    time_ns: int


def _number(
    pt: _PointArgs, metric: Metric, value: float, extra: KeyValue | None = None, as_int: bool = True
) -> None:
    point: NumberDataPoint = metric.sum.data_points.add(
        start_time_unix_nano=pt.start_ns, time_unix_nano=pt.time_ns
    )
    point.attributes.extend(pt.attributes)
    if extra is not None:
        point.attributes.append(extra)
    if as_int:
        point.as_int = round(value)
    else:
        point.as_double = value


def _fill_buckets(
    point: ExponentialHistogramDataPoint, keys: np.ndarray, counts: np.ndarray, max_buckets: int
) -> None:
    biased = keys & ((1 << P.BUCKET_BITS) - 1)
    zero = biased == ZERO
    if zero.any():
        point.zero_count = int(counts[zero].sum())
        biased, counts = biased[~zero], counts[~zero]
    scale, offset, dense = downscale(biased - BIAS, counts, max_buckets)
    point.scale = scale
    if len(dense):
        point.positive.offset = offset
        point.positive.bucket_counts.extend(dense.tolist())
