from __future__ import annotations

import pytest

from otel_llm_processor.connector.alert_rules.engine import AlertEngine, dedup_key
from otel_llm_processor.connector.alert_rules.rules import compile_rule, parse_rule
from otel_llm_processor.services import Anomaly
from tests.processor.fakes_llm_metrics import update

SERIES = {"service": "chat", "provider": "openai", "model": "gpt-4o", "operation": "chat"}


def engine(*rules):
    eng = AlertEngine()
    eng.set_rules([compile_rule(parse_rule(r), "config") for r in rules], 0.0)
    return eng


def states(transitions):
    return [(t.from_state, t.to_state, t.event.state if t.event else None) for t in transitions]


ERR = {
    "id": "errors",
    "metric": "error_rate",
    "op": "gt",
    "threshold": 0.2,
    "window": "60s",
    "severity": "ERROR",
}


def test_fires_on_the_update_that_tips_the_rule_then_resolves():
    eng = engine({**ERR, "min_calls": 5})
    assert eng.on_updates([update(100.0, calls=3, errors=3)], 100.0) == []  # below min_calls
    out = eng.on_updates([update(101.0, calls=2, errors=0, error_type="", exemplars=[("t1", "s1")])], 101.0)
    assert states(out) == [("", "pending", None), ("pending", "firing", "firing")]
    event = out[-1].event
    assert event.rule == "errors"
    assert event.severity == "ERROR"
    assert event.labels == SERIES
    assert event.value == pytest.approx(0.6)
    assert event.threshold == 0.2
    assert event.dedup_key == dedup_key("errors", SERIES)
    assert event.starts_at == 101.0
    assert event.exemplars == (("t1", "s1"),)
    assert event.summary == "errors: error_rate 0.6 gt 0.2"
    assert eng.on_updates([update(102.0, calls=1, errors=1)], 102.0) == []  # still firing: no new event
    assert eng.tick(150.0) == []
    out = eng.tick(162.0)  # the bad buckets left the 60 s window: no data -> condition false
    assert states(out) == [("firing", "resolved", "resolved")]
    assert out[0].record["ends_at"] == 162.0
    assert eng.list_alerts("resolved")[0]["id"] == event.alert_id


def test_error_type_series_are_grouped_away():
    eng = engine(ERR)
    out = eng.on_updates(
        [update(10.0, calls=9), update(10.0, calls=1, errors=1, error_type="RateLimit")], 10.0
    )
    assert out == []  # 0.1 across the model, not 1.0 for the error series


def test_for_duration_pending_then_firing_on_tick_and_pending_clears_silently():
    eng = engine({**ERR, "for": "30s"})
    out = eng.on_updates([update(0.0, calls=1, errors=1)], 0.0)
    assert states(out) == [("", "pending", None)]
    assert eng.tick(29.0) == []
    assert states(eng.tick(30.0)) == [("pending", "firing", "firing")]
    eng2 = engine({**ERR, "for": "30s"})
    eng2.on_updates([update(0.0, calls=1, errors=1)], 0.0)
    out = eng2.on_updates([update(5.0, calls=9)], 5.0)
    assert states(out) == [("pending", "resolved", None)]  # never fired: notifiers never hear of it


def test_cooldown_blocks_refire_of_same_series():
    eng = engine({**ERR, "window": "10s", "cooldown": "100s"})
    assert states(eng.on_updates([update(0.0, calls=1, errors=1)], 0.0))[-1][1] == "firing"
    assert states(eng.tick(20.0)) == [("firing", "resolved", "resolved")]
    assert eng.on_updates([update(50.0, calls=1, errors=1)], 50.0) == []
    assert states(eng.on_updates([update(121.0, calls=1, errors=1)], 121.0))[-1][1] == "firing"


def test_matchers_exact_and_regex_and_label_validation():
    eng = engine({**ERR, "match": {"service": "chat"}, "match_re": {"model": "gpt-4.*"}})
    assert eng.on_updates([update(0.0, calls=1, errors=1, model="claude-3")], 0.0) == []
    assert eng.on_updates([update(0.0, calls=1, errors=1, service="other")], 0.0) == []
    assert len(eng.on_updates([update(0.0, calls=1, errors=1, model="gpt-4o-mini")], 0.0)) == 2
    with pytest.raises(ValueError, match=r"match labels \['tenant'\] are not in group_by"):
        parse_rule({**ERR, "match": {"tenant": "x"}})


def test_latency_percentile_rule_and_lt_rule_on_silence():
    eng = engine(
        {"id": "slow", "metric": "duration_s.p95", "threshold": 5, "window": "1m"},
        {"id": "quiet", "metric": "calls.per_min", "op": "lt", "threshold": 1, "window": "1m", "for": "0s"},
    )
    out = eng.on_updates([update(0.0, calls=20, durations=[1.0] * 18 + [9.0, 9.0])], 0.0)
    assert [t.record["rule"] for t in out if t.event] == ["slow"]
    assert out[-1].event.value == pytest.approx(9.0)  # p95 of 18 x 1 and 2 x 9 (linear interpolation)
    out = eng.tick(61.0)
    fired = {(t.record["rule"], t.to_state) for t in out}
    assert fired == {("slow", "resolved"), ("quiet", "pending"), ("quiet", "firing")}


