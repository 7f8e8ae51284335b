"""Load OTLP/JSON trace files (test fixtures, recorded traffic, ``backtest`` input)."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_llm_processor.otlpjson import decode_traces, encode_traces

__all__ = ["dump_otlp_json", "load_otlp_json"]


def load_otlp_json(path: str | Path) -> ExportTraceServiceRequest:
    """One ``ExportTraceServiceRequest`` from an OTLP/JSON file (hex ids)."""
    return decode_traces(Path(path).read_bytes())


def dump_otlp_json(request: ExportTraceServiceRequest, path: str | Path) -> None:
    """Write a request as indented OTLP/JSON (stable, reviewable fixtures)."""
    Path(path).write_bytes(encode_traces(request, indent=1) + b"\n")
