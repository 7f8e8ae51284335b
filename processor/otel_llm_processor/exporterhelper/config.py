"""Config blocks every queued exporter shares: ``sending_queue`` and ``retry_on_failure``.

Durations are seconds as numbers, or strings with a unit (``"500ms"``, ``"5s"``, ``"2m"``, ``"1h"``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from otel_llm_processor.config import parse_duration

__all__ = ["Duration", "QueueConfig", "RetryConfig", "parse_duration"]

# The service-wide duration syntax, never negative.
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class QueueConfig(BaseModel):
    """``sending_queue``: batches wait here between ``consume_*`` and the backend.

    ``storage: file`` keeps them in SQLite under ``<data_dir>/queues/<component id>/`` so that a
    backend outage or a restart loses nothing. Both bounds hold; a full queue refuses new batches
    with a retryable error (the receiver answers UNAVAILABLE / 503) instead of dropping them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    queue_size: int = Field(default=1000, gt=0, description="maximum batches queued (not yet acknowledged)")
    max_bytes: int = Field(default=256 * 1024 * 1024, gt=0, description="maximum encoded bytes queued")
    num_consumers: int = Field(default=10, gt=0, le=1000)
    storage: Literal["none", "file"] = "none"


class RetryConfig(BaseModel):
    """``retry_on_failure``: exponential backoff with full jitter; server throttling hints win.

    ``max_elapsed_time`` 0 retries forever (sensible with ``storage: file``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    initial_interval: Duration = 5.0
    max_interval: Duration = 30.0
    multiplier: float = Field(default=1.5, ge=1.0)
    max_elapsed_time: Duration = 300.0

    @field_validator("initial_interval")
    @classmethod
    def _initial(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be > 0")
        return value

    @field_validator("max_interval")
    @classmethod
    def _max(cls, value: float, info: ValidationInfo) -> float:
        initial = info.data.get("initial_interval")
        if initial is not None and value < initial:
            raise ValueError("must be >= initial_interval")
        return value
