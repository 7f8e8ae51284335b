"""otel_llm_processor.otlpjson: OTLP/JSON (hex ids, int enums) <-> protobuf for all signals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_llm_processor.otlpjson import (
    OtlpJsonError,
    decode_logs,
    decode_metrics,
    decode_traces,
    encode_logs,
    encode_metrics,
    encode_traces,
)

TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
OTLP_DIR = Path(__file__).resolve().parent.parent / "testdata" / "otlp"


def traces_doc() -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "s"},
                        "spans": [
                            {
                                "traceId": TRACE_HEX,
                                "spanId": SPAN_HEX,
                                "parentSpanId": "",
                                "name": "chat m",
                                "kind": 3,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": 1544712661000000000,
                                "attributes": [
                                    {"key": "n", "value": {"intValue": "5"}},
                                    {"key": "b", "value": {"bytesValue": "AAE="}},
                                    {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}]}}},
                                ],
                                "links": [{"traceId": TRACE_HEX, "spanId": SPAN_HEX}],
                                "status": {"code": 2, "message": "boom"},
                                "someFutureField": {"ignored": True},
                            }
                        ],
                    }
                ],
            }
        ]
    }


def test_traces_decode_hex_ids_int64_strings_enums_and_ignore_unknown_fields() -> None:
    request = decode_traces(json.dumps(traces_doc()).encode())
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes.fromhex(TRACE_HEX) and span.span_id == bytes.fromhex(SPAN_HEX)
    assert span.parent_span_id == b"" and span.kind == 3 and span.status.code == 2
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (1544712660000000000, 1544712661000000000)
    assert span.attributes[0].value.int_value == 5 and span.attributes[1].value.bytes_value == b"\x00\x01"
    assert span.links[0].trace_id == bytes.fromhex(TRACE_HEX)


def test_traces_encode_round_trips_with_hex_ids_and_int_enums() -> None:
    request = decode_traces(traces_doc())
    text = encode_traces(request)
    doc = json.loads(text)
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == TRACE_HEX and span["spanId"] == SPAN_HEX and span["kind"] == 3
    assert span["status"]["code"] == 2 and span["attributes"][1]["value"]["bytesValue"] == "AAE="
    assert decode_traces(text) == request
    assert isinstance(request, ExportTraceServiceRequest)


def test_snake_case_keys_are_accepted() -> None:
    doc = {
        "resource_spans": [
            {"scope_spans": [{"spans": [{"trace_id": TRACE_HEX, "span_id": SPAN_HEX, "name": "x"}]}]}
        ]
    }
    assert decode_traces(doc).resource_spans[0].scope_spans[0].spans[0].trace_id == bytes.fromhex(TRACE_HEX)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b"\xff\xfe",
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz" * 16}]}]}]}).encode(),
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab"}]}]}]}).encode(),
        json.dumps(
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": {"not": "a string"}}]}]}]}
        ).encode(),
        json.dumps({"resourceSpans": "nope"}).encode(),
    ],
)
def test_malformed_bodies_raise_one_error_type(body: bytes) -> None:
    with pytest.raises(OtlpJsonError):
        decode_traces(body)


def test_metrics_with_exemplar_ids_round_trip() -> None:
    doc = {
        "resourceMetrics": [
            {
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "llm.duration",
                                "unit": "s",
                                "histogram": {
                                    "aggregationTemporality": 2,
                                    "dataPoints": [
                                        {
                                            "count": "2",
                                            "sum": 1.5,
                                            "bucketCounts": ["1", "1"],
                                            "explicitBounds": [1.0],
                                            "exemplars": [
                                                {"asDouble": 0.7, "traceId": TRACE_HEX, "spanId": SPAN_HEX}
                                            ],
                                        }
                                    ],
                                },
                            }
                        ]
                    }
                ]
            }
        ]
    }
    request = decode_metrics(doc)
    assert isinstance(request, ExportMetricsServiceRequest)
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0]
    assert (point.count, list(point.bucket_counts), point.exemplars[0].span_id) == (
        2,
        [1, 1],
        bytes.fromhex(SPAN_HEX),
    )
    assert request.resource_metrics[0].scope_metrics[0].metrics[0].histogram.aggregation_temporality == 2
    assert decode_metrics(encode_metrics(request)) == request
    assert (
        json.loads(encode_metrics(request))["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0][
            "histogram"
        ]["dataPoints"][0]["exemplars"][0]["traceId"]
        == TRACE_HEX
    )


def test_logs_round_trip() -> None:
    doc = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1",
                                "severityNumber": 5,
                                "eventName": "evaluation.result",
                                "traceId": TRACE_HEX,
                                "spanId": SPAN_HEX,
                                "body": {"stringValue": "hi"},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    request = decode_logs(json.dumps(doc))
    assert isinstance(request, ExportLogsServiceRequest)
    record = request.resource_logs[0].scope_logs[0].log_records[0]
    assert (record.severity_number, record.trace_id, record.event_name) == (
        5,
        bytes.fromhex(TRACE_HEX),
        "evaluation.result",
    )
    assert decode_logs(encode_logs(request)) == request


def test_every_committed_fixture_round_trips() -> None:
    for path in sorted(OTLP_DIR.glob("*.json")):
        request = decode_traces(path.read_bytes())
        assert decode_traces(encode_traces(request)) == request, path.name
