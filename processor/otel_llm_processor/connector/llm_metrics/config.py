"""Config of the ``llm_metrics`` connector (what users write under ``connectors: llm_metrics:``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otel_llm_processor.config import Duration
from otel_llm_processor.services import SERIES_LABELS

__all__ = ["Config", "Dimension"]


class Dimension(BaseModel):
    """An extra series label: the span attribute ``name``, else the resource attribute, else ``default``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    default: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if value in SERIES_LABELS:
            raise ValueError(f"{value!r} is already a series label")
        return value


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dimensions: list[Dimension] = Field(default_factory=list)
    # Distinct series kept; calls of further series go to one series labelled otel.metric.overflow.
    max_series: int = Field(default=10_000, ge=1, le=1_000_000)
    flush_interval: Duration = 10.0
    temporality: Literal["cumulative", "delta"] = "cumulative"
    # Slowest calls kept per series and flush interval, sent as exemplars (0: none).
    exemplars_per_series: int = Field(default=4, ge=0, le=64)
    # Buckets of one exported exponential histogram point; beyond it the scale is lowered.
    max_buckets: int = Field(default=2048, ge=16, le=16_384)
    # Compute cost from the price table when the span carries none.
    compute_cost: bool = True
    # Processes that read spans off the event loop: 0 = in the event loop's process, "auto" = one
    # per core beyond the first (see connector/llm_metrics/workers.py).
    workers: int | Literal["auto"] = Field(default=0)
    # Under load (batches still being read while one is ready), ready batches are aggregated together,
    # at most this long after the first of them was ready (or once 32,768 calls wait): one vectorised
    # pass and one update per series instead of one per batch. A batch that arrives alone is
    # aggregated at once. 0: every batch on its own.
    aggregate_delay: Duration = 0.2

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 0 <= value <= 64:
            raise ValueError("must be 'auto' or between 0 and 64")
        return value

    @field_validator("flush_interval")
    @classmethod
    def _flush_interval(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be > 0")
        return value

    @field_validator("aggregate_delay")
    @classmethod
    def _aggregate_delay(cls, value: float) -> float:
        if not 0 <= value <= 5:
            raise ValueError("must be between 0 and 5 seconds")
        return value

    @field_validator("dimensions")
    @classmethod
    def _unique(cls, value: list[Dimension]) -> list[Dimension]:
        names = [d.name for d in value]
        if len(set(names)) != len(names):
            raise ValueError("dimension names must be unique")
        return value
