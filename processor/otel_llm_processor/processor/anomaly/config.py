"""Config of the ``anomaly`` processor (what users write under ``processors: anomaly:``)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from otel_llm_processor.processor.anomaly import detectors as d
from otel_llm_processor.processor.anomaly.signals import DEFAULT_GROUP_BY, validate_metric

__all__ = [
    "BudgetConfig",
    "BurnRateConfig",
    "Config",
    "DetectorConfig",
    "Duration",
    "MetricConfig",
    "RunawayConfig",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}
Severity = Literal["INFO", "WARNING", "ERROR", "CRITICAL"]


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string like ``"500ms"``, ``"10s"``, ``"5m"``, ``"1h"``, ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError("expected a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"invalid duration {value!r} (e.g. 30, '30s', '5m', '1h', '1d')")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds < 0:
        raise ValueError("duration must be >= 0")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DetectorConfig(_Model):
    """One detector; only the fields of its ``type`` apply (see ``detectors.py`` for defaults)."""

    type: Literal["zscore", "mad", "ewma", "trend", "threshold", "composite"]
    window: int | None = None
    min_points: int | None = None
    threshold: float | None = None
    error: float | None = None
    critical: float | None = None
    direction: str | None = None
    min_relative_scale: float | None = None  # zscore, mad, ewma: scale floor as a fraction of the level
    alpha: float | None = None  # ewma
    k: float | None = None  # ewma band (std multiples); composite: how many children must fire
    warning: float | None = None  # threshold
    mode: Literal["k_of_n", "weighted"] | None = None  # composite
    weights: list[float] | None = None  # composite
    children: list[DetectorConfig] = Field(default_factory=list)  # composite

    @model_validator(mode="after")
    def _buildable(self) -> DetectorConfig:
        self.build()  # surface parameter errors at config time
        return self

    def build(self) -> d.Detector:
        kw: dict[str, Any] = {}
        names = {
            "zscore": (
                "window",
                "min_points",
                "threshold",
                "error",
                "critical",
                "direction",
                "min_relative_scale",
            ),
            "mad": (
                "window",
                "min_points",
                "threshold",
                "error",
                "critical",
                "direction",
                "min_relative_scale",
            ),
            "trend": ("window", "min_points", "threshold", "error", "critical", "direction"),
            "ewma": ("alpha", "k", "min_points", "error", "critical", "direction", "min_relative_scale"),
            "threshold": ("warning", "critical", "direction"),
        }
        if self.type == "composite":
            comp: dict[str, Any] = {"children": [c.build() for c in self.children]}
            if self.mode is not None:
                comp["mode"] = self.mode
            if self.k is not None:
                comp["k"] = int(self.k)
            if self.weights is not None:
                comp["weights"] = self.weights
            if self.threshold is not None:
                comp["threshold"] = self.threshold
            return d.CompositeDetector(**comp)
        for name in names[self.type]:
            value = getattr(self, name)
            if value is not None:
                kw[name] = value
        cls = {
            "zscore": d.ZScoreDetector,
            "mad": d.MadDetector,
            "trend": d.TrendDetector,
            "ewma": d.EwmaDetector,
            "threshold": d.ThresholdDetector,
        }[self.type]
        detector: d.Detector = cls(**kw)
        return detector


class MetricConfig(_Model):
    """Detectors for one derived metric (names in ``signals.py``), on every series or matching ones."""

    metric: str
    detectors: list[DetectorConfig] = Field(min_length=1)
    match: dict[str, str] = Field(default_factory=dict)  # exact label values
    min_calls: int = Field(default=1, ge=0)  # ticks with fewer calls are skipped (ratios, percentiles)

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        return validate_metric(value)


class BurnRateConfig(_Model):
    """Spend over ``window`` at ``factor`` times the pace that would exactly use the budget."""

    window: Duration
    factor: float = Field(gt=0)
    severity: Severity = "ERROR"


def _default_alert_at() -> dict[float, Severity]:
    return {0.8: "WARNING", 1.0: "CRITICAL"}


class BudgetConfig(_Model):
    name: str = Field(min_length=1)
    scope: Literal["all", "service", "user", "tenant"] = "service"
    resource: Literal["cost_usd", "tokens"] = "cost_usd"
    limit: float = Field(gt=0)
    window: Duration = 86400.0  # budget period (aligned to multiples of it in unix time)
    alert_at: dict[float, Severity] = Field(default_factory=_default_alert_at)
    burn_rates: list[BurnRateConfig] = Field(
        default_factory=lambda: [
            BurnRateConfig(window=3600, factor=14.4, severity="CRITICAL"),
            BurnRateConfig(window=21600, factor=6.0, severity="ERROR"),
        ]
    )
    match: dict[str, str] = Field(default_factory=dict)  # service / provider / model / user / tenant
    top_k: int = Field(default=100, ge=1, le=100_000)  # keys tracked per period (heavy hitters)

    @model_validator(mode="after")
    def _windows(self) -> BudgetConfig:
        if self.window <= 0:
            raise ValueError("window must be > 0")
        for burn in self.burn_rates:
            if not 0 < burn.window <= self.window:
                raise ValueError("burn_rates[].window must be > 0 and <= the budget window")
        return self


class RunawayConfig(_Model):
    """Per-trace limits (agent loops); a trace is forgotten after ``idle`` seconds without calls."""

    enabled: bool = True
    max_calls: int | None = Field(default=50, ge=1)
    max_tokens: int | None = Field(default=500_000, ge=1)
    max_cost_usd: float | None = Field(default=10.0, gt=0)
    max_traces: int = Field(default=10_000, ge=1)
    idle: Duration = 900.0


def _default_metrics() -> list[MetricConfig]:
    rows: list[dict[str, Any]] = [
        {"metric": "duration_s.p95", "detectors": [{"type": "mad", "threshold": 5.0, "direction": "up"}]},
        {"metric": "ttft_s.p95", "detectors": [{"type": "mad", "threshold": 5.0, "direction": "up"}]},
        {
            "metric": "error_rate",
            "min_calls": 5,
            "detectors": [{"type": "threshold", "warning": 0.1, "critical": 0.5}],
        },
        {
            "metric": "cost_usd.per_min",
            "detectors": [{"type": "ewma", "alpha": 0.2, "k": 4.0, "min_points": 10, "direction": "up"}],
        },
        {"metric": "tokens.per_call", "detectors": [{"type": "mad", "threshold": 6.0, "direction": "up"}]},
        {"metric": "calls.per_min", "detectors": [{"type": "zscore", "threshold": 4.0, "critical": 8.0}]},
    ]
    return [MetricConfig.model_validate(row) for row in rows]


class Config(_Model):
    evaluation_interval: Duration = 10.0  # event-time tick; each series is evaluated once per tick
    group_by: list[str] = Field(default_factory=lambda: list(DEFAULT_GROUP_BY))
    metrics: list[MetricConfig] = Field(default_factory=_default_metrics)
    budgets: list[BudgetConfig] = Field(default_factory=list)
    runaway: RunawayConfig = Field(default_factory=lambda: RunawayConfig())
    unpriced_models: bool = True
    max_series: int = Field(default=2000, ge=1)
    max_anomalies: int = Field(default=1000, ge=1)  # in-memory ring for the API
    repeat_interval: Duration = 300.0  # same series+metric+detector is not re-raised sooner (unless worse)
    exemplars: int = Field(default=5, ge=0, le=50)
    queue_size: int = Field(default=10_000, ge=1)  # anomalies waiting for storage

    @field_validator("evaluation_interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be > 0")
        return value
