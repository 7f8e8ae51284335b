"""``make demo`` as a user runs it (compressed schedule): the processor, the stub LLMs and the
instrumented app under the real opentelemetry-instrument all start, each injected incident
raises its alert in the API, and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.peer
INCIDENT_RULES = {"latency-p95-high", "error-rate-high", "runaway-agent"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_incidents_raise_their_alerts(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_llm_processor.demo", "--fast", "--api-port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: dict[str, dict[str, object]] = {}
    try:
        deadline = time.monotonic() + 100
        while time.monotonic() < deadline and not set(seen) >= INCIDENT_RULES:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/alerts", timeout=2) as resp:
                    for alert in json.loads(resp.read())["alerts"]:
                        seen.setdefault(alert["rule"], alert)
            except OSError:
                pass
            time.sleep(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/dashboard", timeout=5) as resp:
            dashboard = json.loads(resp.read())
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert set(seen) >= INCIDENT_RULES, f"alerts seen: {sorted(seen)}\n{out}"
    assert seen["latency-p95-high"]["severity"] == "WARNING"
    assert seen["error-rate-high"]["severity"] == "ERROR"
    assert seen["error-rate-high"]["labels"]["provider"] == "anthropic"  # type: ignore[index]
    assert seen["runaway-agent"]["severity"] == "CRITICAL"
    assert sum(dashboard["series"]["calls_per_s"]) > 0 and dashboard["anomalies"]
    assert proc.returncode == 0, out
    assert f"Dashboard:  http://127.0.0.1:{port}/dashboard" in out
    log = (tmp_path / ".demo-data" / "processor.log").read_text()
    assert "shutting down" in log and "Traceback" not in log
