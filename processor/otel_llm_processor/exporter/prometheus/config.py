"""Config of the ``prometheus`` exporter (what users write under ``exporters: prometheus[/name]:``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otel_llm_processor.config import Duration

__all__ = ["DEFAULT_BUCKETS", "Config"]

# Explicit bounds that exponential histograms are converted to, by OTLP unit ("default": others).
# Seconds: LLM latencies, 5 ms to 10 min (never a 10 s top bucket); tokens: powers of 4 as in the
# GenAI semantic conventions' advisory buckets.
DEFAULT_BUCKETS: dict[str, list[float]] = {
    "s": [
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1,
        2,
        3,
        5,
        7.5,
        10,
        15,
        20,
        30,
        45,
        60,
        90,
        120,
        180,
        300,
        600,
    ],
    "ms": [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000, 600000],
    "{token}": [float(4**i) for i in range(14)],
    "default": [0.001, 0.01, 0.1, 1, 10, 100, 1000, 10000, 100000, 1000000],
}


class Config(BaseModel):
    """Without ``endpoint`` the metrics are served only by the API's ``/metrics``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str | None = None  # host:port of an own /metrics server, e.g. 127.0.0.1:9464
    namespace: str = ""  # prefix of every metric name (not of the self-telemetry)
    buckets: dict[str, list[float]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_BUCKETS.items()}
    )
    max_series: int = Field(default=100_000, ge=1)
    metric_expiration: Duration = 300.0  # a series not updated for this long disappears (0: never)
    self_telemetry: bool = True  # also expose otel_llm_processor_* counters

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be host:port, e.g. 127.0.0.1:9464")
        return value

    @field_validator("buckets")
    @classmethod
    def _buckets(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        merged = {k: list(v) for k, v in DEFAULT_BUCKETS.items()}
        for unit, bounds in value.items():
            if not bounds:
                raise ValueError(f"{unit}: needs at least one bound")
            if any(b >= a for a, b in zip(bounds[1:], bounds, strict=False)) or any(
                b != b or b in (float("inf"), float("-inf")) for b in bounds
            ):
                raise ValueError(f"{unit}: bounds must be finite and strictly increasing")
            merged[unit] = list(bounds)
        return merged

    def bounds_for(self, unit: str) -> list[float]:
        return self.buckets.get(unit) or self.buckets["default"]
