"""AlertEvent <-> JSON (the outbox payload), and the pieces every message format shows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from otel_llm_processor.services import AlertEvent

__all__ = ["event_from_dict", "event_to_dict", "rfc3339", "trace_links"]

PAYLOAD_VERSION = 1


def event_to_dict(event: AlertEvent) -> dict[str, Any]:
    return {
        "alert_id": event.alert_id,
        "rule": event.rule,
        "dedup_key": event.dedup_key,
        "state": event.state,
        "severity": event.severity,
        "summary": event.summary,
        "description": event.description,
        "labels": dict(event.labels),
        "annotations": dict(event.annotations),
        "value": event.value,
        "threshold": event.threshold,
        "starts_at": event.starts_at,
        "updated_at": event.updated_at,
        "ends_at": event.ends_at,
        "exemplars": [list(pair) for pair in event.exemplars],
    }


def event_from_dict(data: Mapping[str, Any]) -> AlertEvent:
    return AlertEvent(
        alert_id=str(data["alert_id"]),
        rule=str(data["rule"]),
        dedup_key=str(data["dedup_key"]),
        state=str(data["state"]),
        severity=str(data["severity"]),
        summary=str(data.get("summary", "")),
        description=str(data.get("description", "")),
        labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
        value=float(data.get("value", 0.0)),
        threshold=None if data.get("threshold") is None else float(data["threshold"]),
        starts_at=float(data["starts_at"]),
        updated_at=float(data["updated_at"]),
        ends_at=None if data.get("ends_at") is None else float(data["ends_at"]),
        exemplars=tuple((str(t), str(s)) for t, s in data.get("exemplars") or ()),
        annotations={str(k): str(v) for k, v in (data.get("annotations") or {}).items()},
    )


def rfc3339(unix_seconds: float) -> str:
    """UTC, millisecond precision, ``Z`` suffix (what Alertmanager and PagerDuty accept)."""
    moment = dt.datetime.fromtimestamp(unix_seconds, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def trace_links(event: AlertEvent, template: str, limit: int = 5) -> list[tuple[str, str]]:
    """``(trace_id, url)`` of the event's example traces; no URL when no template is configured."""
    links = []
    for trace_id, span_id in event.exemplars[:limit]:
        links.append((trace_id, template.format(trace_id=trace_id, span_id=span_id) if template else ""))
    return links
