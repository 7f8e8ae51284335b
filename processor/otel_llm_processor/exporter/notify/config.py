"""Settings every notifier shares (``webhook``, ``slack``, ``pagerduty``, ``email``, ``alertmanager``).

.. code-block:: yaml

    exporters:
      slack/ops:
        webhook_url: https://hooks.slack.com/services/...   # type-specific settings
        states: [firing, resolved, acknowledged]           # transitions to deliver
        min_severity: WARNING
        trace_url_template: http://jaeger:16686/trace/{trace_id}
        dashboard_url: http://otel-llm:8080/
        timeout_s: 10
        retry: {initial_interval_s: 1, max_interval_s: 60, multiplier: 2, jitter: 0.2, max_age_s: 86400}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["SEVERITIES", "NotifierConfig", "RetryConfig"]

SEVERITIES = ("INFO", "WARNING", "ERROR", "CRITICAL")
State = Literal["pending", "firing", "resolved", "acknowledged", "silenced"]
Severity = Literal["INFO", "WARNING", "ERROR", "CRITICAL"]
_DEFAULT_STATES: tuple[State, ...] = ("firing", "resolved", "acknowledged")


class RetryConfig(BaseModel):
    """Exponential backoff with jitter for transient failures; entries older than ``max_age_s`` are dropped."""

    model_config = ConfigDict(extra="forbid")

    initial_interval_s: float = Field(default=1.0, gt=0)
    max_interval_s: float = Field(default=60.0, gt=0)
    multiplier: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0)
    max_age_s: float = Field(default=86400.0, gt=0)


class NotifierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    states: list[State] = Field(default_factory=lambda: list(_DEFAULT_STATES))
    min_severity: Severity = "INFO"
    trace_url_template: str = Field(default="", description="e.g. http://jaeger:16686/trace/{trace_id}")
    dashboard_url: str = ""
    timeout_s: float = Field(default=10.0, gt=0)
    poll_interval_s: float = Field(
        default=1.0, gt=0, description="how often retries and other replicas' entries are checked"
    )
    batch_size: int = Field(default=50, ge=1, le=1000)
    max_pending: int = Field(
        default=10_000, ge=1, description="events held in memory while storage is unavailable"
    )
    retry: RetryConfig = Field(default_factory=RetryConfig)

    @field_validator("trace_url_template")
    @classmethod
    def _check_template(cls, value: str) -> str:
        if value and "{trace_id}" not in value:
            raise ValueError("trace_url_template must contain {trace_id}")
        try:
            value.format(trace_id="0", span_id="0")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"trace_url_template: only {{trace_id}} and {{span_id}} may be used ({exc})"
            ) from None
        return value
