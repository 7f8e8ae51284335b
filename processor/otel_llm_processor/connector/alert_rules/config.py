"""Config of the ``alert_rules`` connector (what users write under ``connectors: alert_rules:``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otel_llm_processor.connector.alert_rules.rules import Rule
from otel_llm_processor.processor.anomaly.config import Duration

__all__ = ["Config"]


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(default_factory=list)
    tick_interval: Duration = 1.0  # `for` durations and resolution; firing itself is event-driven
    max_series: int = Field(default=5000, ge=1)  # per (group_by, resolution) set of windows
    max_alerts: int = Field(default=10_000, ge=1)  # active alerts
    history: int = Field(default=500, ge=0)  # resolved alerts kept in memory for list_alerts
    queue_size: int = Field(default=10_000, ge=1)  # transitions waiting for notifiers and storage

    @field_validator("tick_interval")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be > 0")
        return value

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return rules
