"""Bounded, flat memory per series in llm_metrics: packed slots, expiry of idle series."""

from __future__ import annotations

import numpy as np

from otel_llm import semconv as sc
from otel_llm_processor.connector.llm_metrics import part as P
from otel_llm_processor.connector.llm_metrics.aggregator import Aggregator
from otel_llm_processor.connector.llm_metrics.config import Config
from otel_llm_processor.connector.llm_metrics.packed import pack, unpack
from otel_llm_processor.connector.llm_metrics.windows import Windows
from otel_llm_processor.model.llm_call import LlmCall

from .test_llm_metrics_connector import ID, T0, T0_S, connector, points, span, traces

DURATIONS = [0.05 * 1.1**k for k in range(40)]  # 40 distinct buckets at scale 6


def call(i: int, duration_s: float, model: str) -> LlmCall:
    return LlmCall(
        trace_id=i.to_bytes(16, "big"),
        span_id=i.to_bytes(8, "big"),
        parent_span_id=b"",
        start_ns=0,
        end_ns=round(duration_s * 1e9),
        service="svc",
        provider="openai",
        operation="chat",
        request_model=model,
        response_model="",
        error_type="",
        input_tokens=100 + i % 7,
        output_tokens=1000 * (i % 3) + 1,
    )


def test_pack_round_trip_is_exact_and_narrow() -> None:
    agg = Aggregator(exemplars_per_series=0)
    calls = [call(i, DURATIONS[i % 40], f"m{i % 3}") for i in range(300)]
    part = P.merge([agg.aggregate(calls, T0_S).part, agg.aggregate(calls[:50], T0_S).part])
    packed = pack(part)
    back = unpack(packed)
    for name in ("series", "counters", "stat_keys", "stats", "hist_keys", "hist_counts"):
        assert np.array_equal(getattr(back, name), getattr(part, name)), name
        assert getattr(back, name).dtype == getattr(part, name).dtype
    assert (packed.buckets.dtype, packed.counts.dtype) == (np.uint16, np.uint8)
    assert len(packed.groups) == 3 * 3  # 3 series x (duration, input, output tokens): no ttft, no price
    assert part.hist_keys.nbytes + part.hist_counts.nbytes == 16 * len(part.hist_keys)
    assert packed.buckets.nbytes + packed.counts.nbytes == 3 * len(part.hist_keys)
    assert unpack(pack(P.EMPTY)).size == 0


def test_window_memory_is_bounded_and_flat_once_the_hour_is_full() -> None:
    """Same traffic every 5 minutes: after the 1 h tier filled up, memory no longer changes."""
    agg = Aggregator(exemplars_per_series=0)
    windows = Windows()
    sizes: dict[int, int] = {}
    for step in range(1, 6 * 125 + 1):  # 125 minutes of 10 s steps, 4 series, 3 calls each
        now = T0_S + step * 10 - 0.5
        i0 = (step % 30) * 12  # the same calls every 5 minutes
        calls = [call(i0 + j, DURATIONS[(i0 + j) % 40], f"m{j % 4}") for j in range(12)]
        windows.add(now, agg.aggregate(calls, now).part)
        if step % 30 == 0:
            sizes[step // 6] = sum(windows.memory().values())
    assert sizes[65] == sizes[70] == sizes[95] == sizes[120] == sizes[125]
    assert sizes[30] < sizes[65]
    # per series and slot: series + counters + 3 metrics x (key, stats, group, length) + buckets;
    # at most 10 distinct durations, 7 input and 3 output token values per series and slot.
    # 5 + 4 + 11 closed slots are packed, the open slot of each of the 3 tiers is a plain Part.
    packed = 4 + 8 * 8 + 3 * (4 + 32 + 4 + 1) + (10 + 7 + 3) * (2 + 1)
    plain = 8 + 8 * 8 + 3 * (8 + 32) + (10 + 7 + 3) * 16
    assert sizes[125] <= 4 * (20 * packed + 3 * plain)
    assert sum(windows.memory().values()) == sizes[125]


async def test_idle_series_expire_and_come_back_with_a_new_cumulative_stream() -> None:
    conn, sink, telemetry, clock = connector(Config(flush_interval=10))
    await conn.consume_traces(traces(span(1, 1.0, model="a"), span(2, 2.0, model="a")))
    await conn.consume_traces(traces(span(3, 1.0, model="b")))
    clock.now += 10
    await conn.flush()
    # "b" keeps going; "a" stays idle for 1 h + one flush interval (exactly: not expired yet)
    for _ in range(360):
        clock.now += 10
        await conn.consume_traces(traces(span(4, 0.5, model="b")))
        await conn.flush()
    assert telemetry.counter(ID, "series_expired") == 0
    assert sorted(p.as_int for p in points(sink.batches[-1], "llm.calls")) == [2, 361]
    clock.now += 1
    await conn.flush()
    assert telemetry.counter(ID, "series_expired") == 1
    assert telemetry.gauge(ID, "series_active") == 1
    (only,) = points(sink.batches[-1], "llm.calls")
    assert only.as_int == 361
    assert {kv.value.string_value for kv in only.attributes if kv.key == sc.GEN_AI_REQUEST_MODEL} == {"b"}

    back_at = clock.now + 5
    clock.now = back_at
    await conn.consume_traces(traces(span(5, 4.0, model="a")))
    clock.now += 5
    await conn.flush()
    a = next(
        p
        for p in points(sink.batches[-1], sc.METRIC_CLIENT_OPERATION_DURATION)
        if any(kv.value.string_value == "a" for kv in p.attributes)
    )
    assert (a.count, a.sum, a.start_time_unix_nano) == (1, 4.0, T0 + round((back_at - T0_S) * 1e9))
    (g,) = conn.summarize("1h", where={"model": "a"})
    assert (g.calls, g.distributions["duration_s"].max) == (1, 4.0)
    assert telemetry.gauge(ID, "series_active") == 2
    assert telemetry.counter(ID, "series_expired") == 1
    assert telemetry.gauge(ID, "state_bytes") == sum(conn.memory().values()) > 0


async def test_expired_ids_are_reused_and_the_state_stays_flat_under_churn() -> None:
    conn, sink, telemetry, clock = connector(Config(flush_interval=60, max_series=50))
    sizes = []
    for hour in range(4):  # every hour 20 new models, each called for 5 minutes, then never again
        for minute in range(60):
            if minute < 5:
                await conn.consume_traces(
                    traces(*(span(i, 0.1 * (1 + i % 9), model=f"h{hour}-{i}") for i in range(20)))
                )
            clock.now += 60
            await conn.flush()
        sizes.append(conn.memory()["cumulative"])
    assert telemetry.counter(ID, "series_overflow") == 0
    assert telemetry.counter(ID, "series_expired") == 60
    assert len(conn._agg.registry.keys) == 40  # two hours' worth of ids, reused ever since
    assert sizes[1] == sizes[2] == sizes[3]
    models = {
        kv.value.string_value
        for p in points(sink.batches[-1], "llm.calls")
        for kv in p.attributes
        if kv.key == sc.GEN_AI_REQUEST_MODEL
    }
    assert models == {f"h3-{i}" for i in range(20)}
