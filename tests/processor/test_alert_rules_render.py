from __future__ import annotations

from otel_llm_processor.connector.alert_rules.rules import Rule, compile_rule


def _rule(**fields: object) -> object:
    return compile_rule(Rule.model_validate({"id": "r", **fields}), "config")


def test_summary_formats_values_with_and_without_a_spec() -> None:
    rule = _rule(metric="error_rate", op="gt", threshold=0.2, summary="{value:.0%} > {threshold} on {model}")
    assert rule.render(rule.rule.summary, {"model": "m"}, 0.4567) == "46% > 0.2 on m"  # type: ignore[attr-defined]
    plain = _rule(metric="duration_s.p95", op="gt", threshold=1.5, summary="{value}s {unknown}")
    assert plain.render(plain.rule.summary, {}, 2.345678) == "2.346s {unknown}"  # type: ignore[attr-defined]


def test_anomaly_rule_summary_takes_the_metric_from_the_anomaly() -> None:
    rule = _rule(source="anomaly", detectors=["runaway"], summary="runaway: {metric} = {value}")
    labels = {"metric": "trace.calls", "detector": "runaway"}
    assert rule.render(rule.rule.summary, labels, 41.0) == "runaway: trace.calls = 41"  # type: ignore[attr-defined]
