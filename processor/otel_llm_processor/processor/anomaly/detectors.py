"""Streaming anomaly detectors: one value at a time, bounded numpy state, no I/O.

Every detector has ``update(value, t) -> Detection | None``: it scores ``value`` (observed at unix
time ``t``) against what it learned from the values *before* it, then learns ``value``. Anomalous
values are learned too, so a lasting level shift stops alerting after about one window (the new
normal) instead of alerting forever.

``direction`` is ``"both"``, ``"up"`` (only higher than expected is anomalous: latency, cost) or
``"down"`` (request rate drops). Scores are non-negative; severity follows the score: at least
``threshold`` -> WARNING, ``error`` -> ERROR, ``critical`` -> CRITICAL (by default ``error`` is
1.5x and ``critical`` 2x the threshold).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = [
    "SEVERITIES",
    "CompositeDetector",
    "Detection",
    "Detector",
    "EwmaDetector",
    "MadDetector",
    "ThresholdDetector",
    "TrendDetector",
    "ZScoreDetector",
    "severity_rank",
]

SEVERITIES = ("INFO", "WARNING", "ERROR", "CRITICAL")
_RANK = {name: i for i, name in enumerate(SEVERITIES)}
_DIRECTIONS = ("both", "up", "down")
# Scale floor for a perfectly flat history (std or MAD of 0): any departure then scores huge
# but finite, so scores stay JSON-able.
_MIN_SCALE = 1e-9
# Default relative scale floor: on a very steady series (a p95 that moves by 1 %), std or MAD is
# tiny and an immaterial wiggle would score as critical. The scale is at least this fraction of
# the level (|centre|), so a departure must also be material relative to what is normal.
MIN_RELATIVE_SCALE = 0.05


def severity_rank(severity: str) -> int:
    return _RANK.get(severity.upper(), -1)


@dataclass(frozen=True, slots=True)
class Detection:
    value: float
    expected: float | None
    band: tuple[float, float] | None
    score: float
    severity: str
    detector: str
    t: float = 0.0


class Detector(Protocol):
    name: str
    last_score: float  # score of the latest value (0 until the detector has enough history)

    def update(self, value: float, t: float = 0.0) -> Detection | None: ...


def _check_direction(direction: str) -> str:
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
    return direction


class _Levels:
    """Score -> severity with three cut points; unset ones are 1.5x and 2x the threshold."""

    def __init__(self, threshold: float, error: float | None, critical: float | None) -> None:
        if threshold <= 0:
            raise ValueError("threshold must be > 0")
        self.threshold = threshold
        self.critical = critical if critical is not None else 2.0 * threshold
        self.error = error if error is not None else min(1.5 * threshold, self.critical)
        if not threshold <= self.error <= self.critical:
            raise ValueError("need threshold <= error <= critical")

    def severity(self, score: float) -> str | None:
        if score >= self.critical:
            return "CRITICAL"
        if score >= self.error:
            return "ERROR"
        if score >= self.threshold:
            return "WARNING"
        return None


class _Ring:
    """The last ``size`` floats, oldest first on read."""

    __slots__ = ("_buf", "_n", "_pos")

    def __init__(self, size: int) -> None:
        if size < 2:
            raise ValueError("window must be >= 2")
        self._buf = np.zeros(size, dtype=np.float64)
        self._n = 0
        self._pos = 0

    def __len__(self) -> int:
        return self._n

    def push(self, value: float) -> None:
        self._buf[self._pos] = value
        self._pos = (self._pos + 1) % len(self._buf)
        self._n = min(self._n + 1, len(self._buf))

    def values(self) -> np.ndarray:
        if self._n < len(self._buf):
            return self._buf[: self._n]
        return np.roll(self._buf, -self._pos)


def _signed_ok(deviation: float, direction: str) -> bool:
    return direction == "both" or (deviation > 0 if direction == "up" else deviation < 0)


class _Scaled:
    """Shared shape of the z-score and MAD detectors: score = |value - centre| / scale."""

    name = ""
    default_threshold = 3.0

    def __init__(
        self,
        window: int = 60,
        min_points: int = 10,
        threshold: float | None = None,
        error: float | None = None,
        critical: float | None = None,
        direction: str = "both",
        min_relative_scale: float = MIN_RELATIVE_SCALE,
    ) -> None:
        """``threshold`` (WARNING level, in scale units) defaults to the class's ``default_threshold``."""
        if threshold is None:
            threshold = self.default_threshold
        if min_points < 2 or min_points > window:
            raise ValueError("min_points must be between 2 and window")
        if min_relative_scale < 0:
            raise ValueError("min_relative_scale must be >= 0")
        self.min_relative_scale = min_relative_scale
        self.window = window
        self.min_points = min_points
        self.levels = _Levels(threshold, error, critical)
        self.direction = _check_direction(direction)
        self._ring = _Ring(window)
        self.last_score = 0.0

    def _centre_scale(self, history: np.ndarray) -> tuple[float, float]:
        raise NotImplementedError

    def update(self, value: float, t: float = 0.0) -> Detection | None:
        value = float(value)
        if not math.isfinite(value):
            return None
        found = None
        if len(self._ring) >= self.min_points:
            centre, scale = self._centre_scale(self._ring.values())
            scale = max(scale, self.min_relative_scale * abs(centre), _MIN_SCALE)
            deviation = value - centre
            score = abs(deviation) / scale
            self.last_score = score if _signed_ok(deviation, self.direction) else 0.0
            severity = self.levels.severity(score)
            if severity is not None and _signed_ok(deviation, self.direction):
                half = self.levels.threshold * scale
                found = Detection(
                    value, centre, (centre - half, centre + half), score, severity, self.name, t
                )
        self._ring.push(value)
        return found


