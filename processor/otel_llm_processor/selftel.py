"""Self-telemetry: the service's own counts per component (accepted, refused, dropped, queued...).

Cheap enough for hot paths (a dict update under the GIL, no lock, no allocation after the first
call for a key). Rendered on ``/metrics`` by the Prometheus exporter as
``otel_llm_processor_<name>_total{component="<id>", ...}`` for counters and without ``_total``
for gauges. Names are snake_case nouns of what is counted: ``spans_accepted``, ``spans_refused``,
``spans_dropped``, ``queue_size``, ``spans_exported``, ``series_overflow`` ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Sample", "SelfTelemetry"]

LabelKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    kind: str  # "counter" | "gauge"
    component: str
    labels: LabelKey
    value: float


class SelfTelemetry:
    """Counters and gauges keyed by (name, component, labels). Bounded by the code's own keys."""

    MAX_KEYS = 10_000  # labels are low-cardinality by construction; this is a safety net

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, LabelKey], float] = {}
        self._gauges: dict[tuple[str, str, LabelKey], float] = {}
        self._help: dict[str, str] = {}

    def describe(self, name: str, help_text: str) -> None:
        self._help[name] = help_text

    def help(self, name: str) -> str:
        return self._help.get(name, name.replace("_", " "))

    def add(self, component: str, name: str, value: float = 1.0, **labels: str) -> None:
        key = (name, component, tuple(sorted(labels.items())) if labels else ())
        counters = self._counters
        if key in counters:
            counters[key] += value
        elif len(counters) < self.MAX_KEYS:
            counters[key] = value

    def set(self, component: str, name: str, value: float, **labels: str) -> None:
        key = (name, component, tuple(sorted(labels.items())) if labels else ())
        if key in self._gauges or len(self._gauges) < self.MAX_KEYS:
            self._gauges[key] = value

    def counter(self, component: str, name: str, **labels: str) -> float:
        return self._counters.get((name, component, tuple(sorted(labels.items()))), 0.0)

    def gauge(self, component: str, name: str, **labels: str) -> float:
        return self._gauges.get((name, component, tuple(sorted(labels.items()))), 0.0)

    def samples(self) -> Iterator[Sample]:
        for (name, component, labels), value in list(self._counters.items()):
            yield Sample(name, "counter", component, labels, value)
        for (name, component, labels), value in list(self._gauges.items()):
            yield Sample(name, "gauge", component, labels, value)
