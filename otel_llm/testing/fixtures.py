"""OTLP/JSON fixtures of our spans, shared by the instrumentation tests that write them and the
processor tests that read them (tests/testdata/otlp/otel_llm_*.json).

A fixture is compared with the committed file by *structure* (scope, span name, kind, status
code, attribute keys and value types), so ids, times and ports may vary but a renamed or retyped
attribute fails the test. ``OTEL_LLM_REWRITE_FIXTURES=1`` rewrites the files after an intended
change.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["check_fixture", "shape", "spans_to_otlp_json"]

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(node: Any) -> Any:
    """OTLP/JSON writes trace and span ids as hex, not protobuf JSON's base64."""
    if isinstance(node, dict):
        for key in _ID_KEYS:
            if isinstance(node.get(key), str):
                node[key] = base64.b64decode(node[key]).hex()
        for value in node.values():
            _hex_ids(value)
    elif isinstance(node, list):
        for value in node:
            _hex_ids(value)
    return node


def spans_to_otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The ExportTraceServiceRequest of ``spans`` as an OTLP/JSON document."""
    return _hex_ids(MessageToDict(encode_spans(spans), use_integers_for_enums=True))


def shape(doc: dict[str, Any]) -> list[Any]:
    """What must not drift: per span, scope, name, kind, status and attribute keys/value types."""
    out = []
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                attrs = sorted((a["key"], next(iter(a["value"]))) for a in span.get("attributes", []))
                status = span.get("status", {}).get("code", 0)
                out.append((ss["scope"]["name"], span["name"], span["kind"], status, attrs))
    return out


def check_fixture(path: Path, doc: dict[str, Any]) -> None:
    """Assert ``doc`` has the committed fixture's shape; write it when asked to (or when absent,
    then fail so that the new file gets committed)."""
    rewrite = os.environ.get("OTEL_LLM_REWRITE_FIXTURES") == "1"
    if rewrite or not path.exists():
        path.write_text(json.dumps(doc, indent=1) + "\n")
        assert rewrite, f"{path.name} was missing and has been written; commit it"
        return
    committed = json.loads(path.read_text())
    assert shape(doc) == shape(committed), (
        f"{path.name} is out of date with the instrumentation; rerun with OTEL_LLM_REWRITE_FIXTURES=1"
    )
