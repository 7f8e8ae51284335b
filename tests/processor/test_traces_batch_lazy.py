"""TracesBatch parses its bytes only when a consumer asks for the request (scanner-validated intake)."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_llm_processor.component import Signal, TracesBatch
from otel_llm_processor.model.spanscan import NATIVE
from otel_llm_processor.receiver.otlp.config import QueueConfig
from otel_llm_processor.receiver.otlp.intake import KINDS, Intake, Refused, _Checked
from otel_llm_processor.selftel import SelfTelemetry


def request(spans: int) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i in range(spans):
        scope.spans.add(name=f"s{i}", span_id=bytes([i + 1]) * 8, trace_id=b"t" * 16)
    return req


def test_request_is_parsed_from_raw_on_first_access_and_cached() -> None:
    req = request(3)
    batch = TracesBatch(raw=req.SerializeToString(), span_count=3)
    assert batch._request is None
    assert batch.request == req
    assert batch.request is batch.request
    replaced = batch.replace(ExportTraceServiceRequest())
    assert (replaced.raw, replaced.span_count, replaced.received_at) == (
        batch.raw,
        batch.span_count,
        batch.received_at,
    )
    assert len(replaced.request.resource_spans) == 0
    with pytest.raises(ValueError, match="request or its bytes"):
        TracesBatch()


@pytest.mark.skipif(not NATIVE, reason="the native span scanner is not built")
def test_intake_validates_and_counts_trace_bytes_without_parsing_them() -> None:
    intake = Intake("otlp", SelfTelemetry(), QueueConfig(), {Signal.TRACES: object()})
    data = request(5).SerializeToString()
    checked = intake.parse(Signal.TRACES, data, "grpc")
    assert isinstance(checked, _Checked)
    kind = KINDS[Signal.TRACES]
    assert kind.count(checked) == 5
    batch = kind.batch(checked, data, 5)
    assert batch._request is None and batch.request == request(5)
    with pytest.raises(Refused, match="cannot parse protobuf"):
        intake.parse(Signal.TRACES, data[:-3], "grpc")
