"""In-memory traces and metrics for tests: ``Telemetry()`` bundles a TracerProvider with an
InMemorySpanExporter and a MeterProvider with an InMemoryMetricReader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["Telemetry", "attributes_of", "metric_points"]


@dataclass
class Telemetry:
    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)
    tracer_provider: TracerProvider = field(init=False)
    meter_provider: MeterProvider = field(init=False)

    def __post_init__(self) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self) -> ReadableSpan:
        """The only finished span (fails when there are zero or several)."""
        spans = self.spans()
        assert len(spans) == 1, f"expected exactly one span, got {[s.name for s in spans]}"
        return spans[0]

    def clear(self) -> None:
        self.exporter.clear()

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        return metric_points(self.reader, name)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def attributes_of(span: ReadableSpan) -> dict[str, Any]:
    """Span attributes as a plain dict (sequences as lists), for exact equality asserts."""
    out: dict[str, Any] = {}
    for key, value in (span.attributes or {}).items():
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def metric_points(reader: InMemoryMetricReader, name: str) -> list[tuple[dict[str, Any], Any]]:
    """(attributes, point) for every data point of metric ``name`` collected now."""
    data = reader.get_metrics_data()
    found: list[tuple[dict[str, Any], Any]] = []
    if data is None:
        return found
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:
                    attrs: Mapping[str, Any] = point.attributes or {}
                    found.append((dict(attrs), point))
    return found
