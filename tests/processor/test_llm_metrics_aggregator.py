"""The llm_metrics aggregator: exact values for a known set of calls, percentiles, overflow, exemplars."""

from __future__ import annotations

import numpy as np
import pytest

from otel_llm._core.cost import Price, PriceBook
from otel_llm_processor.connector.llm_metrics import part as P
from otel_llm_processor.connector.llm_metrics.aggregator import Aggregator
from otel_llm_processor.connector.llm_metrics.expohist import BIAS, biased_indices, quantiles
from otel_llm_processor.connector.llm_metrics.pricing import Pricer
from otel_llm_processor.connector.llm_metrics.summary import summarize
from otel_llm_processor.connector.llm_metrics.windows import Windows
from otel_llm_processor.model.llm_call import LlmCall

T0 = 1_700_000_000_000_000_000


def make_call(
    i: int,
    duration_s: float,
    *,
    model: str = "test-model",
    provider: str = "test-provider",
    service: str = "svc",
    error_type: str = "",
    input_tokens: int | None = 100,
    output_tokens: int | None = 10,
    cache_read: int | None = None,
    cost: float | None = None,
    ttft: float | None = None,
) -> LlmCall:
    return LlmCall(
        trace_id=i.to_bytes(16, "big"),
        span_id=(i + 1).to_bytes(8, "big"),
        parent_span_id=b"",
        start_ns=T0,
        end_ns=T0 + round(duration_s * 1e9),
        service=service,
        provider=provider,
        operation="chat",
        request_model=model,
        response_model="",
        error_type=error_type,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cost_usd=cost,
        ttft_s=ttft,
    )


def pricer() -> Pricer:
    # $2 / $8 per million input / output tokens, $0.5 for cache reads; "test-provider" is unknown to
    # genai-prices, so any other model of it has no price.
    book = PriceBook({("test-provider", "test-model"): Price(2.0, 8.0, cache_read_per_mtok=0.5)})
    return Pricer(book)


def known_calls() -> list[LlmCall]:
    return [
        make_call(1, 0.5, input_tokens=1000, output_tokens=200, ttft=0.1),
        make_call(2, 1.5, input_tokens=2000, output_tokens=100, cache_read=1000),
        make_call(3, 3.0, input_tokens=10, output_tokens=0, cost=0.25),  # cost from the span wins
        make_call(4, 0.25, error_type="RateLimitError", input_tokens=None, output_tokens=None),
        make_call(5, 2.0, model="unpriced-model", input_tokens=50, output_tokens=5, ttft=0.2),
    ]


def test_exact_counters_tokens_and_cost() -> None:
    agg = Aggregator(pricer=pricer())
    result = agg.aggregate(known_calls(), now=100.0)
    reg = agg.registry
    assert len(reg) == 3
    rows = {
        reg.keys[s]: r
        for s, r in zip(result.part.series.tolist(), result.part.counters.tolist(), strict=True)
    }
    ok = rows[("svc", "test-provider", "test-model", "chat", "")]
    assert ok[P.CALLS] == 3 and ok[P.ERRORS] == 0
    assert (ok[P.INPUT], ok[P.OUTPUT], ok[P.CACHE_READ]) == (3010, 300, 1000)
    # call 1: 1000*2e-6 + 200*8e-6 = 0.0036; call 2: 1000*2e-6 + 1000*0.5e-6 + 100*8e-6 = 0.0033
    assert ok[P.COST] == pytest.approx(0.0036 + 0.0033 + 0.25, rel=1e-12)
    assert ok[P.PRICED] == 3
    err = rows[("svc", "test-provider", "test-model", "chat", "RateLimitError")]
    assert (err[P.CALLS], err[P.ERRORS], err[P.INPUT], err[P.PRICED], err[P.COST]) == (1, 1, 0, 0, 0.0)
    unpriced = rows[("svc", "test-provider", "unpriced-model", "chat", "")]
    assert (unpriced[P.CALLS], unpriced[P.PRICED], unpriced[P.COST]) == (1, 0, 0.0)
    assert result.unpriced == 1
    assert result.overflowed == 0


def test_exact_distributions_and_histogram_counts() -> None:
    agg = Aggregator(pricer=pricer())
    part = agg.aggregate(known_calls(), now=100.0).part
    sid = agg.registry.ids[("svc", "test-provider", "test-model", "chat", "")]
    stats = dict(zip(part.stat_keys.tolist(), part.stats.tolist(), strict=True))
    assert stats[sid * 8 + P.METRICS.index("duration_s")] == [3, 5.0, 0.5, 3.0]
    assert stats[sid * 8 + P.METRICS.index("ttft_s")] == [1, 0.1, 0.1, 0.1]
    assert stats[sid * 8 + P.METRICS.index("output_tokens")] == [3, 300, 0, 200]
    # histogram of durations: one count in each of the three buckets of 0.5, 1.5 and 3.0 s
    dkey = (sid * 8 + P.METRICS.index("duration_s")) << 16
    mask = (part.hist_keys >> 16) == (dkey >> 16)
    buckets = (part.hist_keys[mask] & 0xFFFF) - BIAS
    assert buckets.tolist() == [-65, 37, 101]  # ceil(log2(v) * 64) - 1
    assert part.hist_counts[mask].tolist() == [1, 1, 1]
    # an output of 0 tokens lands in the zero bucket
    okey = sid * 8 + P.METRICS.index("output_tokens")
    zero = part.hist_keys[(part.hist_keys >> 16) == okey] & 0xFFFF
    assert zero.tolist()[0] == 0


