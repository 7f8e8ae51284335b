from __future__ import annotations

import math

import pytest

from otel_llm_processor.processor.anomaly.detectors import (
    CompositeDetector,
    EwmaDetector,
    MadDetector,
    ThresholdDetector,
    TrendDetector,
    ZScoreDetector,
)


def run(detector, values, times=None):
    times = times or list(range(len(values)))
    return [detector.update(v, t) for v, t in zip(values, times, strict=True)]


def test_zscore_needs_min_points_then_scores_against_previous_values():
    det = ZScoreDetector(window=5, min_points=3, threshold=2.0)
    out = run(det, [1.0, 2.0, 3.0, 4.0, 10.0])
    assert out[:3] == [None, None, None]
    first = out[3]
    std = math.sqrt(2 / 3)  # population std of 1, 2, 3
    assert first is not None
    assert first.detector == "zscore"
    assert first.value == 4.0
    assert first.expected == 2.0
    assert first.score == pytest.approx(2.0 / std)
    assert first.severity == "WARNING"  # 2.449: >= 2 (threshold), < 3 (error = 1.5x)
    assert first.band == pytest.approx((2.0 - 2 * std, 2.0 + 2 * std))
    assert first.t == 3
    spike = out[4]
    assert spike is not None
    assert spike.expected == 2.5
    assert spike.score == pytest.approx(7.5 / math.sqrt(1.25))  # 6.708 >= 4 (critical = 2x)
    assert spike.severity == "CRITICAL"


def test_zscore_window_is_bounded_and_direction_filters():
    det = ZScoreDetector(window=3, min_points=3, threshold=2.0, direction="up")
    out = run(det, [100.0, 1.0, 2.0, 3.0, 0.0])
    assert out[3] is None  # mean 34.3 of [100,1,2]: 3.0 is far below but direction is up
    assert out[4] is None  # [1,2,3]: 0.0 is 2.45 sigma below, ignored for direction=up
    down = ZScoreDetector(window=3, min_points=3, threshold=2.0, direction="down")
    assert run(down, [1.0, 2.0, 3.0, 0.0])[3].severity == "WARNING"


def test_zscore_flat_history_gives_finite_huge_score():
    det = ZScoreDetector(window=4, min_points=3, threshold=3.0, min_relative_scale=0.0)
    out = run(det, [5.0, 5.0, 5.0, 5.0, 6.0])
    assert out[3] is None  # equal to the mean: score 0
    assert out[4] is not None and out[4].severity == "CRITICAL"
    assert math.isfinite(out[4].score) and out[4].score == pytest.approx(1e9)


def test_zscore_ignores_non_finite_values():
    det = ZScoreDetector(window=4, min_points=2, threshold=1.0)
    assert det.update(float("nan")) is None
    assert det.update(float("inf")) is None
    assert run(det, [1.0, 3.0]) == [None, None]  # nan/inf were not learned: still 2 points only
    assert det.update(2.0) is None  # mean 2, z 0


def test_mad_is_robust_to_one_past_outlier():
    det = MadDetector(window=7, min_points=5, threshold=3.5)
    out = run(det, [10.0, 11.0, 9.0, 1000.0, 10.0, 10.0, 25.0])
    # history before 25: [10, 11, 9, 1000, 10, 10] -> median 10; |x - 10| = 0,1,1,990,0,0 -> MAD 0.5
    hit = out[6]
    assert hit is not None
    assert hit.detector == "mad"
    assert hit.expected == 10.0
    assert hit.score == pytest.approx(15.0 / (1.4826 * 0.5))
    assert hit.severity == "CRITICAL"
    assert out[4] is None and out[5] is None  # 10 is the median
    z = ZScoreDetector(window=7, min_points=5, threshold=3.5)
    assert run(z, [10.0, 11.0, 9.0, 1000.0, 10.0, 10.0, 25.0])[6] is None  # the outlier masks it


def test_ewma_band_and_update():
    det = EwmaDetector(alpha=0.5, k=2.0, min_points=3)
    out = run(det, [10.0, 12.0, 10.0, 30.0])
    # mean/var after 10: (10, 0); after 12: diff 2, incr 1 -> mean 11, var 0.5*(0+2*1)=1
    # after 10: diff -1, incr -0.5 -> mean 10.5, var 0.5*(1+0.5)=0.75
    assert out[:3] == [None, None, None]
    hit = out[3]
    assert hit is not None
    assert hit.expected == 10.5
    assert hit.score == pytest.approx(19.5 / math.sqrt(0.75))
    assert hit.band == pytest.approx((10.5 - 2 * math.sqrt(0.75), 10.5 + 2 * math.sqrt(0.75)))
    assert hit.severity == "CRITICAL"


