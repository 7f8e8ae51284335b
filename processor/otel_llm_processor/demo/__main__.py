"""``make demo``: the whole loop on one machine, no Docker, no network.

1. stub OpenAI and Anthropic servers on loopback (in this process, so incidents can be injected);
2. ``otel-llm-processor run`` with a demo config (embedded defaults plus alert rules);
3. the demo app (``otel_llm_processor.demo.app``) under the real ``opentelemetry-instrument``,
   exporting OTLP/gRPC to the processor;
4. a schedule of incidents: an OpenAI latency spike, an Anthropic error burst, and a runaway
   agent loop (one trace making far too many calls);
5. the dashboard address is printed; Ctrl-C stops everything.

``--fast`` compresses the schedule (used by the test of the demo); ``--duration`` stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_llm.testing.stub_anthropic import ErrorReply, StubAnthropic
from otel_llm.testing.stub_anthropic import Reply as AnthropicReply
from otel_llm.testing.stub_openai import StubOpenAI

CONFIG = """\
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: "127.0.0.1:{grpc}"}}
      http: {{endpoint: "127.0.0.1:{http}"}}
processors:
  anomaly:
    evaluation_interval: {tick}s
    runaway: {{max_calls: 40, max_cost_usd: 5}}
connectors:
  llm_metrics:
    flush_interval: {tick}s
  alert_rules:
    rules:
      - id: latency-p95-high
        metric: duration_s.p95
        op: gt
        threshold: 1.5
        window: {window}s
        for: {for_}s
        severity: WARNING
        group_by: [service, provider, model]
        summary: "p95 latency {{value:.2f}} s over {{threshold}} s on {{model}}"
      - id: error-rate-high
        metric: error_rate
        op: gt
        threshold: 0.2
        window: {window}s
        for: {for_}s
        min_calls: 3
        severity: ERROR
        group_by: [service, provider, model]
        summary: "error rate {{value:.0%}} on {{provider}} {{model}}"
      - id: runaway-agent
        source: anomaly
        detectors: [runaway]
        severity: CRITICAL
        summary: "runaway agent loop: {{metric}} at {{value:.1f}}x its limit"
      - id: anomaly-detected
        source: anomaly
        detectors: [zscore, mad, ewma]
        min_severity: ERROR
        summary: "{{detector}} anomaly on {{metric}} ({{provider}} {{model}})"
exporters:
  prometheus: {{}}
  debug: {{}}
service:
  data_dir: "{data_dir}"
  api:
    endpoint: "127.0.0.1:{api}"
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [llm_metrics]
    metrics/llm:
      receivers: [llm_metrics]
      processors: [anomaly]
      exporters: [prometheus, alert_rules]
    alerts:
      receivers: [alert_rules]
      exporters: [debug]