def test_bucket_index_boundaries() -> None:
    values = np.array([1.0, 2.0, 0.5, 1.0 + 1e-12, 0.0, 1e-3, 1200.0])
    assert (biased_indices(values) - BIAS).tolist()[:4] == [-1, 63, -65, 0]
    assert biased_indices(values)[4] == 0  # zero bucket
    # one millisecond to twenty minutes, no fixed top bucket
    assert (biased_indices(values) - BIAS).tolist()[5:] == [-638, 654]


def test_percentiles_within_one_percent_of_numpy_on_lognormal_latencies() -> None:
    rng = np.random.default_rng(7)
    durations = np.exp(rng.normal(np.log(2.0), 1.6, 30_000)).clip(0.005, 1200.0)
    assert durations.min() == 0.005 and durations.max() == 1200.0
    agg = Aggregator(exemplars_per_series=0)
    windows = Windows()
    calls = [make_call(i, float(d)) for i, d in enumerate(durations)]
    for start in range(0, len(calls), 512):
        windows.add(100.0, agg.aggregate(calls[start : start + 512], now=100.0).part)
    exact = [(c.end_ns - c.start_ns) / 1e9 for c in calls]
    (group,) = summarize(agg.registry, windows.part("1m", 100.0), "1m")
    d = group.distributions["duration_s"]
    assert d.count == 30_000
    assert d.min == min(exact) and d.max == max(exact)
    assert d.sum == pytest.approx(sum(exact), rel=1e-12)
    for q, got in ((50, d.p50), (95, d.p95), (99, d.p99)):
        want = float(np.percentile(exact, q))
        assert abs(got - want) / want < 0.01, (q, got, want)


@pytest.mark.parametrize("q", [0.0, 0.01, 0.25, 0.5, 0.9, 0.999, 1.0])
def test_quantiles_of_small_samples(q: float) -> None:
    values = np.array([0.004, 0.02, 0.3, 7.0, 65.0, 650.0])
    b = np.sort(biased_indices(values))
    (got,) = quantiles(b, np.ones(len(b), dtype=np.int64), [q], float(values.min()), float(values.max()))
    want = float(np.percentile(values, q * 100))
    assert abs(got - want) / want < 0.01


def test_cardinality_overflow_goes_to_one_series() -> None:
    agg = Aggregator(max_series=2)
    calls = [make_call(i, 1.0, model=f"m{i}") for i in range(5)]
    result = agg.aggregate(calls, now=1.0)
    reg = agg.registry
    assert len(reg.ids) == 2
    assert reg.overflow_id == 2
    assert result.overflowed == 3
    rows = dict(zip(result.part.series.tolist(), result.part.counters[:, P.CALLS].tolist(), strict=True))
    assert rows == {0: 1, 1: 1, 2: 3}
    # known series keep their id; new ones keep overflowing
    again = agg.aggregate([make_call(9, 1.0, model="m0"), make_call(10, 1.0, model="m9")], now=2.0)
    assert again.part.series.tolist() == [0, 2]
    assert again.overflowed == 1


def test_exemplars_keep_the_slowest_calls_with_their_ids() -> None:
    agg = Aggregator(exemplars_per_series=2)
    agg.aggregate([make_call(1, 0.5), make_call(2, 9.0), make_call(3, 1.0)], now=1.0)
    agg.aggregate([make_call(4, 3.0), make_call(5, 0.1)], now=2.0)
    agg.aggregate([make_call(6, 12.0)], now=3.0)
    kept = agg.take_exemplars()
    (series,) = kept.values()
    assert sorted((e.value, e.trace_id, e.span_id) for e in series) == [
        (9.0, (2).to_bytes(16, "big"), (3).to_bytes(8, "big")),
        (12.0, (6).to_bytes(16, "big"), (7).to_bytes(8, "big")),
    ]
    assert agg.take_exemplars() == {}


def test_series_updates_for_subscribers() -> None:
    agg = Aggregator(pricer=pricer())
    updates = agg.aggregate(known_calls(), now=42.0, want_updates=True).updates
    by_model = {(u.labels["model"], u.labels["error_type"]): u for u in updates}
    ok = by_model[("test-model", "")]
    assert ok.time == 42.0
    assert (ok.calls, ok.errors, ok.input_tokens, ok.output_tokens, ok.cached_tokens) == (
        3,
        0,
        3010,
        300,
        1000,
    )
    assert sorted(ok.durations_s) == [0.5, 1.5, 3.0]
    assert list(ok.ttfts_s) == [0.1]
    assert list(ok.exemplars) == [((3).to_bytes(16, "big").hex(), (4).to_bytes(8, "big").hex())]
    assert list(by_model[("unpriced-model", "")].unpriced_models) == ["unpriced-model"]
    assert by_model[("test-model", "RateLimitError")].errors == 1


def test_dimensions_are_part_of_the_series_key() -> None:
    agg = Aggregator(dimensions=("deployment.environment",))
    calls = [make_call(1, 1.0), make_call(2, 1.0), make_call(3, 1.0)]
    agg.aggregate(calls, now=1.0, dims=[("prod",), ("dev",), ("prod",)])
    assert sorted(agg.registry.ids) == [
        ("svc", "test-provider", "test-model", "chat", "", "dev"),
        ("svc", "test-provider", "test-model", "chat", "", "prod"),
    ]
    groups = summarize(
        agg.registry,
        agg.aggregate(calls, now=2.0, dims=[("prod",)] * 3).part,
        "1m",
        ["deployment.environment"],
    )
    assert [(g.labels, g.calls) for g in groups] == [({"deployment.environment": "prod"}, 3)]


def test_summarize_rejects_unknown_labels() -> None:
    agg = Aggregator()
    part = agg.aggregate([make_call(1, 1.0)], now=1.0).part
    with pytest.raises(ValueError, match="unknown label"):
        summarize(agg.registry, part, "1m", ["nope"])
