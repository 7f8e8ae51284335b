"""The configs we ship are accepted by the real programs that read them.

promtool and amtool (Debian packages), a Collector built with the official builder
(scripts/build-collector.sh), and our own ``otel-llm-processor validate``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from otel_llm_processor.testing.pytest_plugin import require_peer

pytestmark = pytest.mark.peer
ROOT = Path(__file__).resolve().parents[2]


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def collector_binary() -> str | None:
    if not shutil.which("go"):
        return None
    out = _run("bash", "scripts/build-collector.sh")
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else None


def test_prometheus_config_is_valid() -> None:
    promtool = shutil.which("promtool")
    require_peer(promtool, "promtool not found (Debian package prometheus)")
    out = _run(str(promtool), "check", "config", "docker/prometheus.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_alertmanager_config_is_valid() -> None:
    amtool = shutil.which("amtool")
    require_peer(amtool, "amtool not found (Debian package prometheus-alertmanager)")
    out = _run(str(amtool), "check-config", "docker/alertmanager.yml")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("config", ["collector-config/agent.yaml", "docker/collector-agent.yaml"])
def test_collector_configs_are_valid(config: str) -> None:
    binary = collector_binary()
    require_peer(binary, "no Collector: Go is needed to build it (scripts/build-collector.sh)")
    assert binary is not None
    out = _run(binary, "validate", f"--config={config}")
    assert out.returncode == 0, out.stdout + out.stderr


def test_collector_rejects_a_broken_config(tmp_path: Path) -> None:
    binary = collector_binary()
    require_peer(binary, "no Collector: Go is needed to build it (scripts/build-collector.sh)")
    assert binary is not None
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "collector-config/agent.yaml").read_text().replace("[otlp/processor]", "[nope]"))
    out = _run(binary, "validate", f"--config={bad}")
    assert out.returncode != 0 and "nope" in out.stderr


@pytest.mark.parametrize("config", ["docker/processor.yaml"])
def test_processor_configs_are_valid(config: str) -> None:
    out = _run(sys.executable, "-m", "otel_llm_processor", "validate", "--config", config)
    assert out.returncode == 0, out.stdout + out.stderr


def test_grafana_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Every panel query of the provisioned dashboard parses (promtool checks them as rules)."""
    import json

    promtool = shutil.which("promtool")
    require_peer(promtool, "promtool not found (Debian package prometheus)")
    dashboard = json.loads((ROOT / "docker/grafana/dashboards/otel-llm.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 8
    rules = "groups:\n  - name: dashboard\n    rules:\n" + "".join(
        f"      - record: dashboard:q{i}\n        expr: {json.dumps(e)}\n" for i, e in enumerate(exprs)
    )
    path = tmp_path / "rules.yml"
    path.write_text(rules)
    out = _run(str(promtool), "check", "rules", str(path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in out.stdout
