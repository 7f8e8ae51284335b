"""The whole path through real peers, on loopback:

unchanged app under ``opentelemetry-instrument`` -> a real OpenTelemetry Collector (built with the
official builder, running collector-config/agent.yaml) -> ``otel-llm-processor run`` with NO
config file -> ``/metrics`` (checked by ``promtool check metrics`` and scraped by a real
Prometheus server, queried with PromQL) -> after a restart on the same data directory, the hourly
rollup in ``/v1/trends``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_llm.testing.stub_openai import Reply, StubOpenAI
from otel_llm_processor.testing.pytest_plugin import require_peer

pytestmark = pytest.mark.peer
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APP = """
import openai
client = openai.OpenAI(max_retries=0)
for i in range(5):
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
try:
    client.chat.completions.create(model="stub-error-500", messages=[{"role": "user", "content": "hi"}])
except openai.InternalServerError:
    pass
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = resp.read()
    return json.loads(body) if body[:1] in (b"{", b"[") else body.decode()


def _until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def _collector() -> str | None:
    if not shutil.which("go"):
        return None
    out = subprocess.run(["bash", "scripts/build-collector.sh"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() or None


class Processor:
    def __init__(self, data_dir: Path) -> None:
        self.grpc, self.http, self.api = _port(), _port(), _port()
        self.data_dir = data_dir
        self.log = data_dir / f"processor-{self.api}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Processor:
        env = {
            **os.environ,
            "OTEL_LLM_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.grpc}",
            "OTEL_LLM_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.http}",
            "OTEL_LLM_API_ENDPOINT": f"127.0.0.1:{self.api}",
            "OTEL_LLM_DATA_DIR": str(self.data_dir),
        }
        self.data_dir.mkdir(exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "otel-llm-processor"), "run"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            return bool(_get(f"{self.url}/ready").get("ready"))

        _until(ready, 30, "processor ready")
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=30) == 0, self.log.read_text()


@pytest.fixture
def processors(tmp_path: Path) -> Iterator[list[Processor]]:
    started: list[Processor] = []
    yield started
    for p in started:
        if p.proc is not None and p.proc.poll() is None:
            p.proc.kill()


def _sample(metrics: str, name: str, **labels: str) -> float:
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


def test_app_collector_processor_prometheus(tmp_path: Path, processors: list[Processor]) -> None:
    collector = _collector()
    require_peer(collector, "no Collector: Go is needed to build it (scripts/build-collector.sh)")
    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    require_peer(promtool and prometheus, "Prometheus not found (Debian package prometheus)")
    assert collector and promtool and prometheus

    proc = Processor(tmp_path / "data")
    processors.append(proc)
    proc.start()

    agent_grpc = _port()
    env = {
        **os.environ,
        "OTEL_AGENT_GRPC_ENDPOINT": f"127.0.0.1:{agent_grpc}",
        "OTEL_AGENT_HTTP_ENDPOINT": f"127.0.0.1:{_port()}",
        "OTEL_LLM_PROCESSOR_ENDPOINT": f"127.0.0.1:{proc.grpc}",
    }
    col_log = tmp_path / "collector.log"
    with open(col_log, "wb") as log:
        col = subprocess.Popen(
            [
                collector,
                f"--config={ROOT / 'collector-config/agent.yaml'}",
                "--set=service.telemetry.metrics.level=none",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    prom_port = _port()
    prom_cfg = tmp_path / "prometheus.yml"
    prom_cfg.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: otel-llm\n    static_configs: [{{targets: ['127.0.0.1:{proc.api}']}}]\n"
    )
    prom = subprocess.Popen(
        [
            prometheus,
            f"--config.file={prom_cfg}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _until(lambda: b"Everything is ready" in col_log.read_bytes(), 30, "collector ready")
        with StubOpenAI(default=Reply(prompt_tokens=100, completion_tokens=20)) as stub:
            app = tmp_path / "app.py"
            app.write_text(APP)
            run = subprocess.run(
                [str(BIN / "opentelemetry-instrument"), sys.executable, str(app)],
                env={
                    **os.environ,
                    "OTEL_SERVICE_NAME": "e2e-app",
                    "OTEL_TRACES_EXPORTER": "otlp",
                    "OTEL_METRICS_EXPORTER": "none",
                    "OTEL_LOGS_EXPORTER": "none",
                    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{agent_grpc}",
                    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai",  # only ours (peers are installed)
                    "OPENAI_BASE_URL": stub.url,
                    "OPENAI_API_KEY": "sk-e2e-secret",
                },
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 0, run.stderr

        def scraped() -> str | None:
            text = _get(f"{proc.url}/metrics")
            return text if 'job="e2e-app"' in text and "llm_errors_total{" in text else None

        metrics = _until(scraped, 60, "llm metrics of e2e-app on /metrics")
        # Prometheus naming: service.name becomes the job label (specs.md section 6).
        ok = {"job": "e2e-app", "gen_ai_request_model": "gpt-4o-mini"}
        assert _sample(metrics, "llm_calls_total", **ok) == 5.0
        assert _sample(metrics, "llm_tokens_total", **ok, gen_ai_token_type="input") == 500.0
        assert _sample(metrics, "llm_tokens_total", **ok, gen_ai_token_type="output") == 100.0
        assert (
            _sample(metrics, "llm_errors_total", job="e2e-app", error_type="openai.InternalServerError")
            == 1.0
        )
        assert _sample(metrics, "gen_ai_client_operation_duration_seconds_count", **ok) == 5.0
        assert "sk-e2e-secret" not in metrics
        check = subprocess.run([promtool, "check", "metrics"], input=metrics, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

        # The scrape job's own label wins; the processor's job label is kept as exported_job.
        query = urllib.parse.quote('sum(llm_calls_total{exported_job="e2e-app"})')

        def promql() -> float | None:
            res = _get(f"http://127.0.0.1:{prom_port}/api/v1/query?query={query}")["data"]["result"]
            return float(res[0]["value"][1]) if res and float(res[0]["value"][1]) == 6.0 else None

        assert _until(promql, 60, "Prometheus to scrape 6 calls") == 6.0
    finally:
        for p in (prom, col):
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
    proc.stop()  # flushes the hourly rollups to SQLite
    log = proc.log.read_text()
    assert "Traceback" not in log, log

    again = Processor(tmp_path / "data")
    processors.append(again)
    again.start()
    trends = _get(f"{again.url}/v1/trends?metric=calls&group_by=model&window=1d&bucket=day")
    by_model = {row["labels"].get("model"): row["value"] for row in trends["rows"]}
    assert by_model == {"gpt-4o-mini": 5.0, "stub-error-500": 1.0}, trends
    again.stop()
