"""``otel-llm-processor backtest``: replay recorded data through the detectors and alert rules.

Two inputs:

- a CSV series ``timestamp,value`` (unix seconds or ISO 8601; a header row is optional): the
  values are treated as the derived metric ``--metric`` of one series and scored by the detectors
  configured for that metric (``processors.anomaly.metrics``; ``--detector`` otherwise), and by
  the metric rules on it plus the anomaly rules (``connectors.alert_rules.rules``);
- an OTLP/JSON file of spans (``.json``; one export request, or one per line): the LLM calls are
  replayed in event time through the real ``llm_metrics`` aggregation, the ``anomaly`` processor
  (detectors, budgets, unpriced models, runaway traces) and the alert engine.

Prints what would have fired and when, and writes ``--output`` (``.csv`` or ``.json``) with one
row per evaluated point: time, series, metric, value, anomaly score, and what fired.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from otel_llm_processor.component import ComponentID, ComponentKind, CreateSettings, Host
from otel_llm_processor.connector.alert_rules.config import Config as RulesConfig
from otel_llm_processor.connector.alert_rules.engine import AlertEngine, Transition
from otel_llm_processor.connector.alert_rules.rules import compile_rule
from otel_llm_processor.processor.anomaly.anomaly import AnomalyProcessor
from otel_llm_processor.processor.anomaly.config import Config as AnomalyConfig
from otel_llm_processor.processor.anomaly.config import DetectorConfig
from otel_llm_processor.selftel import SelfTelemetry
from otel_llm_processor.services import Anomaly

__all__ = ["main", "read_series"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="otel-llm-processor backtest", description=__doc__.split("\n\n")[0])
    p.add_argument("--input", "-i", required=True, help="CSV (timestamp,value) or OTLP/JSON spans file")
    p.add_argument("--config", "-c", help="processor YAML config (anomaly and alert_rules sections)")
    p.add_argument(
        "--metric", default="value", help="CSV: the derived metric the values are (e.g. duration_s.p95)"
    )
    p.add_argument(
        "--detector",
        action="append",
        default=[],
        help="CSV: detector type when the config has none for --metric (zscore, mad, ewma, trend); repeatable",
    )
    p.add_argument("--output", "-o", help="per-point results, .csv or .json")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    try:
        anomaly_cfg, rules_cfg = _load_configs(args.config)
    except ValueError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return 1
    path = Path(args.input)
    try:
        if path.suffix.lower() == ".csv":
            points, fired = _run_series(read_series(path), args.metric, args.detector, anomaly_cfg, rules_cfg)
        else:
            points, fired = asyncio.run(_run_spans(path, anomaly_cfg, rules_cfg))
    except (OSError, ValueError) as exc:
        print(f"backtest: {args.input}: {exc}", file=sys.stderr)
        return 1
    for line in fired:
        print(line)
    print(f"{len(points)} points evaluated, {len(fired)} events")
    if args.output:
        _write(Path(args.output), points)
    return 0


# -- config ---------------------------------------------------------------------------------
def _load_configs(path: str | None) -> tuple[AnomalyConfig, RulesConfig]:
    """The ``anomaly`` processor and ``alert_rules`` connector sections of a processor config.

    Only these two sections are read and validated, so a backtest does not need the rest of the
    service (receivers, exporters) to be installed or valid on this machine.
    """
    if path is None:
        return AnomalyConfig(), RulesConfig()
    import yaml
    from pydantic import ValidationError

    from otel_llm_processor.config import expand_env

    try:
        raw = yaml.safe_load(Path(path).read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read config: {exc}") from None
    errors: list[str] = []
    raw = expand_env(raw, "", errors)
    if errors:
        raise ValueError("; ".join(errors))
    found: dict[str, Any] = {}
    for section, type_, cls in (
        ("processors", "anomaly", AnomalyConfig),
        ("connectors", "alert_rules", RulesConfig),
    ):
        for name, body in ((raw.get(section) or {}) if isinstance(raw, dict) else {}).items():
            if str(name).partition("/")[0] != type_ or type_ in found:
                continue
            try:
                found[type_] = cls.model_validate(body or {})
            except ValidationError as exc:
                where = [
                    f"{section}.{name}." + ".".join(map(str, e["loc"])) + f": {e['msg']}"
                    for e in exc.errors()
                ]
                raise ValueError("; ".join(where)) from None
    return found.get("anomaly", AnomalyConfig()), found.get("alert_rules", RulesConfig())


# -- CSV series ------------------------------------------------------------------------------
def _parse_time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        stamp = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        return stamp.timestamp()


def read_series(path: Path) -> list[tuple[float, float]]:
    rows: list[tuple[float, float]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"line {n}: expected timestamp,value")
            try:
                rows.append((_parse_time(row[0]), float(row[1])))
            except ValueError:
                if n == 1:
                    continue  # header
                raise ValueError(f"line {n}: cannot read {row[:2]!r}") from None
    rows.sort(key=lambda r: r[0])
    return rows


def _run_series(
    series: list[tuple[float, float]],
    metric: str,
    detector_types: list[str],
    anomaly_cfg: AnomalyConfig,
    rules_cfg: RulesConfig,
) -> tuple[list[dict[str, Any]], list[str]]:
    specs = [d for m in anomaly_cfg.metrics if m.metric == metric for d in m.detectors]
    if not specs:
        specs = [DetectorConfig(type=t) for t in (detector_types or ["zscore"])]  # type: ignore[arg-type]
    detectors = [s.build() for s in specs]
    engine = AlertEngine()
    engine.set_rules([compile_rule(r, "config") for r in rules_cfg.rules], 0.0)
    metric_rules = [r.id for r in rules_cfg.rules if r.source == "metric" and r.metric == metric]
    labels = {"series": metric}
    points: list[dict[str, Any]] = []
    fired: list[str] = []
    for n, (t, value) in enumerate(series):
        hits = [h for h in (det.update(value, t) for det in detectors) if h is not None]
        anomalies = [
            Anomaly(
                f"bt-{n}-{h.detector}",
                t,
                labels,
                metric,
                h.value,
                h.expected,
                h.band,
                h.score,
                h.severity,
                h.detector,
            )
            for h in hits
        ]
        transitions: list[Transition] = []
        transitions += engine.on_anomalies(anomalies, t)
        for rule_id in metric_rules:
            transitions += engine.evaluate(rule_id, labels, value, t)
        transitions += engine.tick(t)
        fired += [_anomaly_line(a) for a in anomalies] + [
            _transition_line(tr) for tr in transitions if tr.event
        ]
        points.append(
            {
                "time": t,
                "series": labels,
                "metric": metric,
                "value": value,
                "score": max((det.last_score for det in detectors), default=0.0),
                "anomalies": ";".join(f"{h.detector}:{h.severity}" for h in hits),
                "alerts": ";".join(f"{tr.record['rule']}:{tr.to_state}" for tr in transitions if tr.event),
            }
        )
    return points, fired


# -- OTLP/JSON spans -------------------------------------------------------------------------
def _read_requests(path: Path) -> list[Any]:
    from otel_llm_processor.otlpjson import OtlpJsonError, decode_traces

    data = path.read_bytes()
    chunks = [data] if data.lstrip().startswith(b"{") and _is_one_document(data) else data.splitlines()
    out = []
    for chunk in chunks:
        if chunk.strip():
            try:
                out.append(decode_traces(chunk))
            except OtlpJsonError as exc:
                raise ValueError(str(exc)) from None
    return out


def _is_one_document(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


async def _run_spans(
    path: Path, anomaly_cfg: AnomalyConfig, rules_cfg: RulesConfig
) -> tuple[list[dict[str, Any]], list[str]]:
    from otel_llm_processor.connector.llm_metrics.config import Config as MetricsConfig
    from otel_llm_processor.connector.llm_metrics.connector import LlmMetricsConnector
    from otel_llm_processor.model.llm_call import calls_from_request

    calls = [c for req in _read_requests(path) for c in calls_from_request(req)]
    calls.sort(key=lambda c: c.end_ns)
    clock = [calls[0].end_ns / 1e9 if calls else 0.0]
    telemetry = SelfTelemetry()

    def settings(name: str, kind: ComponentKind) -> CreateSettings:
        return CreateSettings(ComponentID(name), kind, telemetry)

    metrics = LlmMetricsConnector(
        settings("llm_metrics", ComponentKind.CONNECTOR), MetricsConfig(), clock=lambda: clock[0]
    )
    processor = AnomalyProcessor(
        settings("anomaly", ComponentKind.PROCESSOR), anomaly_cfg, clock=lambda: clock[0]
    )
    engine = AlertEngine()
    engine.set_rules([compile_rule(r, "config") for r in rules_cfg.rules], clock[0])
    points: list[dict[str, Any]] = []
    fired: list[str] = []

    def on_anomalies(anomalies: Sequence[Anomaly]) -> None:
        fired.extend(_anomaly_line(a) for a in anomalies)
        fired.extend(_transition_line(tr) for tr in engine.on_anomalies(anomalies, clock[0]) if tr.event)

    def on_updates(updates: Sequence[Any]) -> None:
        fired.extend(_transition_line(tr) for tr in engine.on_updates(updates, clock[0]) if tr.event)

    def on_point(t: float, labels: dict[str, str], metric: str, value: float, score: float) -> None:
        points.append({"time": t, "series": labels, "metric": metric, "value": value, "score": score})

    processor.on_point = on_point
    processor.subscribe(on_anomalies)
    host = Host(telemetry, "", {"llm_metrics": metrics})
    await processor.start(host)
    metrics.subscribe(on_updates)
    try:
        batch: list[Any] = []
        for call in calls:
            t = math.floor(call.end_ns / 1e9)
            if batch and t > clock[0]:
                await metrics.record_calls(batch)
                batch = []
                _tick(processor, engine, fired, t)
            clock[0] = max(clock[0], float(t))
            batch.append(call)
        if batch:
            await metrics.record_calls(batch)
        # Drain: keep the clock running after the data so that alerts resolve as they would
        # have live (bounded: one hour of event time past the last call).
        horizon = clock[0] + 3600.0
        while True:
            clock[0] += anomaly_cfg.evaluation_interval
            _tick(processor, engine, fired, clock[0])
            if not engine.active or clock[0] >= horizon:
                break
    finally:
        await processor.shutdown(0.0)
    return points, fired


def _tick(processor: AnomalyProcessor, engine: AlertEngine, fired: list[str], t: float) -> None:
    processor.advance(t)
    fired.extend(_transition_line(tr) for tr in engine.tick(t) if tr.event)


# -- output ----------------------------------------------------------------------------------
def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _anomaly_line(a: Anomaly) -> str:
    series = ",".join(f"{k}={v}" for k, v in a.series.items() if v)
    return f"{_iso(a.time)} anomaly {a.severity} {a.detector} {a.metric}={a.value:.6g} score={a.score:.3f} {{{series}}}"


def _transition_line(tr: Transition) -> str:
    r = tr.record
    return f"{_iso(tr.at)} alert {tr.to_state} {r['rule']} {r['severity']} value={r['value']:.6g} ({r['summary']})"


def _write(path: Path, points: list[dict[str, Any]]) -> None:
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(points, indent=1) + "\n", encoding="utf-8")
        return
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "series", "metric", "value", "score", "anomalies", "alerts"])
        for p in points:
            series = ",".join(f"{k}={v}" for k, v in p["series"].items())
            writer.writerow(
                [
                    f"{p['time']:.3f}",
                    series,
                    p["metric"],
                    f"{p['value']:.9g}",
                    f"{p['score']:.6g}",
                    p.get("anomalies", ""),
                    p.get("alerts", ""),
                ]
            )
