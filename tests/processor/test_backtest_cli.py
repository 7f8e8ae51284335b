from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otel_llm import semconv as sc
from otel_llm_processor.backtest import main
from otel_llm_processor.otlpjson import encode_traces

DATA = Path(__file__).parent / "testdata" / "backtest"
BASE = 1_700_000_000


def test_csv_series_reports_anomaly_and_alerts(tmp_path, capsys):
    out = tmp_path / "scores.csv"
    code = main(
        [
            "--input",
            str(DATA / "latency_p95.csv"),
            "--config",
            str(DATA / "config.yaml"),
            "--metric",
            "duration_s.p95",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "2023-11-14T22:15:00Z anomaly CRITICAL zscore duration_s.p95=8 score=69.000 {series=duration_s.p95}",
        "2023-11-14T22:15:00Z alert firing anomalies CRITICAL value=69 (anomalies: anomaly 69)",
        "2023-11-14T22:15:00Z alert firing slow ERROR value=8 (p95 latency 8s > 5s)",
        "2023-11-14T22:15:10Z alert resolved slow ERROR value=8 (p95 latency 8s > 5s)",
        "2023-11-14T22:15:40Z alert resolved anomalies CRITICAL value=69 (anomalies: anomaly 69)",
        "16 points evaluated, 5 events",
    ]
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 16
    assert rows[10]["timestamp"] == f"{BASE + 100}.000"
    assert rows[10]["value"] == "8"
    assert float(rows[10]["score"]) == 69.0
    assert rows[10]["anomalies"] == "zscore:CRITICAL"
    assert rows[10]["alerts"] == "anomalies:firing;slow:firing"
    assert [r["score"] for r in rows[:5]] == ["0"] * 5  # below min_points
    # point 5 (1.2) against [1, 1.2, 1, 1.2, 1]: mean 1.08, population variance 0.0096
    assert float(rows[5]["score"]) == pytest.approx(0.12 / math.sqrt(0.0096), rel=1e-5)


def _attr(key, value):
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    return KeyValue(key=key, value=AnyValue(int_value=value))


def _spans_file(path: Path) -> Path:
    """One agent trace with 5 chat calls one second apart (a loop), and one normal trace."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(_attr(sc.SERVICE_NAME, "agent"))
    spans = rs.scope_spans.add().spans
    for i in range(6):
        span = spans.add()
        span.trace_id = (1 if i < 5 else 2).to_bytes(16, "big")
        span.span_id = (i + 1).to_bytes(8, "big")
        span.name = "chat my-model"
        span.kind = 3
        span.start_time_unix_nano = (BASE + i) * 10**9
        span.end_time_unix_nano = (BASE + i) * 10**9 + 500_000_000
        for key, value in (
            (sc.GEN_AI_OPERATION_NAME, "chat"),
            (sc.GEN_AI_PROVIDER_NAME, "openai"),
            (sc.GEN_AI_REQUEST_MODEL, "my-model"),
            (sc.GEN_AI_USAGE_INPUT_TOKENS, 100),
            (sc.GEN_AI_USAGE_OUTPUT_TOKENS, 10),
        ):
            span.attributes.append(_attr(key, value))
    path.write_bytes(encode_traces(req))
    return path


def test_otlp_json_spans_replay_runaway_and_unpriced(tmp_path, capsys):
    out = tmp_path / "points.json"
    spans = _spans_file(tmp_path / "spans.json")
    assert main(["-i", str(spans), "-c", str(DATA / "config.yaml"), "-o", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    trace = (1).to_bytes(16, "big").hex()
    assert printed == [
        # Anomalies carry the end time of the call that raised them; the replay clock moves in
        # whole seconds, and keeps running after the data until the alert resolves (30 s window).
        "2023-11-14T22:13:20.500000Z anomaly WARNING unpriced cost_usd=0 score=0.000 {service=agent,provider=openai,model=my-model}",
        f"2023-11-14T22:13:23.500000Z anomaly ERROR runaway trace.calls=4 score=1.333 {{service=agent,trace_id={trace}}}",
        "2023-11-14T22:13:23Z alert firing anomalies ERROR value=1.33333 (anomalies: anomaly 1.333)",
        "2023-11-14T22:13:55Z alert resolved anomalies ERROR value=1.33333 (anomalies: anomaly 1.333)",
        "1 points evaluated, 4 events",
    ]
    points = json.loads(out.read_text())
    assert points == [
        {
            "time": BASE + 10.0,
            "series": {"service": "agent", "provider": "openai", "model": "my-model", "operation": "chat"},
            "metric": "duration_s.p95",
            "value": 0.5,
            "score": 0.0,
        }
    ]


def test_bad_input_is_reported_not_raised(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n1,2\nxx,yy\n")
    assert main(["--input", str(bad)]) == 1
    assert "line 3: cannot read ['xx', 'yy']" in capsys.readouterr().err
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("processors:\n  anomaly:\n    evaluation_interval: -1\n")
    assert main(["--input", str(bad), "--config", str(cfg)]) == 1
    assert "processors.anomaly.evaluation_interval" in capsys.readouterr().err
