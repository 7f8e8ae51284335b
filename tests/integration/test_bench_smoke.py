"""The instrumentation benchmark runs end to end (no figures are checked: timings are ``make bench``'s
business). A bench that crashes hides a regression until someone needs its numbers, as its
``--profile`` component timings once did after an internal signature changed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
CONFIGS = ("none", "otel_llm", "contrib_v2", "floor_sdk", "minimal")


def test_instrumentation_bench_runs_every_section() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "instrumentation_overhead.py"),
            "--rounds",
            "1",
            "--calls",
            "2",
            "--configs",
            ",".join(CONFIGS),
            "--profile",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    for config in CONFIGS:
        assert re.search(rf"^{config}\s+\d", out, re.M), f"no table row for {config}"
    # Our spans were verified to carry tokens and cost (and TTFT on the stream) before timing.
    assert re.search(r"^otel_llm .*tokens,cost / tokens,cost,ttft$", out, re.M)
    assert "Targets: overhead <= 0.5x the best peer's" in out
    assert "the least a working instrumentation adds (minimal)" in out
    components = out.split("Components of otel_llm's wrapper", 1)
    assert len(components) == 2, "the --profile component timings are missing"
    rows = [line for line in components[1].splitlines()[1:] if line.strip()]
    assert len(rows) == 12 and all(re.match(r"^\s+\d+\.\d\d  \S", row) for row in rows), rows
