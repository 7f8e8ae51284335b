"""OTLP/JSON <-> OTLP protobuf for traces, metrics and logs.

OTLP/JSON is the proto3 JSON mapping with these differences (OTLP spec): ``traceId``, ``spanId``
and ``parentSpanId`` (and the ids of links, log records and exemplars) are hex strings, not base64;
enums are integers. Decoding accepts lowerCamelCase and snake_case keys, int64 as string or number,
and ignores unknown fields; malformed input raises :class:`OtlpJsonError` (a ``ValueError``).
Encoding writes lowerCamelCase keys, hex ids and integer enums.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = [
    "OtlpJsonError",
    "decode_logs",
    "decode_metrics",
    "decode_traces",
    "encode_logs",
    "encode_metrics",
    "encode_traces",
    "to_dict",
]

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_ID_LENGTHS = {"traceId": 32, "trace_id": 32}  # spans ids: 16 hex characters

M = TypeVar("M", bound=Message)


class OtlpJsonError(ValueError):
    """The body is not valid OTLP/JSON (bad JSON, wrong shape, malformed id)."""


def decode_traces(data: bytes | str | dict[str, Any]) -> ExportTraceServiceRequest:
    return _decode(data, ExportTraceServiceRequest())


def decode_metrics(data: bytes | str | dict[str, Any]) -> ExportMetricsServiceRequest:
    return _decode(data, ExportMetricsServiceRequest())


def decode_logs(data: bytes | str | dict[str, Any]) -> ExportLogsServiceRequest:
    return _decode(data, ExportLogsServiceRequest())


def encode_traces(request: ExportTraceServiceRequest, indent: int | None = None) -> bytes:
    return _encode(request, indent)


def encode_metrics(request: ExportMetricsServiceRequest, indent: int | None = None) -> bytes:
    return _encode(request, indent)


def encode_logs(request: ExportLogsServiceRequest, indent: int | None = None) -> bytes:
    return _encode(request, indent)


def to_dict(message: Message) -> dict[str, Any]:
    """The OTLP/JSON object of a message (hex ids, integer enums, lowerCamelCase keys)."""
    obj = json_format.MessageToDict(message, use_integers_for_enums=True)
    _ids_to_hex(obj)
    return obj


def _decode(data: bytes | str | dict[str, Any], message: M) -> M:
    if isinstance(data, dict):
        obj: Any = json.loads(json.dumps(data))  # deep copy: ids are rewritten in place
    else:
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OtlpJsonError(f"invalid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise OtlpJsonError("OTLP/JSON body must be a JSON object")
    _ids_to_base64(obj)
    try:
        json_format.ParseDict(obj, message, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise OtlpJsonError(f"invalid OTLP/JSON: {exc}") from exc
    return message


def _encode(message: Message, indent: int | None) -> bytes:
    return json.dumps(to_dict(message), indent=indent).encode()


def _ids_to_base64(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = _hex_to_base64(key, value)
            elif isinstance(value, (dict, list)):
                _ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _ids_to_base64(item)


def _hex_to_base64(key: str, value: str) -> str:
    if not value:
        return ""
    expected = _ID_LENGTHS.get(key, 16)
    if len(value) != expected:
        raise OtlpJsonError(f"{key}: expected {expected} hex characters, got {len(value)}")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise OtlpJsonError(f"{key}: not hex: {value!r}") from exc
    return base64.b64encode(raw).decode("ascii")


def _ids_to_hex(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                with contextlib.suppress(binascii.Error, ValueError):  # not ours to fix: leave as is
                    node[key] = base64.b64decode(value).hex()
            elif isinstance(value, (dict, list)):
                _ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _ids_to_hex(item)
