"""In-memory traces, metrics and logs for tests: ``Telemetry()`` bundles a TracerProvider with an
InMemorySpanExporter, a MeterProvider with an InMemoryMetricReader and a LoggerProvider with an
InMemoryLogRecordExporter (GenAI events)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
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
    log_exporter: InMemoryLogRecordExporter = field(default_factory=InMemoryLogRecordExporter)
    tracer_provider: TracerProvider = field(init=False)
    meter_provider: MeterProvider = field(init=False)
    logger_provider: LoggerProvider = field(init=False)

    def __post_init__(self) -> None:
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self) -> ReadableSpan:
        """The only finished span (fails when there are zero or several)."""
        spans = self.spans()
        assert len(spans) == 1, f"expected exactly one span, got {[s.name for s in spans]}"
        return spans[0]

    def logs(self) -> list[ReadableLogRecord]:
        """Every log record emitted so far (GenAI events), in order."""
        return list(self.log_exporter.get_finished_logs())

    def clear(self) -> None:
        self.exporter.clear()
        self.log_exporter.clear()

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        return metric_points(self.reader, name)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()


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
