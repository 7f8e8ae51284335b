"""The command line: validate exit codes and messages, run as a real process, backtest slot."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from otel_llm_processor.cli import build_parser, main

VALID = """
receivers:
  otlp:
    protocols:
      http: {endpoint: 127.0.0.1:0}
exporters:
  debug: {}
service:
  api: {enabled: false}
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
"""

INVALID = """
receivers:
  otlp:
    protocols:
      grpc: {max_recv_msg_size_mib: 0}
exporters:
  debug: {verbosity: loud}
service:
  pipelines:
    traces: {receivers: [nope], exporters: [debug]}
"""


def test_parser_requires_a_command() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["validate"])  # --config is required
    assert build_parser().parse_args(["validate", "--config", "x.yaml"]).config == "x.yaml"
    assert build_parser().parse_args(["run"]).config is None


def test_validate_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(VALID)
    assert main(["validate", "--config", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: ok (2 components, pipelines: traces)\n"


def test_validate_reports_every_error_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(INVALID)
    assert main(["validate", "--config", str(path)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: invalid config (3 error(s)):",
        "  receivers.otlp.protocols.grpc.max_recv_msg_size_mib: must be > 0",
        "  exporters.debug.verbosity: must be 'basic' or 'detailed'",
        '  service.pipelines.traces.receivers[0]: unknown component "nope" (not defined in receivers or connectors)',
    ]
    assert main(["validate", "--config", str(tmp_path / "missing.yaml")]) == 1


def test_backtest_slot(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[list[str]] = []
    fake = types.ModuleType("otel_llm_processor.backtest")
    fake.main = lambda args: calls.append(args) or 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "otel_llm_processor.backtest", fake)
    assert main(["backtest", "--series", "x.csv"]) == 3
    assert calls == [["--series", "x.csv"]]
    monkeypatch.setitem(sys.modules, "otel_llm_processor.backtest", None)  # import -> ModuleNotFoundError
    assert main(["backtest"]) == 2
    assert capsys.readouterr().err == "otel-llm-processor: backtest is not available in this build\n"


def _wait_line(
    proc: subprocess.Popen[str], pattern: str, seen: list[str], timeout: float = 60
) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"process ended (rc={proc.poll()}):\n{''.join(seen)}")
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no line matching {pattern!r}:\n{''.join(seen)}")


def test_run_with_no_config_serves_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "OTEL_LLM_DATA_DIR": str(tmp_path / "data"),
        "OTEL_LLM_OTLP_GRPC_ENDPOINT": "127.0.0.1:0",
        "OTEL_LLM_OTLP_HTTP_ENDPOINT": "127.0.0.1:0",
        "OTEL_LLM_API_ENDPOINT": "127.0.0.1:0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_llm_processor", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    try:
        ports = _wait_line(proc, r"otlp: listening on grpc port (\d+), http port (\d+)", seen)
        _wait_line(proc, r"otel-llm-processor started \(<embedded default>\)", seen)
        request = ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    scope_spans=[
                        ScopeSpans(spans=[Span(name="GET /", trace_id=b"\1" * 16, span_id=b"\2" * 8)])
                    ]
                )
            ]
        )
        reply = httpx.post(
            f"http://127.0.0.1:{ports.group(2)}/v1/traces",
            content=request.SerializeToString(),
            headers={"content-type": "application/x-protobuf"},
            timeout=10,
        )
        assert reply.status_code == 200
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(seen) + rest
    assert "shutting down" in rest
    assert (tmp_path / "data").is_dir()


def test_run_with_an_invalid_config_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(INVALID)
    assert main(["run", "--config", str(path)]) == 1
    assert "invalid config (3 error(s))" in capsys.readouterr().err
