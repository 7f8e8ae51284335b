"""Helpers for notifier tests: sample alert events, a host, and polling with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from otel_llm_processor.component import ComponentID, ComponentKind, CreateSettings, Host
from otel_llm_processor.selftel import SelfTelemetry
from otel_llm_processor.services import AlertEvent

__all__ = ["alert_event", "create_settings", "eventually", "host_with"]

T0 = 1_760_000_000.0  # 2025-10-09T08:53:20Z


def alert_event(state: str = "firing", **overrides: Any) -> AlertEvent:
    fields: dict[str, Any] = {
        "alert_id": "alert-1",
        "rule": "HighErrorRate",
        "dedup_key": "HighErrorRate/svc/gpt-4o",
        "state": state,
        "severity": "ERROR",
        "summary": "error rate 42% on gpt-4o",
        "description": "error_rate 0.42 > 0.1 for 1m",
        "labels": {"service": "checkout", "model": "gpt-4o", "provider": "openai"},
        "value": 0.42,
        "threshold": 0.1,
        "starts_at": T0,
        "updated_at": T0 + (0 if state == "firing" else 120),
        "ends_at": T0 + 120 if state == "resolved" else None,
        "exemplars": (("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"),),
    }
    fields.update(overrides)
    return AlertEvent(**fields)


def create_settings(component: str, telemetry: SelfTelemetry) -> CreateSettings:
    return CreateSettings(id=ComponentID.parse(component), kind=ComponentKind.EXPORTER, telemetry=telemetry)


def host_with(telemetry: SelfTelemetry, data_dir: str, services: Mapping[str, Any] | None = None) -> Host:
    return Host(telemetry, data_dir, dict(services or {}))


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], timeout: float = 20.0
) -> None:
    """Poll ``check`` (sync or async) until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)
