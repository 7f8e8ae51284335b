"""The dashboard page in a real headless Chromium (Debian package) driven by Playwright.

The API runs for real under uvicorn on loopback; the services behind it are the same in-memory
stand-ins the route tests use, fed with live updates while the page is open.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from otel_llm_processor.api.app import create_app
from otel_llm_processor.component import Host
from otel_llm_processor.selftel import SelfTelemetry
from otel_llm_processor.services import SeriesUpdate
from otel_llm_processor.testing.pytest_plugin import require_peer

pytestmark = pytest.mark.peer

CHROMIUM = os.environ.get("OTEL_LLM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = os.environ.get("OTEL_LLM_SCREENSHOT")  # set to write the README screenshot


def _fakes() -> tuple[object, object, object]:
    # Reuse the route tests' stand-ins (same contract) without importing a test module by path.
    import importlib.util

    path = Path(__file__).parents[1] / "processor" / "test_api_routes.py"
    spec = importlib.util.spec_from_file_location("_api_fakes", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.FakeView(), mod.FakeAlerts(), mod.FakeAnomalies()


def _update(t: float, model: str, calls: int, latency: float) -> SeriesUpdate:
    return SeriesUpdate(
        labels={"model": model},
        time=t,
        calls=calls,
        errors=1 if model == "claude-3-5-haiku" else 0,
        input_tokens=120 * calls,
        output_tokens=40 * calls,
        cached_tokens=0,
        cost_usd=0.0004 * calls,
        durations_s=[latency] * calls,
        ttfts_s=[latency / 4] * calls,
        exemplars=[("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")],
    )


@pytest.fixture
async def api_server() -> AsyncIterator[tuple[str, object, object]]:
    view, alerts, anomalies = _fakes()
    host = Host(SelfTelemetry(), "/tmp", {"llm_metrics": view, "alerts": alerts, "anomalies": anomalies})
    app = create_app(host)
    now = time.time()
    for i in range(30, 0, -1):  # five minutes of history, one point per 10 s slot
        for cb in view.subscribers:  # type: ignore[attr-defined]
            cb(
                [
                    _update(now - 10 * i, "gpt-4o-mini", 20, 0.8),
                    _update(now - 10 * i, "claude-3-5-haiku", 5, 1.4),
                ]
            )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", alerts, view
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_dashboard_renders_and_acknowledges(api_server: tuple[str, object, object]) -> None:
    require_peer(
        shutil.which(CHROMIUM) or os.path.exists(CHROMIUM), "Chromium not found (Debian package chromium)"
    )
    from playwright.async_api import async_playwright

    base, alerts, _view = api_server
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{base}/dashboard?poll_ms=300")
            await page.wait_for_selector("body[data-loaded='true']", timeout=15_000)
            # Every chart rendered a canvas and holds the 30 slots of data.
            for chart in ("c-rate", "c-err", "c-lat", "c-ttft", "c-tok", "c-cost"):
                node = page.locator(f"#{chart}")
                assert await node.get_attribute("data-points") == "30", chart
                assert await node.locator("canvas").count() == 1, chart
            assert await page.locator("#t-alerts").inner_text() == "1"
            assert "trace-link" in (await page.locator("#anomalies").inner_html())
            rows = page.locator("#models tbody tr")
            assert await rows.count() == 1  # FakeView groups everything under gpt-4o
            if SCREENSHOT:
                await page.screenshot(path=SCREENSHOT, full_page=True)

            # Acknowledge the firing alert from the page: the API's state changes, the page follows.
            row = page.locator("tr[data-alert-id='a1']")
            assert await row.get_attribute("data-state") == "firing"
            await row.locator("button.ack").click()
            await page.wait_for_selector("tr[data-alert-id='a1'][data-state='acknowledged']", timeout=10_000)
            assert alerts.alerts["a1"]["state"] == "acknowledged"  # type: ignore[attr-defined]
            assert await page.locator("#t-alerts").inner_text() == "0"
            assert errors == []
        finally:
            await browser.close()
