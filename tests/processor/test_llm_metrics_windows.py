"""Rolling 1m / 5m / 1h windows of the llm_metrics connector, driven by a fake clock."""

from __future__ import annotations

from otel_llm_processor.connector.llm_metrics.aggregator import Aggregator
from otel_llm_processor.connector.llm_metrics.summary import summarize
from otel_llm_processor.connector.llm_metrics.windows import Windows
from otel_llm_processor.model.llm_call import LlmCall

T0 = 1_699_999_800.0  # a multiple of 300 s: the tiers' periods start here


def call(i: int, duration_s: float) -> LlmCall:
    return LlmCall(
        trace_id=i.to_bytes(16, "big"),
        span_id=i.to_bytes(8, "big"),
        parent_span_id=b"",
        start_ns=0,
        end_ns=round(duration_s * 1e9),
        service="svc",
        provider="openai",
        operation="chat",
        request_model="m",
        response_model="",
        error_type="",
        input_tokens=1,
        output_tokens=1,
    )


class Recorder:
    def __init__(self) -> None:
        self.agg = Aggregator(exemplars_per_series=0)
        self.windows = Windows()

    def record(self, now: float, n: int, duration_s: float = 1.0) -> None:
        self.windows.add(now, self.agg.aggregate([call(i, duration_s) for i in range(n)], now).part)

    def calls(self, window: str, now: float) -> int:
        groups = summarize(self.agg.registry, self.windows.part(window, now), window)
        return groups[0].calls if groups else 0


def test_one_minute_window_rolls_over_in_ten_second_slots() -> None:
    r = Recorder()
    r.record(T0 + 1, 1)
    r.record(T0 + 15, 2)
    r.record(T0 + 59, 4)
    assert r.calls("1m", T0 + 59) == 7
    assert r.calls("1m", T0 + 59.9) == 7  # the slot [T0, T0+10) starts after now - 60
    assert r.calls("1m", T0 + 60) == 6  # ... and no longer does
    assert r.calls("1m", T0 + 69.9) == 6
    assert r.calls("1m", T0 + 75) == 4
    assert r.calls("1m", T0 + 125) == 0
    assert r.calls("5m", T0 + 125) == 7


def test_five_minute_and_hour_windows_combine_tiers_without_double_counting() -> None:
    r = Recorder()
    for minute in range(70):  # one call per minute for 70 minutes, 3 calls at each 5-minute mark
        r.record(T0 + minute * 60 + 5, 3 if minute % 5 == 0 else 1)
    now = T0 + 69 * 60 + 30
    # 5m: minutes 65..69 (slots starting after now - 300); minute 65 has 3 calls
    assert r.calls("5m", now) == 3 + 4
    # 1h: 5-minute slots starting after now - 3600 = minute 9.5 -> minutes 10..69
    assert r.calls("1h", now) == sum(3 if m % 5 == 0 else 1 for m in range(10, 70))
    assert r.calls("1m", now) == 1
    # much later everything has rolled out, and the closed slots have been dropped
    assert r.calls("1h", now + 3700) == 0
    assert all(size == 0 for size in r.windows.memory().values())


def test_window_distributions_follow_the_window() -> None:
    r = Recorder()
    r.record(T0 + 1, 10, duration_s=30.0)
    r.record(T0 + 100, 10, duration_s=0.5)
    (g,) = summarize(r.agg.registry, r.windows.part("1m", T0 + 100), "1m")
    assert g.distributions["duration_s"].max == 0.5
    assert g.distributions["duration_s"].count == 10
    (g5,) = summarize(r.agg.registry, r.windows.part("5m", T0 + 100), "5m")
    d = g5.distributions["duration_s"]
    assert (d.count, d.min, d.max, d.sum) == (20, 0.5, 30.0, 305.0)
    assert abs(d.p99 - 30.0) / 30.0 < 0.01 and abs(d.p50 - 15.25) / 15.25 < 0.01
