"""Instrumentation overhead in CPU instructions per call, counted by callgrind: deterministic.

    python bench/instruction_overhead.py [--configs none,otel_llm,contrib_v2,floor_sdk]
                                         [--kinds nonstream,stream] [--layouts 2] [--jobs N]

The timing bench (``instrumentation_overhead.py``) resolves tens of µs only over many interleaved
rounds, and two runs on a shared machine still disagree by 5-10 %. This one counts the
instructions a call executes instead, with valgrind's callgrind, for the same configurations
(``instr_worker.Bench``: the real ``openai`` client over the recorded in-process transport, an SDK
``TracerProvider`` with a ``BatchSpanProcessor`` feeding a discarding exporter).

Method, per configuration and kind of call:

- the process runs 5 warm-up calls, flushes the spans, collects garbage, disables the collector,
  then runs N calls and flushes again (so exporting those N spans is counted);
- instructions per call = (count at N=60 - count at N=10) / 50: start-up and imports cancel out;
- address-space randomisation is off (``setarch -R``) and ``PYTHONHASHSEED=0``, so a run repeats
  to the instruction; the batch processor's timer is pushed out of the run
  (``OTEL_BSP_SCHEDULE_DELAY``), its export happening at the final flush only;
- what remains is the memory layout: an environment variable of another length moves the stack
  and changes per-call counts by up to ~1 %. Each figure is the mean over ``--layouts`` layouts,
  printed with their range.

Overhead = instructions per call minus the uninstrumented configuration's. Ratios are against the
best peer that ran and against the floor in situ (``floor_sdk``: one span with 12 attributes around
the same uninstrumented call). Needs ``valgrind`` and ``setarch`` (Debian: valgrind, util-linux);
without them it says so and exits 0.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

__all__ = ["main"]

BASE = "none"
FLOOR_SDK = "floor_sdk"
OURS = "otel_llm"
PEERS = ("contrib_v2", "openllmetry", "openinference")
KINDS = ("nonstream", "stream")
SMALL, LARGE = 10, 60
_COLLECTED = re.compile(r"Collected : (\d+)")


def child(config: str, kind: str, calls: int) -> None:
    """The measured process: warm up, then ``calls`` calls of ``kind`` with the collector off."""
    sys.path.insert(0, str(HERE))
    from instr_worker import Bench

    bench = Bench(config)
    call = bench.nonstream if kind == "nonstream" else bench.stream
    for _ in range(5):
        call()
    bench.provider.force_flush()
    gc.collect()
    gc.disable()
    for _ in range(calls):
        call()
    bench.provider.force_flush()


def count(config: str, kind: str, calls: int, layout: int) -> int:
    """Instructions of one whole run under callgrind."""
    env = dict(os.environ)
    env.update(
        PYTHONHASHSEED="0",
        OTEL_BSP_SCHEDULE_DELAY="100000000",
        BENCH_LAYOUT_PAD="x" * (1 + 41 * layout),
    )
    cmd = [
        "setarch",
        "-R",
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        config,
        kind,
        str(calls),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(HERE.parent), check=False)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{config} {kind} N={calls}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return int(found.group(1))


def measure(
    configs: list[str], kinds: list[str], layouts: int, jobs: int
) -> dict[tuple[str, str], list[float]]:
    """(config, kind) -> instructions per call, one value per layout."""
    runs = [(c, k, n, lay) for c in configs for k in kinds for lay in range(layouts) for n in (SMALL, LARGE)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        counted = dict(zip(runs, pool.map(lambda r: count(*r), runs), strict=True))
    return {
        (c, k): [
            (counted[(c, k, LARGE, lay)] - counted[(c, k, SMALL, lay)]) / (LARGE - SMALL)
            for lay in range(layouts)
        ]
        for c in configs
        for k in kinds
    }


def report(per_call: dict[tuple[str, str], list[float]], configs: list[str], kinds: list[str]) -> None:
    mean = {key: statistics.fmean(values) for key, values in per_call.items()}
    print("\nInstructions per OpenAI chat call (callgrind; mean over layouts [min-max]); overhead vs none")
    head = f"{'config':<14}" + "".join(f" {k + ' instr':>30} {k + ' overhead':>20}" for k in kinds)
    print(head)
    print("-" * len(head))
    for c in configs:
        cols = [f"{c:<14}"]
        for k in kinds:
            values = per_call[(c, k)]
            cols.append(
                f" {mean[(c, k)] / 1e3:>10.1f}k [{min(values) / 1e3:.1f}-{max(values) / 1e3:.1f}k]".rjust(31)
            )
            if BASE in configs and c != BASE:
                cols.append(f" {(mean[(c, k)] - mean[(BASE, k)]) / 1e3:>19.1f}k")
            else:
                cols.append(f" {'-':>20}")
        print("".join(cols))
    if BASE not in configs or OURS not in configs:
        return
    print()
    for k in kinds:
        ours = mean[(OURS, k)] - mean[(BASE, k)]
        line = f"  {k:<10} ours {ours / 1e3:.1f}k"
        peers = [p for p in PEERS if p in configs]
        if peers:
            best = min(peers, key=lambda p: mean[(p, k)])
            overhead = mean[(best, k)] - mean[(BASE, k)]
            line += f" | best peer {best} {overhead / 1e3:.1f}k: {ours / overhead:.2f}x"
        if FLOOR_SDK in configs:
            floor = mean[(FLOOR_SDK, k)] - mean[(BASE, k)]
            line += f" | floor in situ {floor / 1e3:.1f}k: {ours / floor:.2f}x"
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=f"{BASE},{OURS},contrib_v2,{FLOOR_SDK}")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--layouts", type=int, default=2, help="memory layouts averaged (default 2)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="valgrind runs at once")
    parser.add_argument("--child", nargs=3, metavar=("CONFIG", "KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    missing = [tool for tool in ("valgrind", "setarch") if shutil.which(tool) is None]
    if missing:
        print(f"skipped: {' and '.join(missing)} not installed (Debian: apt-get install valgrind util-linux)")
        return 0
    configs = [c for c in args.configs.split(",") if c]
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown kinds {unknown}; one of {', '.join(KINDS)}")
    per_call = measure(configs, kinds, max(args.layouts, 1), max(args.jobs, 1))
    report(per_call, configs, kinds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