class ZScoreDetector(_Scaled):
    """Rolling z-score: (value - mean) / std over the last ``window`` values (population std)."""

    name = "zscore"
    default_threshold = 3.0

    def _centre_scale(self, history: np.ndarray) -> tuple[float, float]:
        return float(history.mean()), float(history.std())


class MadDetector(_Scaled):
    """Robust z-score: (value - median) / (1.4826 * MAD), insensitive to past outliers."""

    name = "mad"
    default_threshold = 3.5

    def _centre_scale(self, history: np.ndarray) -> tuple[float, float]:
        median = float(np.median(history))
        mad = float(np.median(np.abs(history - median)))
        return median, 1.4826 * mad


class EwmaDetector:
    """Exponentially weighted mean and variance; anomalous outside mean +/- k * std.

    Score is |value - mean| / std (so ``k`` is the WARNING threshold). Needs ``min_points`` values
    before it scores. O(1) state.
    """

    name = "ewma"

    def __init__(
        self,
        alpha: float = 0.3,
        k: float = 3.0,
        min_points: int = 5,
        error: float | None = None,
        critical: float | None = None,
        direction: str = "both",
        min_relative_scale: float = MIN_RELATIVE_SCALE,
    ) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        if min_relative_scale < 0:
            raise ValueError("min_relative_scale must be >= 0")
        self.min_relative_scale = min_relative_scale
        if min_points < 1:
            raise ValueError("min_points must be >= 1")
        self.alpha = alpha
        self.levels = _Levels(k, error, critical)
        self.min_points = min_points
        self.direction = _check_direction(direction)
        self._mean = 0.0
        self._var = 0.0
        self._n = 0
        self.last_score = 0.0

    def update(self, value: float, t: float = 0.0) -> Detection | None:
        value = float(value)
        if not math.isfinite(value):
            return None
        found = None
        if self._n >= self.min_points:
            scale = max(math.sqrt(self._var), self.min_relative_scale * abs(self._mean), _MIN_SCALE)
            deviation = value - self._mean
            score = abs(deviation) / scale
            self.last_score = score if _signed_ok(deviation, self.direction) else 0.0
            severity = self.levels.severity(score)
            if severity is not None and _signed_ok(deviation, self.direction):
                half = self.levels.threshold * scale
                band = (self._mean - half, self._mean + half)
                found = Detection(value, self._mean, band, score, severity, self.name, t)
        if self._n == 0:
            self._mean = value
        else:
            diff = value - self._mean
            incr = self.alpha * diff
            self._mean += incr
            self._var = (1 - self.alpha) * (self._var + diff * incr)
        self._n += 1
        return found


class TrendDetector:
    """Least-squares slope over the last ``window`` points (by time), relative to their mean.

    Score = |slope * (t_last - t_first)| / |mean|: the fitted change across the window as a
    fraction of the level (0.5 = the series drifted by half its mean). ``expected`` is the mean.
    """

    name = "trend"

    def __init__(
        self,
        window: int = 30,
        min_points: int = 10,
        threshold: float = 0.5,
        error: float | None = None,
        critical: float | None = None,
        direction: str = "up",
    ) -> None:
        if min_points < 3 or min_points > window:
            raise ValueError("min_points must be between 3 and window")
        self.min_points = min_points
        self.levels = _Levels(threshold, error, critical)
        self.direction = _check_direction(direction)
        self._values = _Ring(window)
        self._times = _Ring(window)
        self.last_score = 0.0

    def update(self, value: float, t: float = 0.0) -> Detection | None:
        value = float(value)
        if not math.isfinite(value):
            return None
        self._values.push(value)
        self._times.push(float(t))
        if len(self._values) < self.min_points:
            return None
        ys = self._values.values()
        xs = self._times.values()
        xs = xs - xs[0]
        span = float(xs[-1])
        mean = float(ys.mean())
        if span <= 0 or mean == 0:
            return None
        dx = xs - xs.mean()
        denom = float((dx * dx).sum())
        if denom == 0:
            return None
        slope = float((dx * (ys - mean)).sum()) / denom
        change = slope * span
        score = abs(change) / abs(mean)
        self.last_score = score if _signed_ok(change, self.direction) else 0.0
        severity = self.levels.severity(score)
        if severity is None or not _signed_ok(change, self.direction):
            return None
        return Detection(value, mean, None, score, severity, self.name, t)