def test_acknowledge_resolve_and_errors():
    eng = engine(ERR)
    alert_id = eng.on_updates([update(0.0, calls=1, errors=1)], 0.0)[-1].record["id"]
    ack = eng.acknowledge(alert_id, "ops@example.com", 5.0)
    assert states(ack) == [("firing", "acknowledged", "acknowledged")]
    assert ack[0].record["acknowledged_by"] == "ops@example.com"
    with pytest.raises(ValueError, match="only a firing alert"):
        eng.acknowledge(alert_id, "x", 6.0)
    assert states(eng.resolve(alert_id, "ops", 7.0)) == [("acknowledged", "resolved", "resolved")]
    with pytest.raises(ValueError, match="already resolved"):
        eng.resolve(alert_id, "ops", 8.0)
    with pytest.raises(KeyError):
        eng.acknowledge("nope", "x", 9.0)


def test_silence_suppresses_notification_until_it_ends():
    eng = engine(ERR)
    sid = eng.silence({"model": "gpt-4o"}, until=100.0, by="ops", now=0.0)
    assert sid in eng.silences
    out = eng.on_updates([update(10.0, calls=1, errors=1)], 10.0)
    assert states(out) == [("", "pending", None), ("pending", "firing", None)]
    assert out[-1].record["silenced"] is True
    eng.on_updates([update(60.0, calls=1, errors=1)], 60.0)
    out = eng.tick(100.0)
    assert states(out) == [("firing", "firing", "firing")]
    assert out[0].by == "silence ended"
    with pytest.raises(ValueError):
        eng.silence({}, 200.0, "x", 100.0)


def test_silenced_alert_that_resolves_is_never_notified():
    eng = engine({**ERR, "window": "10s"})
    eng.silence({"rule": "errors"}, until=1000.0, by="ops", now=0.0)
    eng.on_updates([update(0.0, calls=1, errors=1)], 0.0)
    assert states(eng.tick(30.0)) == [("firing", "resolved", None)]


def anomaly(t, detector="zscore", severity="ERROR", score=5.0, metric="duration_s.p95"):
    return Anomaly(
        "a1", t, dict(SERIES), metric, 9.0, 1.0, (0.0, 2.0), score, severity, detector, "", (("t", "s"),)
    )


def test_anomaly_rule_fires_with_anomaly_severity_and_resolves_after_window():
    eng = engine(
        {
            "id": "anoms",
            "source": "anomaly",
            "detectors": ["zscore", "mad"],
            "min_severity": "ERROR",
            "window": "5m",
        }
    )
    assert eng.on_anomalies([anomaly(0.0, severity="WARNING")], 0.0) == []
    assert eng.on_anomalies([anomaly(0.0, detector="ewma")], 0.0) == []
    out = eng.on_anomalies([anomaly(10.0, severity="CRITICAL")], 10.0)
    assert states(out) == [("", "pending", None), ("pending", "firing", "firing")]
    assert out[-1].event.severity == "CRITICAL"
    assert out[-1].event.labels == {**SERIES, "metric": "duration_s.p95", "detector": "zscore"}
    assert out[-1].event.exemplars == (("t", "s"),)
    assert eng.tick(300.0) == []
    assert states(eng.tick(311.0)) == [("firing", "resolved", "resolved")]


def test_delete_rule_resolves_its_alerts_and_restore():
    eng = engine(ERR)
    fired = eng.on_updates([update(0.0, calls=1, errors=1)], 0.0)[-1].record
    eng2 = AlertEngine()
    eng2.set_rules([compile_rule(parse_rule(ERR), "config")], 0.0)
    assert eng2.restore([fired, {**fired, "id": "x", "dedup_key": "y", "state": "resolved"}]) == 1
    assert eng2.active[fired["dedup_key"]].id == fired["id"]
    assert eng2.on_updates([update(1.0, calls=1, errors=1)], 1.0) == []  # same alert continues
    assert states(eng2.delete_rule("errors", 2.0)) == [("firing", "resolved", "resolved")]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"id": "r", "metric": "latency", "threshold": 1}, "unknown metric 'latency'"),
        ({"id": "r", "metric": "error_rate"}, "needs 'threshold'"),
        ({"id": "r", "metric": "error_rate", "threshold": 1, "op": "gte"}, "op: Input should be"),
        (
            {"id": "r", "metric": "error_rate", "threshold": 1, "match_re": {"model": "("}},
            "invalid regular expression",
        ),
        ({"id": "r", "metric": "error_rate", "threshold": 1, "for": "soon"}, "for: invalid duration 'soon'"),
        ({"id": "bad id", "metric": "error_rate", "threshold": 1}, "id: id must be"),
        (
            {"id": "r", "metric": "error_rate", "threshold": 1, "severity": "HIGH"},
            "severity: Input should be",
        ),
        ({"id": "r", "metric": "error_rate", "threshold": 1, "colour": "red"}, "colour: Extra inputs"),
    ],
)
def test_invalid_rules_are_refused_with_a_clear_message(rule, message):
    with pytest.raises(ValueError) as info:
        parse_rule(rule)
    assert str(info.value).startswith(f"invalid rule {rule['id']!r}: ")
    assert message in str(info.value)
