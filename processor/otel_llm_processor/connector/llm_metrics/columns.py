"""Spans -> :class:`~.aggregator.Columns` without an object per call (the connector's intake path).

:func:`~otel_llm_processor.model.llm_call.resolve_span` (the one dialect mapping) gives each LLM
span's fields as a tuple; duplicates recorded by two instrumentations are dropped
(:func:`~otel_llm_processor.model.dedup.dedup_calls`, on the few calls that share a trace); the
rest become columns. :class:`LlmCall` objects are built only for ``subscribe_calls`` subscribers.
Runs in the event loop's process or in a worker process (:mod:`.workers`): everything here is a
pure function of its arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from otel_llm import semconv as sc
from otel_llm_processor.connector.llm_metrics.aggregator import VALUES, Columns
from otel_llm_processor.model import dialects as d
from otel_llm_processor.model.dedup import dedup_calls
from otel_llm_processor.model.llm_call import (
    UNKNOWN_SERVICE,
    Row,
    make_call,
    resolve,
    resolve_span,
    service_name,
)
from otel_llm_processor.model.spanscan import Scanner, make_scanner

__all__ = [
    "Extracted",
    "columns_of_rows",
    "dedup_rows",
    "extract",
    "extract_raw",
    "rows_of_raw",
    "rows_of_request",
]

Extracted = tuple[Columns, list[Row] | None]


def rows_of_request(
    request: Any, dims: Sequence[str] = (), defaults: Sequence[str] = ()
) -> tuple[list[Row], list[tuple[str, ...]] | None]:
    """Every LLM call of an export request as a row (and its dimension values when ``dims``), in order."""
    rows: list[Row] = []
    append = rows.append
    dim_values: list[tuple[str, ...]] | None = [] if dims else None
    for rs in request.resource_spans:
        service = service_name(rs.resource)
        resource_values = attribute_values(rs.resource.attributes, dims) if dims else None
        for ss in rs.scope_spans:
            for span in ss.spans:
                row = resolve_span(span, service)
                if row is None:
                    continue
                append(row)
                if dim_values is not None and resource_values is not None:
                    span_values = attribute_values(span.attributes, dims)
                    dim_values.append(
                        tuple(
                            span_values.get(name) or resource_values.get(name) or default
                            for name, default in zip(dims, defaults, strict=True)
                        )
                    )
    return rows, dim_values


_SCANNERS: dict[tuple[str, ...], tuple[Scanner, int, tuple[int, ...]]] = {}


def _scanner(dims: tuple[str, ...]) -> tuple[Scanner, int, tuple[int, ...]]:
    """The scanner reading every slot, ``service.name`` and ``dims``; the index of each of the latter."""
    hit = _SCANNERS.get(dims)
    if hit is None:
        keys = list(d.SLOTS)  # slot order: SLOTS maps key -> 0, 1, 2 ...
        index = {k: i for i, k in enumerate(keys)}
        for name in (sc.SERVICE_NAME, *dims):
            if name not in index:
                index[name] = len(keys)
                keys.append(name)
        hit = (make_scanner(keys, d.N_SLOTS), index[sc.SERVICE_NAME], tuple(index[n] for n in dims))
        if len(_SCANNERS) < 16:
            _SCANNERS[dims] = hit
    return hit


def rows_of_raw(
    raw: bytes, dims: Sequence[str] = (), defaults: Sequence[str] = ()
) -> tuple[list[Row], list[tuple[str, ...]] | None]:
    """:func:`rows_of_request` straight from the serialized request (the native scanner when built)."""
    scanner, service_at, dim_at = _scanner(tuple(dims))
    _count, resources, found = scanner.scan(raw)
    services = [
        r[service_at] if r[service_at].__class__ is str and r[service_at] else UNKNOWN_SERVICE
        for r in resources
    ]
    rows: list[Row] = []
    append = rows.append
    dim_values: list[tuple[str, ...]] | None = [] if dims else None
    for ri, trace_id, span_id, parent, start, end, status, name, f in found:
        row = resolve(f, name, status, trace_id, span_id, parent, start, end, services[ri])
        if row is None:
            continue
        append(row)
        if dim_values is not None:
            res = resources[ri]
            dim_values.append(
                tuple(
                    _dim_str(f[i]) or _dim_str(res[i]) or default
                    for i, default in zip(dim_at, defaults, strict=True)
                )
            )
    return rows, dim_values


def _dim_str(v: Any) -> str:
    cls = v.__class__
    if cls is str:
        return str(v)
    if cls is bool:
        return "true" if v else "false"
    if cls is int or cls is float:
        return str(v)
    return ""


def dedup_rows(
    rows: list[Row], dim_values: list[tuple[str, ...]] | None
) -> tuple[list[Row], list[tuple[str, ...]] | None]:
    """:func:`dedup_calls` over rows: only calls that share a trace with another one are compared."""
    n = len(rows)
    if n < 2:
        return rows, dim_values
    traces = [r[0] for r in rows]
    if len(set(traces)) == n:
        return rows, dim_values
    seen: dict[bytes, int] = {}
    for t in traces:
        seen[t] = seen.get(t, 0) + 1
    shared = [i for i, t in enumerate(traces) if seen[t] > 1]
    calls = [make_call(rows[i]) for i in shared]
    kept = {id(c) for c in dedup_calls(calls)}
    dropped = {i for i, c in zip(shared, calls, strict=True) if id(c) not in kept}
    if not dropped:
        return rows, dim_values
    keep = [i for i in range(n) if i not in dropped]
    return [rows[i] for i in keep], None if dim_values is None else [dim_values[i] for i in keep]


def columns_of_rows(rows: Sequence[Row], dim_values: Sequence[tuple[str, ...]] | None = None) -> Columns:
    if dim_values is None:
        keys = [(r[5], r[6], r[9] or r[8], r[7], r[10]) for r in rows]
    else:
        keys = [(r[5], r[6], r[9] or r[8], r[7], r[10], *d) for r, d in zip(rows, dim_values, strict=True)]
    index: dict[tuple[str, ...], int] = {}
    key_of = [index.setdefault(k, len(index)) for k in keys]
    n = len(rows)
    values = (
        np.array([(r[4] - r[3], r[17], r[11], r[12], r[13], r[14], r[16]) for r in rows], dtype=object)
        .astype(np.float64)
        .reshape(n, len(VALUES))
        .T
    )
    return Columns(
        list(index),
        np.array(key_of, dtype=np.int64),
        np.ascontiguousarray(values),
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[4] for r in rows],
    )


def extract(request: Any, dims: Sequence[str], defaults: Sequence[str], want_rows: bool) -> Extracted:
    """The de-duplicated calls of a request as columns, plus their rows when asked (call subscribers)."""
    rows, dim_values = dedup_rows(*rows_of_request(request, dims, defaults))
    return columns_of_rows(rows, dim_values), rows if want_rows else None


def extract_raw(raw: bytes, dims: Sequence[str], defaults: Sequence[str], want_rows: bool) -> Extracted:
    """:func:`extract` from the serialized request."""
    rows, dim_values = dedup_rows(*rows_of_raw(raw, dims, defaults))
    return columns_of_rows(rows, dim_values), rows if want_rows else None


def attribute_values(attributes: Sequence[Any], names: Sequence[str]) -> dict[str, str]:
    """Values of the attributes named ``names``, as strings (string, int, double, bool values)."""
    wanted = set(names)
    out: dict[str, str] = {}
    for kv in attributes:
        if kv.key in wanted:
            value = kv.value
            kind = value.WhichOneof("value")
            if kind == "string_value":
                out[kv.key] = value.string_value
            elif kind in ("int_value", "double_value"):
                out[kv.key] = str(getattr(value, kind))
            elif kind == "bool_value":
                out[kv.key] = "true" if value.bool_value else "false"
    return out