"""


class DemoAnthropic(StubAnthropic):
    """The Anthropic stub with an adjustable failure rate (the error-burst incident)."""

    error_rate = 0.0
    _rng = random.Random(7)

    def _next(self) -> AnthropicReply | ErrorReply:
        if self.error_rate and self._rng.random() < self.error_rate:
            return ErrorReply(status=500, error_type="api_error", message="injected failure")
        return super()._next()


@dataclass
class Schedule:
    latency_at: float
    errors_at: float
    runaway_at: float
    incident_s: float
    tick: float
    window: float
    for_: float

    @classmethod
    def pick(cls, fast: bool) -> Schedule:
        if fast:
            return cls(latency_at=8, errors_at=20, runaway_at=30, incident_s=15, tick=1, window=10, for_=2)
        return cls(latency_at=30, errors_at=60, runaway_at=75, incident_s=40, tick=5, window=30, for_=10)


def _free_port(preferred: int | None = None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


def _get(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def _wait_ready(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the processor exited with code {proc.returncode}")
        try:
            if _get(url).get("ready"):
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the processor did not become ready")


def _say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _incidents(sched: Schedule, oa: StubOpenAI, an: DemoAnthropic, stop: threading.Event) -> None:
    began = time.monotonic()

    def wait_until(t: float) -> bool:
        return not stop.wait(max(0.0, began + t - time.monotonic()))

    if not wait_until(sched.latency_at):
        return
    _say("incident 1: OpenAI latency spike (2.5 s per call)")
    oa.latency = 2.5
    if not wait_until(sched.errors_at):
        return
    _say("incident 2: Anthropic error burst (60 % of calls fail)")
    an.error_rate = 0.6
    if not wait_until(sched.runaway_at):
        return
    _say("incident 3: a runaway agent loop starts (one trace, 80 calls to gpt-4o)")
    if not wait_until(sched.latency_at + sched.incident_s):
        return
    oa.latency = 0.05
    _say("incident 1 over: OpenAI latency back to normal")
    if not wait_until(sched.errors_at + sched.incident_s):
        return
    an.error_rate = 0.0
    _say("incident 2 over: Anthropic healthy again")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otel_llm_processor.demo", description=__doc__)
    parser.add_argument("--fast", action="store_true", help="compressed incident schedule")
    parser.add_argument("--duration", type=float, default=0, help="stop after this many seconds")
    parser.add_argument("--api-port", type=int, default=8080, help="dashboard port (another if busy)")
    parser.add_argument("--data-dir", default=".demo-data")
    args = parser.parse_args(argv)

    sched = Schedule.pick(args.fast)
    data_dir = Path(args.data_dir).resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    grpc, http, api = _free_port(), _free_port(), _free_port(args.api_port)
    config = data_dir / "demo.yaml"
    config.write_text(
        CONFIG.format(
            grpc=grpc,
            http=http,
            api=api,
            data_dir=data_dir,
            tick=sched.tick,
            window=sched.window,
            for_=sched.for_,
        )
    )

    oa = StubOpenAI(latency=0.05).start()
    oa.default = type(oa.default)(chunk_delay=0.02)
    an = DemoAnthropic(default=AnthropicReply(latency=0.08, chunk_delay=0.02)).start()
    procs: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    env = dict(os.environ)
    bin_dir = Path(sys.executable).parent
    try:
        _say(f"starting otel-llm-processor (OTLP gRPC 127.0.0.1:{grpc}, HTTP 127.0.0.1:{http})")
        proc = subprocess.Popen(
            [sys.executable, "-m", "otel_llm_processor", "run", "--config", str(config)],
            env=env,
            stdout=open(data_dir / "processor.log", "wb"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )
        procs.append(proc)
        _wait_ready(f"http://127.0.0.1:{api}/ready", proc)
        app_env = {
            **env,
            "OTEL_SERVICE_NAME": "assistant-api",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{grpc}",
            "OTEL_BSP_SCHEDULE_DELAY": "500",
            # Only ours: other GenAI instrumentations installed in this venv (for the benchmarks)
            # would record every call a second time.
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,openai_v2,anthropic",
            "OPENAI_BASE_URL": oa.url,
            "OPENAI_API_KEY": "sk-demo-not-a-real-key",
            "ANTHROPIC_BASE_URL": an.base_url,
            "ANTHROPIC_API_KEY": "demo-not-a-real-key",
            "DEMO_RUNAWAY_AT": str(sched.runaway_at),
        }
        _say("starting the demo app under opentelemetry-instrument")
        procs.append(
            subprocess.Popen(
                [
                    str(bin_dir / "opentelemetry-instrument"),
                    sys.executable,
                    "-m",
                    "otel_llm_processor.demo.app",
                ],
                env=app_env,
                stdout=open(data_dir / "app.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
            )
        )
        threading.Thread(target=_incidents, args=(sched, oa, an, stop), daemon=True).start()
        print(
            f"\n  Dashboard:  http://127.0.0.1:{api}/dashboard\n"
            f"  API docs:   http://127.0.0.1:{api}/docs\n"
            f"  Metrics:    http://127.0.0.1:{api}/metrics\n"
            f"  Logs:       {data_dir}/processor.log, {data_dir}/app.log\n"
            f"  Incidents at +{sched.latency_at:.0f}s, +{sched.errors_at:.0f}s, +{sched.runaway_at:.0f}s;"
            " alerts appear on the dashboard within two minutes. Ctrl-C stops.\n",
            flush=True,
        )
        began = time.monotonic()
        while not args.duration or time.monotonic() - began < args.duration:
            for p in procs:
                if p.poll() is not None:
                    _say(f"a child exited early with code {p.returncode}; see the logs in {data_dir}")
                    return 1
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        stop.set()
        _say("stopping")
        for p in reversed(procs):  # app first, then the processor (it flushes)
            if p.poll() is None:
                p.send_signal(signal.SIGINT if p is not procs[0] else signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        oa.stop()
        an.stop()


if __name__ == "__main__":
    sys.exit(main())