class ThresholdDetector:
    """Static limits: ``above`` (value >= limit) or ``below`` (value <= limit).

    Score is the value itself; ``expected`` is None, the band is the allowed side of ``warning``.
    """

    name = "threshold"

    def __init__(
        self, warning: float | None = None, critical: float | None = None, direction: str = "above"
    ) -> None:
        if direction not in ("above", "below"):
            raise ValueError("threshold direction must be 'above' or 'below'")
        if warning is None and critical is None:
            raise ValueError("threshold needs warning or critical")
        if warning is not None and critical is not None:
            ordered = warning <= critical if direction == "above" else warning >= critical
            if not ordered:
                raise ValueError(f"warning must be on the normal side of critical for '{direction}'")
        self.warning = warning
        self.critical = critical
        self.direction = direction
        self.last_score = 0.0

    def _breaches(self, value: float, limit: float | None) -> bool:
        if limit is None:
            return False
        return value >= limit if self.direction == "above" else value <= limit

    def update(self, value: float, t: float = 0.0) -> Detection | None:
        value = float(value)
        if not math.isfinite(value):
            return None
        self.last_score = value
        if self._breaches(value, self.critical):
            severity = "CRITICAL"
        elif self._breaches(value, self.warning):
            severity = "WARNING"
        else:
            return None
        limit = self.warning if self.warning is not None else self.critical
        assert limit is not None
        band = (-math.inf, limit) if self.direction == "above" else (limit, math.inf)
        return Detection(value, None, band, value, severity, self.name, t)


class CompositeDetector:
    """Combines children that all see every value.

    ``mode="k_of_n"``: fires when at least ``k`` children fire; severity is the k-th highest of
    theirs (what k detectors agree on); score is the number of children that fired.
    ``mode="weighted"``: fires when the summed weights of firing children reach ``threshold``;
    score is that sum; severity is the highest among firing children. ``expected`` and ``band``
    come from the first firing child that has them.
    """

    name = "composite"

    def __init__(
        self,
        children: Sequence[Detector],
        mode: str = "k_of_n",
        k: int = 2,
        weights: Sequence[float] | None = None,
        threshold: float = 1.0,
    ) -> None:
        if not children:
            raise ValueError("composite needs at least one child detector")
        if mode not in ("k_of_n", "weighted"):
            raise ValueError("composite mode must be 'k_of_n' or 'weighted'")
        if mode == "k_of_n" and not 1 <= k <= len(children):
            raise ValueError(f"k must be between 1 and {len(children)}")
        if weights is not None and len(weights) != len(children):
            raise ValueError("weights must have one entry per child")
        self.children = list(children)
        self.mode = mode
        self.k = k
        self.weights = list(weights) if weights is not None else [1.0] * len(children)
        self.threshold = threshold
        self.last_score = 0.0

    def update(self, value: float, t: float = 0.0) -> Detection | None:
        fired: list[tuple[int, Detection]] = []
        for i, child in enumerate(self.children):
            found = child.update(value, t)
            if found is not None:
                fired.append((i, found))
        if self.mode == "k_of_n":
            self.last_score = float(len(fired))
        else:
            self.last_score = float(sum(self.weights[i] for i, _ in fired))
        if not fired:
            return None
        ranks = sorted((severity_rank(d.severity) for _, d in fired), reverse=True)
        if self.mode == "k_of_n":
            if len(fired) < self.k:
                return None
            score = float(len(fired))
            severity = SEVERITIES[ranks[self.k - 1]]
        else:
            score = float(sum(self.weights[i] for i, _ in fired))
            if score < self.threshold:
                return None
            severity = SEVERITIES[ranks[0]]
        ref = next((d for _, d in fired if d.expected is not None), fired[0][1])
        return Detection(float(value), ref.expected, ref.band, score, severity, self.name, t)
