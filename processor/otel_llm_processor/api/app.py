"""The REST API and dashboard (FastAPI), built over the services components publish on the Host.

``create_app(host, api_config)`` is called by the service once the pipeline has started. Every
route reads a service lazily (``host.service(name)``), so a pipeline without, say, alert rules
answers 404 "not configured" on those routes instead of failing at startup.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from otel_llm_processor import __version__
from otel_llm_processor.api.schemas import RequestRecord, RequestRecords, RuleBody, SilenceBody, Window
from otel_llm_processor.api.timeline import Timeline
from otel_llm_processor.component import Host
from otel_llm_processor.services import WINDOWS, GroupSummary

__all__ = ["create_app"]

_TREND_WINDOWS = {"1d": 1, "7d": 7, "14d": 14, "30d": 30, "90d": 90}
_TREND_BUCKETS = {"hour": 1, "day": 24, "week": 168}


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _summary_json(g: GroupSummary) -> dict[str, Any]:
    return _clean(
        {
            "labels": dict(g.labels),
            "window": g.window,
            "calls": g.calls,
            "errors": g.errors,
            "error_rate": g.error_rate,
            "calls_per_s": g.calls_per_s,
            "input_tokens": g.input_tokens,
            "output_tokens": g.output_tokens,
            "cached_tokens": g.cached_tokens,
            "cost_usd": g.cost_usd,
            "distributions": {k: asdict(v) for k, v in g.distributions.items()},
        }
    )


def _split(csv: str | None) -> list[str]:
    return [p.strip() for p in csv.split(",") if p.strip()] if csv else []


def create_app(host: Host, api_config: Any = None, *, auth_token: str | None = None) -> FastAPI:
    """Build the API. ``auth_token`` (or ``api_config.auth_token``) turns on bearer-token auth for
    every route but ``/health``, ``/ready`` and the dashboard's static files."""
    token = auth_token if auth_token is not None else getattr(api_config, "auth_token", None)
    app = FastAPI(
        title="otel-llm-processor",
        version=__version__,
        description="LLM telemetry: derived metrics, anomalies, alerts and rules.",
    )
    timeline = Timeline()
    app.state.timeline = timeline
    host.on_service("llm_metrics", lambda view: view.subscribe(timeline.on_updates))

    def _view() -> Any:
        return host.service("llm_metrics")

    def require_auth(request: Request) -> None:
        if not token:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
            raise HTTPException(
                401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    def need(name: str) -> Any:
        svc = host.service(name)
        if svc is None:
            raise HTTPException(404, f"{name} is not configured in this pipeline")
        return svc

    auth = [Depends(require_auth)]

    # ---------------------------------------------------------------- health
    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/ready", tags=["health"])
    async def ready() -> Response:
        """Readiness: the pipeline has started and is not shutting down."""
        state = host.service("lifecycle")
        is_ready = state is None or bool(state.ready)
        return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)

    @app.get("/metrics", tags=["metrics"], dependencies=auth)
    async def metrics(request: Request) -> Response:
        """Prometheus exposition of the derived metrics and the service's own telemetry."""
        from prometheus_client import exposition

        registry = need("prometheus_registry")
        encoder, content_type = exposition.choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(registry), media_type=content_type)

    # ---------------------------------------------------------------- metrics
    @app.post("/v1/metrics", tags=["metrics"], status_code=202, dependencies=auth)
    async def ingest(body: RequestRecord | RequestRecords) -> dict[str, int]:
        """Ingest request records from clients without OpenTelemetry (one record or ``{records: [...]}``)."""
        view = _view() or need("llm_metrics")
        records = body.records if isinstance(body, RequestRecords) else [body]
        await view.record_calls([r.to_call() for r in records])
        return {"accepted": len(records)}

    @app.get("/v1/metrics/summary", tags=["metrics"], dependencies=auth)
    async def summary(
        window: Window = "5m",
        group_by: Annotated[str | None, Query(description="comma-separated labels")] = None,
        service: str | None = None,
        model: str | None = None,
        provider: str | None = None,
        operation: str | None = None,
    ) -> dict[str, Any]:
        """Rolling summaries (count, sum, avg, min, max, p50, p95, p99) over 1m, 5m or 1h."""
        view = _view() or need("llm_metrics")
        where = {
            k: v
            for k, v in (
                ("service", service),
                ("model", model),
                ("provider", provider),
                ("operation", operation),
            )
            if v
        }
        groups = view.summarize(window, _split(group_by), where or None)
        return {
            "window": window,
            "window_seconds": WINDOWS[window],
            "groups": [_summary_json(g) for g in groups],
        }

    @app.get("/v1/dashboard", tags=["dashboard"], dependencies=auth)
    async def dashboard(since: float | None = None) -> dict[str, Any]:
        """Everything the dashboard page shows, in one document."""
        view = _view()
        totals: dict[str, Any] = {}
        by_model: list[dict[str, Any]] = []
        if view is not None:
            for g in view.summarize("5m", (), None):
                totals = _summary_json(g)
            by_model = [_summary_json(g) for g in view.summarize("1h", ["model"], None)]
        alerts_svc = host.service("alerts")
        anomalies_svc = host.service("anomalies")
        alerts = list(alerts_svc.list_alerts()) if alerts_svc else []
        anomalies = [asdict(a) for a in anomalies_svc.list_anomalies(limit=200)] if anomalies_svc else []
        return _clean(
            {
                "generated_at": time.time(),
                "totals_5m": totals,
                "by_model_1h": by_model,
                "series": timeline.series(since),
                "alerts": alerts,
                "anomalies": anomalies,
            }
        )

    @app.get("/v1/trends", tags=["metrics"], dependencies=auth)
    async def trends(
        metric: str = "cost_usd",
        group_by: str | None = None,
        window: str = "7d",
        bucket: str = "day",
    ) -> dict[str, Any]:
        """Daily/weekly trends from the hourly rollups (cost per day, p95 latency by day, ...)."""
        if window not in _TREND_WINDOWS:
            raise HTTPException(400, f"window must be one of {sorted(_TREND_WINDOWS)}")
        if bucket not in _TREND_BUCKETS:
            raise HTTPException(400, f"bucket must be one of {sorted(_TREND_BUCKETS)}")
        storage = need("storage")
        since_hour = int(time.time() // 3600) - 24 * _TREND_WINDOWS[window]
        try:
            rows = await storage.trends(metric, _split(group_by), since_hour, _TREND_BUCKETS[bucket])
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        return _clean({"metric": metric, "window": window, "bucket": bucket, "rows": rows})

    # ---------------------------------------------------------------- alerts
    @app.get("/v1/alerts", tags=["alerts"], dependencies=auth)
    async def list_alerts(state: str | None = None) -> dict[str, Any]:
        return {"alerts": _clean(list(need("alerts").list_alerts(state)))}

    async def _transition(alert_id: str, action: str, by: str) -> Mapping[str, Any]:
        svc = need("alerts")
        try:
            result: Mapping[str, Any] = await getattr(svc, action)(alert_id, by=by)
        except KeyError as exc:
            raise HTTPException(404, f"no alert {alert_id!r}") from exc
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from exc
        return _clean(dict(result))

    @app.post("/v1/alerts/{alert_id}/acknowledge", tags=["alerts"], dependencies=auth)
    async def acknowledge(alert_id: str, by: str = "api") -> Mapping[str, Any]:
        return await _transition(alert_id, "acknowledge", by)

    @app.post("/v1/alerts/{alert_id}/resolve", tags=["alerts"], dependencies=auth)
    async def resolve(alert_id: str, by: str = "api") -> Mapping[str, Any]:
        return await _transition(alert_id, "resolve", by)

    @app.post("/v1/silences", tags=["alerts"], status_code=201, dependencies=auth)
    async def silence(body: SilenceBody) -> dict[str, str]:
        sid = await need("alerts").silence(body.matchers, time.time() + body.duration_s, by=body.by)
        return {"id": sid}

    # ---------------------------------------------------------------- rules
    @app.get("/v1/rules", tags=["rules"], dependencies=auth)
    async def list_rules() -> dict[str, Any]:
        return {"rules": _clean(list(need("alerts").list_rules()))}

    async def _put(rule: Mapping[str, Any]) -> Mapping[str, Any]:
        try:
            saved: Mapping[str, Any] = await need("alerts").put_rule(rule)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return _clean(dict(saved))

    @app.post("/v1/rules", tags=["rules"], status_code=201, dependencies=auth)
    async def create_rule(body: RuleBody) -> Mapping[str, Any]:
        rule = body.as_mapping()
        if "id" in rule and any(r.get("id") == rule["id"] for r in need("alerts").list_rules()):
            raise HTTPException(409, f"rule {rule['id']!r} exists; use PUT to replace it")
        return await _put(rule)

    @app.put("/v1/rules/{rule_id}", tags=["rules"], dependencies=auth)
    async def replace_rule(rule_id: str, body: RuleBody) -> Mapping[str, Any]:
        if body.id is not None and body.id != rule_id:
            raise HTTPException(400, "the id in the body differs from the id in the path")
        return await _put({**body.as_mapping(), "id": rule_id})

    @app.delete("/v1/rules/{rule_id}", tags=["rules"], status_code=204, dependencies=auth)
    async def delete_rule(rule_id: str) -> Response:
        if not await need("alerts").delete_rule(rule_id):
            raise HTTPException(404, f"no rule {rule_id!r}")
        return Response(status_code=204)

    # ---------------------------------------------------------------- anomalies
    @app.get("/v1/anomalies", tags=["anomalies"], dependencies=auth)
    async def list_anomalies(
        since: float | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> dict[str, Any]:
        items: Sequence[Any] = need("anomalies").list_anomalies(since=since, limit=limit)
        return {"anomalies": _clean([asdict(a) for a in items])}

    # ---------------------------------------------------------------- dashboard page
    static_dir = resources.files("otel_llm_processor.api") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/dashboard")

    @app.get("/dashboard", include_in_schema=False)
    async def page() -> Response:
        return FileResponse(str(static_dir / "index.html"), media_type="text/html")

    return app
