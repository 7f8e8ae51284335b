"""Read serialized ``ExportTraceServiceRequest`` bytes into plain Python values, fast.

``make_scanner(keys, n_trigger).scan(data)`` returns ``(span_count, resources, rows)``:

- ``span_count``: every span of the request, candidate or not;
- ``resources``: one list of ``len(keys)`` slot values per ``ResourceSpans`` (wire order), read
  from its ``resource.attributes`` (``None`` where absent);
- ``rows``: one tuple per *candidate* span (a span with an attribute whose key is one of the first
  ``n_trigger`` keys), in wire order: ``(resource_index, trace_id, span_id, parent_span_id,
  start_time_unix_nano, end_time_unix_nano, status_code, name, slots)``.

Slot values: string -> ``str``, bool -> ``bool``, int -> ``int``, double -> ``float``, bytes ->
``bytes``, array -> ``tuple`` (an element that is an array, a kvlist or empty is ``None``);
kvlist, ``string_value_strindex``, an empty ``AnyValue`` or a ``KeyValue`` without value ->
``None``. When a key appears twice the last ``KeyValue`` wins. Protobuf semantics throughout:
fields in any order, singular fields last-wins, singular sub-messages merged.

Two implementations return exactly the same values and reject exactly the same inputs (those that
upb's ``ParseFromString`` rejects: bad wire format, truncation, invalid UTF-8 in any string field of
the trace schema, nesting deeper than 100) with ``ValueError``: the C extension ``_spanscan``
(built from ``processor/src/spanscan.c``; faster than upb's ``ParseFromString`` alone and ~25x the
fallback, see ``bench/spanscan_speed.py``) and ``PyScanner``, pure Python over upb.
``make_scanner`` picks the native one unless it is not built or ``OTEL_LLM_PROCESSOR_PURE_PYTHON``
is set (to anything but ``""`` or ``"0"``) at import time. A scanner keeps scratch state: one
scan at a time per scanner (the GIL guarantees it; the native one raises ``RuntimeError`` if
re-entered). The native one also keeps a bounded cache of short ``str`` values (at most 1024).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = [
    "NATIVE",
    "PURE_PYTHON_ENV",
    "NativeScanner",
    "PyScanner",
    "ScanResult",
    "Scanner",
    "make_scanner",
    "plain_value",
]

PURE_PYTHON_ENV = "OTEL_LLM_PROCESSOR_PURE_PYTHON"

ScanResult = tuple[int, list[list[Any]], list[tuple[Any, ...]]]


def _check_keys(keys: Sequence[str], n_trigger: int) -> tuple[str, ...]:
    """The same argument checks (and exception types) as the native constructor."""
    if isinstance(keys, (str, bytes)):
        raise TypeError("keys must be a sequence of str, not a single string")
    out = tuple(keys)
    if not 0 <= n_trigger <= len(out):
        raise ValueError(f"n_trigger must be between 0 and len(keys) ({len(out)}), got {n_trigger}")
    seen: set[str] = set()
    for i, key in enumerate(out):
        if not isinstance(key, str):
            raise TypeError(f"keys[{i}] must be str, not {type(key).__name__}")
        key.encode()  # lone surrogates: UnicodeEncodeError, as in the native constructor
        if key in seen:
            raise ValueError(f"keys[{i}] is a duplicate: {key!r}")
        seen.add(key)
    return out


def _scalar(value: Any) -> Any:
    """An array element: scalars only (nested arrays, kvlists and empty values are None)."""
    kind = value.WhichOneof("value")
    if kind is None or kind in ("array_value", "kvlist_value", "string_value_strindex"):
        return None
    return getattr(value, kind)


def _attribute(kv: Any) -> Any:
    return plain_value(kv.value) if kv.HasField("value") else None


def plain_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` as the plain value both scanners give (see the module docstring)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_scalar(element) for element in value.array_value.values)
    if kind is None or kind in ("kvlist_value", "string_value_strindex"):
        return None
    return getattr(value, kind)


class PyScanner:
    """The pure-Python scanner: upb parses, Python walks. Same results as the native one."""

    __slots__ = ("_index", "_n_trigger", "keys")

    def __init__(self, keys: Sequence[str], n_trigger: int) -> None:
        self.keys = _check_keys(keys, n_trigger)
        self._n_trigger = n_trigger
        self._index = {key: i for i, key in enumerate(self.keys)}

    @property
    def n_trigger(self) -> int:
        return self._n_trigger

    def scan(self, data: bytes) -> ScanResult:
        request = ExportTraceServiceRequest()
        try:
            request.ParseFromString(data)
        except DecodeError as exc:
            raise ValueError(f"malformed ExportTraceServiceRequest: {exc}") from exc
        index, width, trigger = self._index, len(self.keys), self._n_trigger
        resources: list[list[Any]] = []
        rows: list[tuple[Any, ...]] = []
        span_count = 0
        for resource_index, resource_spans in enumerate(request.resource_spans):
            slots: list[Any] = [None] * width
            for kv in resource_spans.resource.attributes:
                i = index.get(kv.key)
                if i is not None:
                    slots[i] = _attribute(kv)
            resources.append(slots)
            for scope_spans in resource_spans.scope_spans:
                span_count += len(scope_spans.spans)
                for span in scope_spans.spans:
                    last: dict[int, Any] = {}
                    for kv in span.attributes:
                        i = index.get(kv.key)
                        if i is not None:
                            last[i] = kv
                    if not any(i < trigger for i in last):
                        continue
                    values: list[Any] = [None] * width
                    for i, kv in last.items():
                        values[i] = _attribute(kv)
                    rows.append(
                        (
                            resource_index,
                            span.trace_id,
                            span.span_id,
                            span.parent_span_id,
                            span.start_time_unix_nano,
                            span.end_time_unix_nano,
                            span.status.code,
                            span.name,
                            values,
                        )
                    )
        return span_count, resources, rows


def _load_native() -> Any:
    try:
        return importlib.import_module("otel_llm_processor.model._spanscan").Scanner
    except ImportError:  # not built (no C compiler at install time): the fallback serves
        return None


NativeScanner: Any = _load_native()

NATIVE: bool = NativeScanner is not None and os.environ.get(PURE_PYTHON_ENV, "") in ("", "0")

if TYPE_CHECKING:
    Scanner = PyScanner
else:
    Scanner = NativeScanner if NATIVE else PyScanner


def make_scanner(keys: Sequence[str], n_trigger: int) -> Scanner:
    """The native scanner when it is in use (``NATIVE``), else the pure-Python one."""
    return Scanner(keys, n_trigger)
