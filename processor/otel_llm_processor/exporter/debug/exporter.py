"""Logs one line per batch (``basic``) or the batch itself (``detailed``), and counts it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from google.protobuf import text_format

from otel_llm_processor.component import Host, LogsBatch, MetricsBatch, TracesBatch

__all__ = ["DebugExporter"]

_log = logging.getLogger("otel_llm_processor.exporter.debug")


class DebugExporter:
    def __init__(self, component: str, telemetry: Any, config: Any) -> None:
        self._component = component
        self._telemetry = telemetry
        self._detailed = config.verbosity == "detailed"

    async def start(self, host: Host) -> None:
        return None

    async def shutdown(self, deadline: float) -> None:
        return None

    def _emit(self, what: str, count: int, resources: int, request: Any) -> None:
        self._telemetry.add(self._component, f"{what}_exported", count)
        _log.info("%s: %d %s in %d resource(s)", self._component, count, what, resources)
        if self._detailed:
            _log.info("%s", text_format.MessageToString(request, as_utf8=True))

    async def consume_traces(self, batch: TracesBatch) -> None:
        request = batch.request
        count = batch.span_count or sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        self._emit("spans", count, len(request.resource_spans), request)

    async def consume_metrics(self, batch: MetricsBatch) -> None:
        self._emit("metric_points", batch.point_count, len(batch.request.resource_metrics), batch.request)

    async def consume_logs(self, batch: LogsBatch) -> None:
        self._emit("log_records", batch.record_count, len(batch.request.resource_logs), batch.request)

    async def consume_alerts(self, events: Sequence[Any]) -> None:
        self._telemetry.add(self._component, "alerts_exported", len(events))
        for event in events:
            _log.info(
                "%s: alert %s %s [%s] %s",
                self._component,
                getattr(event, "rule", "?"),
                getattr(event, "state", "?"),
                getattr(event, "severity", "?"),
                getattr(event, "summary", ""),
            )