def test_trend_relative_slope_over_window():
    det = TrendDetector(window=5, min_points=5, threshold=0.5, direction="up")
    out = run(det, [10.0, 12.0, 14.0, 16.0, 18.0], times=[0, 10, 20, 30, 40])
    # slope 0.2 per second over 40 s = +8 on a mean of 14 -> 0.5714
    assert out[:4] == [None] * 4
    assert out[4] is not None
    assert out[4].score == pytest.approx(8 / 14)
    assert out[4].expected == 14.0
    assert out[4].severity == "WARNING"
    flat = TrendDetector(window=5, min_points=5, threshold=0.5)
    assert run(flat, [10.0, 11.0, 10.0, 11.0, 10.0])[4] is None
    falling = TrendDetector(window=5, min_points=5, threshold=0.5, direction="up")
    assert run(falling, [18.0, 16.0, 14.0, 12.0, 10.0])[4] is None


def test_threshold_above_and_below():
    det = ThresholdDetector(warning=0.1, critical=0.5)
    assert det.update(0.05) is None
    w = det.update(0.1)
    assert w is not None and w.severity == "WARNING" and w.score == 0.1 and w.band == (-math.inf, 0.1)
    assert det.update(0.7).severity == "CRITICAL"
    low = ThresholdDetector(warning=5.0, direction="below")
    assert low.update(6.0) is None
    assert low.update(5.0).severity == "WARNING"
    with pytest.raises(ValueError):
        ThresholdDetector(warning=0.5, critical=0.1)
    with pytest.raises(ValueError):
        ThresholdDetector()


def test_composite_k_of_n_and_weighted():
    def children():
        return [
            ThresholdDetector(warning=10.0, critical=20.0),
            ThresholdDetector(warning=15.0),
            ThresholdDetector(warning=100.0),
        ]

    comp = CompositeDetector(children(), mode="k_of_n", k=2)
    assert comp.update(12.0) is None  # one of three
    hit = comp.update(25.0)  # CRITICAL + WARNING
    assert hit is not None and hit.score == 2.0 and hit.severity == "WARNING" and hit.detector == "composite"
    weighted = CompositeDetector(children(), mode="weighted", weights=[0.5, 0.25, 1.0], threshold=0.75)
    assert weighted.update(12.0) is None  # 0.5
    hit = weighted.update(25.0)  # 0.75
    assert hit is not None and hit.score == 0.75 and hit.severity == "CRITICAL"
    with pytest.raises(ValueError):
        CompositeDetector(children(), k=4)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ZScoreDetector(window=1), "window"),
        (lambda: ZScoreDetector(window=5, min_points=6), "min_points"),
        (lambda: ZScoreDetector(direction="sideways"), "direction"),
        (lambda: EwmaDetector(alpha=0), "alpha"),
        (lambda: ZScoreDetector(threshold=3, error=2), "threshold <= error"),
    ],
)
def test_invalid_parameters(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


def test_relative_scale_floor_ignores_immaterial_wiggles_on_steady_series():
    # Default floor: the scale is at least 5 % of the level, so on a flat series at 5.0 a move to
    # 5.2 (+4 %) is no anomaly, while 6.0 scores (6 - 5) / 0.25 = 4 sigma.
    det = ZScoreDetector(window=4, min_points=3, threshold=3.0)
    assert run(det, [5.0, 5.0, 5.0, 5.2])[3] is None
    det = ZScoreDetector(window=4, min_points=3, threshold=3.0)
    hit = run(det, [5.0, 5.0, 5.0, 6.0])[3]
    assert hit is not None and hit.score == pytest.approx(4.0) and hit.severity == "WARNING"
    # The dashboard case: a TTFT p95 of 0.084 s moving to 0.090 s is not an incident.
    mad = MadDetector(window=10, min_points=5)
    assert run(mad, [0.084, 0.0841, 0.0839, 0.084, 0.0842, 0.090])[5] is None
    ewma = EwmaDetector(alpha=0.3, k=3.0, min_points=3)
    assert run(ewma, [0.084, 0.0841, 0.0839, 0.084, 0.090])[4] is None
    with pytest.raises(ValueError, match="min_relative_scale"):
        MadDetector(min_relative_scale=-1)
