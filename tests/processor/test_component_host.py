from __future__ import annotations

from typing import Any

from otel_llm_processor.component import ComponentID, Host
from otel_llm_processor.selftel import SelfTelemetry


def test_on_service_runs_now_or_when_published() -> None:
    host = Host(SelfTelemetry(), "/tmp", {"early": "E"})
    seen: list[tuple[str, Any]] = []
    host.on_service("early", lambda s: seen.append(("early", s)))
    assert seen == [("early", "E")]
    host.on_service("late", lambda s: seen.append(("late1", s)))
    host.on_service("late", lambda s: seen.append(("late2", s)))
    assert seen == [("early", "E")]
    host.services["late"] = "L"
    assert seen == [("early", "E"), ("late1", "L"), ("late2", "L")]
    host.services["late"] = "L2"  # callbacks run once, on the first publication
    assert len(seen) == 3 and host.service("late") == "L2"


def test_component_id_round_trip() -> None:
    assert ComponentID.parse("otlp/jaeger") == ComponentID("otlp", "jaeger")
    assert str(ComponentID.parse("otlp")) == "otlp"


def test_every_way_of_publishing_notifies_waiters() -> None:
    host = Host(SelfTelemetry(), "/tmp")
    seen: list[Any] = []
    for name in ("a", "b"):
        host.on_service(name, seen.append)
    assert host.services.setdefault("a", "A") == "A"
    assert host.services.setdefault("a", "other") == "A"  # already there: unchanged, no callback
    host.services.update(b="B")
    assert seen == ["A", "B"]
