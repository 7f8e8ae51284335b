"""Alert rules: the pydantic model users write (YAML or API) and its compiled, fast form.

A ``metric`` rule compares a derived metric (names in ``processor/anomaly/signals.py``, e.g.
``error_rate``, ``duration_s.p95``, ``cost_usd.per_min``, ``calls.per_min``) over a sliding
``window`` of each series (labels ``group_by``) with ``threshold``. An ``anomaly`` rule is true
while an anomaly that matches it (detector, metric, minimum severity, labels, optionally
``score <op> threshold``) was seen within ``window``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from otel_llm_processor.processor.anomaly.config import Duration
from otel_llm_processor.processor.anomaly.detectors import SEVERITIES, severity_rank
from otel_llm_processor.processor.anomaly.signals import DEFAULT_GROUP_BY, validate_metric

__all__ = ["CompiledRule", "Rule", "compile_rule", "parse_rule"]

Severity = Literal["INFO", "WARNING", "ERROR", "CRITICAL"]
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_OPS = {
    "gt": lambda v, t: v > t,
    "lt": lambda v, t: v < t,
    "eq": lambda v, t: math.isclose(v, t, rel_tol=1e-9, abs_tol=1e-12),
    "ne": lambda v, t: not math.isclose(v, t, rel_tol=1e-9, abs_tol=1e-12),
}


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    source: Literal["metric", "anomaly"] = "metric"
    metric: str | None = None  # metric rules: required; anomaly rules: optional filter
    op: Literal["gt", "lt", "eq", "ne"] = "gt"
    threshold: float | None = None  # metric rules: required; anomaly rules: compared with the score
    window: Duration = 60.0
    for_: Duration = Field(default=0.0, alias="for")
    severity: Severity | None = None  # default WARNING; anomaly rules: the anomaly's severity
    match: dict[str, str] = Field(default_factory=dict)  # exact label values
    match_re: dict[str, str] = Field(default_factory=dict)  # regular expressions, full match
    group_by: list[str] = Field(default_factory=lambda: list(DEFAULT_GROUP_BY))
    detectors: list[str] = Field(default_factory=list)  # anomaly rules: any of these detectors
    min_severity: Severity = "WARNING"  # anomaly rules
    min_calls: int = Field(default=1, ge=0)  # metric rules on ratios/percentiles/per-call values
    cooldown: Duration = 300.0  # after a resolve, the same series does not fire again sooner
    summary: str = ""  # templates: {rule} {metric} {value} {threshold} {op} and any label name
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)  # added to the alert's labels
    enabled: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("id must be 1-100 characters of letters, digits, '_', '.', ':' or '-'")
        return value

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("source", "metric") == "metric":
            validate_metric(value)
        return value

    @field_validator("match_re")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"match_re.{label}: invalid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.window <= 0:
            raise ValueError("window must be > 0")
        if self.source == "metric":
            if self.metric is None:
                raise ValueError("a metric rule needs 'metric'")
            if self.threshold is None:
                raise ValueError("a metric rule needs 'threshold'")
            if not self.group_by:
                raise ValueError("group_by must not be empty")
            outside = sorted((set(self.match) | set(self.match_re)) - set(self.group_by))
            if outside:
                raise ValueError(f"match labels {outside} are not in group_by {self.group_by}")
        return self


def parse_rule(data: Mapping[str, Any]) -> Rule:
    """A validated rule, or ``ValueError`` with one line per problem (``field: message``)."""
    try:
        return Rule.model_validate(dict(data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "rule"
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        rule_id = data.get("id", "?") if isinstance(data, Mapping) else "?"
        raise ValueError(f"invalid rule {rule_id!r}: " + "; ".join(problems)) from None


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    origin: str  # "config" | "api"
    op: Any
    regexes: tuple[tuple[str, re.Pattern[str]], ...]
    group_by: tuple[str, ...]
    resolution: float  # bucket width of the window (metric rules)
    min_rank: int

    @property
    def id(self) -> str:
        return self.rule.id

    def matches(self, labels: Mapping[str, str]) -> bool:
        for name, value in self.rule.match.items():
            if labels.get(name, "") != value:
                return False
        return all(rx.fullmatch(labels.get(name, "")) for name, rx in self.regexes)

    def condition(self, value: float | None) -> bool:
        threshold = self.rule.threshold
        if value is None:
            return False
        return True if threshold is None else bool(self.op(value, threshold))

    def accepts_anomaly(self, detector: str, metric: str, severity: str) -> bool:
        rule = self.rule
        if rule.detectors and detector not in rule.detectors:
            return False
        if rule.metric is not None and metric != rule.metric:
            return False
        return severity_rank(severity) >= self.min_rank

    def severity_for(self, anomaly_severity: str | None = None) -> str:
        if self.rule.severity is not None:
            return self.rule.severity
        if anomaly_severity in SEVERITIES:
            return str(anomaly_severity)
        return "WARNING"

    def render(self, template: str, labels: Mapping[str, str], value: float) -> str:
        rule = self.rule
        default = (
            f"{rule.id}: {rule.metric or 'anomaly'} {value:.4g} {rule.op} {rule.threshold:g}"
            if rule.threshold is not None
            else f"{rule.id}: {rule.metric or 'anomaly'} {value:.4g}"
        )
        if not template:
            return default
        fields = _Fields(labels)
        fields.update(
            rule=rule.id,
            metric=rule.metric or labels.get("metric", ""),
            value=_Number(value),
            op=rule.op,
            threshold="" if rule.threshold is None else _Number(rule.threshold),
        )
        try:
            return template.format_map(fields)
        except (ValueError, IndexError, AttributeError):
            return default


class _Number(float):
    """A value in a summary template: ``{value}`` prints 4 significant digits, ``{value:.0%}``
    or any other format spec applies as written."""

    def __format__(self, spec: str) -> str:
        return format(float(self), spec or ".4g")


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def compile_rule(rule: Rule, origin: str) -> CompiledRule:
    resolution = max(1.0, rule.window / 60.0)
    return CompiledRule(
        rule=rule,
        origin=origin,
        op=_OPS[rule.op],
        regexes=tuple((k, re.compile(v)) for k, v in rule.match_re.items()),
        group_by=tuple(rule.group_by),
        resolution=resolution,
        min_rank=severity_rank(rule.min_severity),
    )
