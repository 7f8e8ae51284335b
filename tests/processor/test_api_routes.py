"""REST API routes over small in-memory stand-ins of the services (contract: services.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import pytest

from otel_llm_processor.api.app import create_app
from otel_llm_processor.component import Host
from otel_llm_processor.model.llm_call import LlmCall
from otel_llm_processor.selftel import SelfTelemetry
from otel_llm_processor.services import Anomaly, GroupSummary, SeriesUpdate, Summary


class FakeView:
    def __init__(self) -> None:
        self.recorded: list[LlmCall] = []
        self.subscribers: list[Callable[[Sequence[SeriesUpdate]], None]] = []
        self.last_query: tuple[str, Sequence[str], Mapping[str, str] | None] | None = None

    def summarize(
        self, window: str, group_by: Sequence[str] = (), where: Mapping[str, str] | None = None
    ) -> list[GroupSummary]:
        self.last_query = (window, list(group_by), where)
        s = Summary(count=4, sum=2.0, avg=0.5, min=0.1, max=1.0, p50=0.4, p95=0.9, p99=1.0)
        labels = {"model": "gpt-4o"} if "model" in group_by else {}
        return [GroupSummary(labels, window, 4, 1, 100, 50, 10, 0.25, {"duration_s": s})]

    def subscribe(self, callback: Callable[[Sequence[SeriesUpdate]], None]) -> None:
        self.subscribers.append(callback)

    def subscribe_calls(self, callback: Callable[[Sequence[LlmCall]], None]) -> None:
        pass

    async def record_calls(self, calls: Sequence[LlmCall]) -> None:
        self.recorded.extend(calls)


class FakeAlerts:
    def __init__(self) -> None:
        self.alerts: dict[str, dict[str, Any]] = {
            "a1": {"id": "a1", "rule": "errors", "state": "firing", "severity": "ERROR", "summary": "x"}
        }
        self.rules: dict[str, dict[str, Any]] = {}

    def list_alerts(self, state: str | None = None) -> list[dict[str, Any]]:
        return [a for a in self.alerts.values() if state is None or a["state"] == state]

    async def acknowledge(self, alert_id: str, by: str = "") -> dict[str, Any]:
        self.alerts[alert_id]["state"] = "acknowledged"  # KeyError -> 404
        return self.alerts[alert_id]

    async def resolve(self, alert_id: str, by: str = "") -> dict[str, Any]:
        if self.alerts[alert_id]["state"] == "resolved":
            raise ValueError("already resolved")
        self.alerts[alert_id]["state"] = "resolved"
        return self.alerts[alert_id]

    async def silence(self, matchers: Mapping[str, str], until: float, by: str = "") -> str:
        return "s1"

    def list_rules(self) -> list[dict[str, Any]]:
        return list(self.rules.values())

    async def put_rule(self, rule: Mapping[str, Any]) -> dict[str, Any]:
        if "metric" not in rule:
            raise ValueError("rule.metric: field required")
        saved = {"id": rule.get("id", f"r{len(self.rules) + 1}"), **rule}
        self.rules[saved["id"]] = saved
        return saved

    async def delete_rule(self, rule_id: str) -> bool:
        return self.rules.pop(rule_id, None) is not None


class FakeAnomalies:
    def list_anomalies(self, since: float | None = None, limit: int = 100) -> list[Anomaly]:
        a = Anomaly(
            "x1",
            100.0,
            {"model": "m"},
            "error_rate",
            0.5,
            0.01,
            (0.0, 0.05),
            9.0,
            "CRITICAL",
            "zscore",
            exemplars=(("ab" * 16, "cd" * 8),),
        )
        return [a][:limit]


def _client(token: str | None = None, **services: Any) -> tuple[httpx.AsyncClient, Host]:
    host = Host(SelfTelemetry(), "/tmp", dict(services))
    app = create_app(host, auth_token=token)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api"), host


async def test_health_ready_and_unconfigured_services() -> None:
    client, host = _client()
    async with client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        assert (await client.get("/ready")).status_code == 200
        host.services["lifecycle"] = type("L", (), {"ready": False})()
        assert (await client.get("/ready")).status_code == 503
        r = await client.get("/v1/alerts")
        assert r.status_code == 404 and "alerts is not configured" in r.json()["detail"]


async def test_ingest_records_become_llm_calls() -> None:
    view = FakeView()
    client, _ = _client(llm_metrics=view)
    async with client:
        r = await client.post(
            "/v1/metrics",
            json={
                "model": "gpt-4o",
                "latency_ms": 1500,
                "ttft_ms": 200,
                "input_tokens": 10,
                "timestamp": 1000.0,
            },
        )
        assert r.status_code == 202 and r.json() == {"accepted": 1}
        r = await client.post("/v1/metrics", json={"records": [{"model": "m", "latency_ms": 1}] * 3})
        assert r.json() == {"accepted": 3}
        bad = await client.post("/v1/metrics", json={"model": "m", "latency_ms": -1})
        assert bad.status_code == 422
    call = view.recorded[0]
    assert (call.request_model, call.provider, call.operation, call.service) == (
        "gpt-4o",
        "openai",
        "chat",
        "unknown_service",
    )
    assert call.end_ns == 1_000_000_000_000 and call.duration_s == pytest.approx(1.5)
    assert call.ttft_s == pytest.approx(0.2) and call.input_tokens == 10 and call.dialect == "api"
    assert len(view.recorded) == 4


async def test_summary_passes_window_group_and_filters() -> None:
    view = FakeView()
    client, _ = _client(llm_metrics=view)
    async with client:
        r = await client.get(
            "/v1/metrics/summary", params={"window": "1h", "group_by": "model", "service": "s"}
        )
        body = r.json()
        assert r.status_code == 200 and body["window_seconds"] == 3600
        g = body["groups"][0]
        assert g["labels"] == {"model": "gpt-4o"} and g["error_rate"] == 0.25
        assert g["distributions"]["duration_s"]["p95"] == 0.9
        assert (await client.get("/v1/metrics/summary", params={"window": "2m"})).status_code == 422
    assert view.last_query == ("1h", ["model"], {"service": "s"})


async def test_alert_actions_rules_crud_and_anomalies() -> None:
    client, _ = _client(alerts=FakeAlerts(), anomalies=FakeAnomalies())
    async with client:
        assert (await client.get("/v1/alerts", params={"state": "firing"})).json()["alerts"][0]["id"] == "a1"
        r = await client.post("/v1/alerts/a1/acknowledge")
        assert r.status_code == 200 and r.json()["state"] == "acknowledged"
        assert (await client.post("/v1/alerts/nope/acknowledge")).status_code == 404
        assert (await client.post("/v1/alerts/a1/resolve")).json()["state"] == "resolved"
        assert (await client.post("/v1/alerts/a1/resolve")).status_code == 409

        r = await client.post(
            "/v1/rules", json={"id": "r1", "metric": "error_rate", "op": "gt", "threshold": 0.1}
        )
        assert r.status_code == 201 and r.json()["metric"] == "error_rate"
        assert (await client.post("/v1/rules", json={"id": "r1", "metric": "x"})).status_code == 409
        bad = await client.post("/v1/rules", json={"id": "r2"})
        assert bad.status_code == 422 and bad.json()["detail"] == "rule.metric: field required"
        assert (await client.put("/v1/rules/r1", json={"id": "other", "metric": "x"})).status_code == 400
        assert (await client.put("/v1/rules/r1", json={"metric": "calls"})).json()["metric"] == "calls"
        assert [r["id"] for r in (await client.get("/v1/rules")).json()["rules"]] == ["r1"]
        assert (await client.delete("/v1/rules/r1")).status_code == 204
        assert (await client.delete("/v1/rules/r1")).status_code == 404

        an = (await client.get("/v1/anomalies", params={"limit": 5})).json()["anomalies"]
        assert an[0]["detector"] == "zscore" and an[0]["band"] == [0.0, 0.05]
        assert an[0]["exemplars"] == [["ab" * 16, "cd" * 8]]
        assert (await client.get("/v1/anomalies", params={"limit": 0})).status_code == 422


async def test_bearer_token_guards_everything_but_health() -> None:
    client, _ = _client(token="s3cret", alerts=FakeAlerts())
    async with client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.get("/v1/alerts")).status_code == 401
        wrong = await client.get("/v1/alerts", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        ok = await client.get("/v1/alerts", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


async def test_dashboard_document_and_timeline_from_updates() -> None:
    view = FakeView()
    client, _ = _client(llm_metrics=view, alerts=FakeAlerts(), anomalies=FakeAnomalies())
    now = time.time()
    update = SeriesUpdate(
        labels={"model": "gpt-4o"},
        time=now,
        calls=2,
        errors=1,
        input_tokens=30,
        output_tokens=12,
        cached_tokens=0,
        cost_usd=0.5,
        durations_s=[1.0, 3.0],
        ttfts_s=[0.2],
        exemplars=[("ab" * 16, "cd" * 8)],
    )
    assert len(view.subscribers) == 1
    view.subscribers[0]([update])
    async with client:
        d = (await client.get("/v1/dashboard")).json()
        page = await client.get("/dashboard")
        js = await client.get("/static/app.js")
        openapi = (await client.get("/openapi.json")).json()
    s = d["series"]
    assert s["calls_per_s"] == [0.2] and s["error_rate"] == [0.5]
    assert s["latency_p50"] == [2.0] and s["ttft_p95"] == [pytest.approx(0.2)]
    assert s["tokens_by_model"] == {"gpt-4o": [42.0]} and s["cost_by_model"] == {"gpt-4o": [0.5]}
    assert d["totals_5m"]["calls"] == 4 and d["alerts"][0]["id"] == "a1"
    assert d["anomalies"][0]["metric"] == "error_rate"
    assert page.status_code == 200 and "uPlot.iife.min.js" in page.text
    assert js.status_code == 200 and "/v1/dashboard" in js.text
    assert {"/v1/metrics", "/v1/alerts/{alert_id}/acknowledge", "/v1/rules/{rule_id}", "/v1/trends"} <= set(
        openapi["paths"]
    )
