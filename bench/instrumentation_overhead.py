"""Instrumentation overhead: otel_llm vs. peer OpenAI instrumentations, per call, in one run.

    python bench/instrumentation_overhead.py [--rounds 40] [--calls 12] [--profile 200] [--configs a,b]
                                             [--ref-tree DIR]

Measures the median per-call time of a non-streaming and a streaming ``chat.completions.create``
with the real ``openai`` SDK client, for: uninstrumented; otel_llm; OpenLLMetry
(``opentelemetry-instrumentation-openai``); the official contrib ``opentelemetry-instrumentation-
openai-v2``; OpenInference (when installed); the floor, one span with 12 attributes started
and ended on the same provider in a tight loop; and the floor in situ, that span around the
uninstrumented SDK call (what any span-recording instrumentation must add with the caches as cold
as the SDK leaves them: 3-4x the tight-loop floor on the test machine); and ``minimal``, the least a
working instrumentation does (a wrapt wrapper making one span current around the call, response
fields read straight onto it, streams through a bare generator; see ``instr_worker._minimal``), so
a target can be checked against what any span-per-call instrumentation costs. Every configuration has a real SDK ``TracerProvider`` with a
``BatchSpanProcessor`` feeding a discarding exporter, and runs in its own process (instrumentors
are process-global); the network is taken out by an in-process ``httpx2`` transport returning
recorded bytes (``instr_transport.py``), so nothing leaves the process.

The workers are driven in interleaved rounds (the order rotates each round); each round every
configuration times ``--calls`` calls of each kind and reports medians. The table shows, per
configuration, the median over rounds of those per-round medians with the interquartile range, and
the overhead against the uninstrumented worker *of the same round* (paired, so slow phases of a
shared machine cancel out). Times are process CPU time (all threads, so the batch processor's
export thread counts); wall-clock medians are printed below for reference.

Before the timed rounds each worker's spans are checked: our span must carry tokens and cost (and
time to first chunk on the stream), so we are not measuring a no-op; each peer's spans per call and
what it records are shown. ``--profile N`` then runs cProfile over N calls of each kind in our
configuration and prints where our per-call time goes. ``--ref-tree DIR`` adds ``otel_llm_ref``: ours
imported from DIR (a directory holding another version's ``otel_llm/`` package), measured in the
same interleaved rounds, so a change can be compared before/after on a busy machine.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from otel_llm import semconv  # noqa: E402

__all__ = ["main"]

OURS = "otel_llm"
OURS_REF = "otel_llm_ref"
BASE = "none"
FLOOR = "floor"
FLOOR_SDK = "floor_sdk"
MINIMAL = "minimal"
# config -> (label, module that must be importable)
CONFIGS: dict[str, tuple[str, str | None]] = {
    BASE: ("uninstrumented", None),
    OURS: ("otel_llm", "otel_llm.openai"),
    OURS_REF: ("otel_llm from --ref-tree (reference version)", "otel_llm.openai"),
    "openllmetry": (
        "OpenLLMetry 0.62 (opentelemetry-instrumentation-openai)",
        "opentelemetry.instrumentation.openai",
    ),
    "contrib_v2": (
        "contrib (opentelemetry-instrumentation-openai-v2)",
        "opentelemetry.instrumentation.openai_v2",
    ),
    "openinference": (
        "OpenInference (openinference-instrumentation-openai)",
        "openinference.instrumentation.openai",
    ),
    FLOOR: ("floor: start+end 1 span with 12 attributes, tight loop (hot caches)", None),
    FLOOR_SDK: ("floor in situ: that span around the uninstrumented SDK call (overhead vs none)", None),
    MINIMAL: ("minimal: current span, request/response fields read directly, bare stream generator", None),
}
PEERS = ("openllmetry", "contrib_v2", "openinference")
KINDS = ("nonstream", "stream")
TARGET_PEER_RATIO = 0.5
TARGET_FLOOR_RATIO = 1.5


@dataclass
class Worker:
    config: str
    proc: subprocess.Popen[str]
    # nonstream, stream, *_wall, and *_paired where the worker can also call the SDK unwrapped
    samples: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.config} died (exit {self.proc.wait()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def stop(self) -> None:
        try:
            self.ask({"stop": True})
        except Exception:
            pass
        finally:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _clean_env(first: str | None = None) -> dict[str, str]:
    """Default settings for every instrumentation: no OTEL_*/TRACELOOP_* from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACELOOP_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (first, str(HERE), env.get("PYTHONPATH", "")) if p)
    return env


def spawn(config: str, ref_tree: str | None = None) -> Worker:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "instr_worker.py"), config],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_clean_env(ref_tree if config == OURS_REF else None),
        cwd=str(HERE),
    )
    return Worker(config, proc)


def available(config: str) -> bool:
    module = CONFIGS[config][1]
    if module is None:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


# -- verification -------------------------------------------------------------------------------
def records(span: dict[str, Any]) -> str:
    """What a span carries, in a few words: tokens, cost, TTFT, content."""
    keys = span["attributes"].keys()
    found = []
    if any("input_tokens" in k or "prompt_tokens" in k or "token_count.prompt" in k for k in keys):
        found.append("tokens")
    if any("cost" in k for k in keys):
        found.append("cost")
    if any("first_chunk" in k or "first_token" in k for k in keys):
        found.append("ttft")
    if any(k.endswith((".messages", ".content", "input.value")) or ".content" in k for k in keys):
        found.append("content")
    return ",".join(found) or "-"


def check_ours(verified: dict[str, Any]) -> list[str]:
    """Problems with our spans (empty when tokens, cost and TTFT are all there)."""
    problems = []
    required = {
        "nonstream": (
            semconv.GEN_AI_USAGE_INPUT_TOKENS,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
            semconv.OTEL_LLM_COST_USD,
        ),
        "stream": (
            semconv.GEN_AI_USAGE_INPUT_TOKENS,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
            semconv.OTEL_LLM_COST_USD,
            semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
        ),
    }
    for kind, keys in required.items():
        spans = verified.get(kind) or []
        if len(spans) != 1:
            problems.append(f"{kind}: {len(spans)} spans per call, expected 1")
            continue
        attrs = spans[0]["attributes"]
        missing = [k for k in keys if k not in attrs]
        if missing:
            problems.append(f"{kind}: missing {', '.join(missing)}")
        elif not (attrs[semconv.OTEL_LLM_COST_USD] > 0 and attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 26):
            problems.append(f"{kind}: wrong values {attrs}")
    return problems


# -- statistics ---------------------------------------------------------------------------------
def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        v = values[0] if values else float("nan")
        return v, v, v
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def fmt(values: Sequence[float]) -> str:
    q1, q2, q3 = quartiles(values)
    return f"{q2:8.1f} [{q1:.0f}-{q3:.0f}]"


def paired_overhead(workers: dict[str, Worker], config: str, kind: str) -> list[float]:
    base = workers[BASE].samples[kind]
    return [a - b for a, b in zip(workers[config].samples[kind], base, strict=True)]


# -- driver -------------------------------------------------------------------------------------
def run(
    configs: list[str], rounds: int, calls: int, ref_tree: str | None = None
) -> tuple[dict[str, Worker], dict[str, dict[str, Any]]]:
    workers = {c: spawn(c, ref_tree) for c in configs}
    try:
        verified = {}
        for config, worker in workers.items():
            worker.ask({"calls": max(calls // 2, 10)})  # warm-up: imports, caches, lazy SDK types
            verified[config] = worker.ask({"verify": True})
        problems = [p for c in (OURS, OURS_REF) if c in verified for p in check_ours(verified[c])]
        if problems:
            raise SystemExit(
                "otel_llm spans are incomplete, refusing to benchmark a no-op: " + "; ".join(problems)
            )
        order = list(configs)
        for r in range(rounds):
            shift = r % len(order)
            this_round = order[shift:] + order[:shift]
            if r % 2:
                this_round.reverse()
            for config in this_round:
                reply = workers[config].ask({"calls": calls})
                for key, value in reply.items():
                    workers[config].samples[key].append(value)
        for config, worker in workers.items():
            verified[config]["spans_per_call_total"] = worker.ask({"verify": True})["spans_per_call"]
        return workers, verified
    finally:
        for worker in workers.values():
            worker.stop()


def report(workers: dict[str, Worker], verified: dict[str, dict[str, Any]], rounds: int, calls: int) -> bool:
    configs = list(workers)
    measured = [c for c in configs if c not in (BASE, FLOOR)]
    overhead = {c: {k: statistics.median(paired_overhead(workers, c, k)) for k in KINDS} for c in measured}
    floors: dict[str, dict[str, float]] = {}
    if FLOOR in workers:
        floors[FLOOR] = {k: statistics.median(workers[FLOOR].samples[k]) for k in KINDS}
    if FLOOR_SDK in overhead:
        floors[FLOOR_SDK] = overhead[FLOOR_SDK]
    peers = [c for c in PEERS if c in overhead]
    best_peer = {k: min(peers, key=lambda c: overhead[c][k]) for k in KINDS} if peers else {}

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else float("nan")

    def pair(values: Sequence[float]) -> str:
        return f"{values[0]:>5.2f}/{values[1]:<5.2f}".rjust(12)

    print(
        f"\nInstrumentation overhead per OpenAI chat call ({rounds} interleaved rounds x {calls} calls of each kind)"
    )
    print(
        "process CPU µs/call: median over rounds of the per-round medians [IQR]; overhead = paired per round vs"
    )
    print("uninstrumented; ratio columns are non-stream/stream\n")
    head = (
        f"{'config':<14} {'non-stream µs':>19} {'stream µs':>19} {'ovh non-stream':>19} {'ovh stream':>19}"
        f" {'x best peer':>12} {'x floor':>12} {'x in situ':>12} {'spans/call':>10}  records (non-stream / stream)"
    )
    print(head)
    print("-" * len(head))
    for c in configs:
        w = workers[c]
        cols = [f"{c:<14}", f"{fmt(w.samples['nonstream']):>19}", f"{fmt(w.samples['stream']):>19}"]
        if c in overhead:
            cols += [f"{fmt(paired_overhead(workers, c, k)):>19}" for k in KINDS]
            for ref in (
                {k: overhead[best_peer[k]][k] for k in KINDS} if best_peer else None,
                floors.get(FLOOR),
                floors.get(FLOOR_SDK) if c != FLOOR_SDK else None,
            ):
                cols.append(pair([ratio(overhead[c][k], ref[k]) for k in KINDS]) if ref else f"{'-':>12}")
        else:
            cols += [f"{'-':>19}"] * 2 + [f"{'-':>12}"] * 3
        v = verified[c]
        spc = v.get("spans_per_call_total", v["spans_per_call"])
        recs = " / ".join(records(s[0]) if s else "-" for s in (v["nonstream"], v["stream"]))
        cols.append(f"{spc:>10.2f}  {recs if c not in (BASE, FLOOR, FLOOR_SDK, MINIMAL) else ''}")
        print(" ".join(cols))
    print()
    for c in configs:
        source = f" ({verified[c]['source']})" if "source" in verified[c] else ""
        print(f"  {c:<14} {CONFIGS[c][0]}{source}")
    print("\nWall-clock medians (µs/call, includes the other tenants of a shared machine):")
    for c in configs:
        w = workers[c]
        print(
            f"  {c:<14} non-stream {fmt(w.samples['nonstream_wall'])}   stream {fmt(w.samples['stream_wall'])}"
        )

    paired = {c: workers[c].samples for c in configs if workers[c].samples.get("nonstream_paired")}
    if paired:
        print(
            "\nIn-process paired overhead (µs/call): per round, the median of instrumented - uninstrumented"
        )
        print("differences of adjacent calls in one process (order alternating); median [IQR] over rounds:")
        for c, samples in paired.items():
            print(
                f"  {c:<14} non-stream {fmt(samples['nonstream_paired'])}   stream {fmt(samples['stream_paired'])}"
            )

    if OURS not in overhead or not best_peer or not floors:
        print("\nTargets: not evaluated (otel_llm, a peer or the floor is missing from this run)")
        return True
    ok = True
    print(
        f"\nTargets: overhead <= {TARGET_PEER_RATIO}x the best peer's and <= {TARGET_FLOOR_RATIO}x the floor,"
    )
    print("with tokens, cost and (stream) time to first chunk verified on our spans:")
    for k in KINDS:
        ours, bp = overhead[OURS][k], overhead[best_peer[k]][k]
        peer_ok = ours <= TARGET_PEER_RATIO * bp
        ok = ok and peer_ok
        line = f"  {k:<10} ours {ours:6.1f} µs | best peer {best_peer[k]} {bp:6.1f} µs: {ratio(ours, bp):.2f}x ({'met' if peer_ok else 'MISSED'})"
        for name, fl in floors.items():
            floor_ok = ours <= TARGET_FLOOR_RATIO * fl[k]
            ok = ok and floor_ok
            line += f" | {name} {fl[k]:.1f} µs: {ratio(ours, fl[k]):.2f}x ({'met' if floor_ok else 'MISSED'})"
        print(line)
    # The same targets on the in-process paired figures (tighter: no bias between processes), for
    # the peers that have them (those wrapping Completions.create) and the floor in situ.
    paired_peers = [c for c in PEERS if c in paired]
    if OURS in paired and paired_peers:
        print("on the in-process paired overhead (peers that wrap create; floor in situ):")
        for k in KINDS:
            key = f"{k}_paired"
            med = {c: statistics.median(paired[c][key]) for c in paired}
            best = min(paired_peers, key=lambda c: med[c])
            ours, bp = med[OURS], med[best]
            line = f"  {k:<10} ours {ours:6.1f} µs | best peer {best} {bp:6.1f} µs: {ratio(ours, bp):.2f}x"
            line += f" ({'met' if ours <= TARGET_PEER_RATIO * bp else 'MISSED'})"
            if FLOOR_SDK in med:
                fl = med[FLOOR_SDK]
                line += f" | floor_sdk {fl:.1f} µs: {ratio(ours, fl):.2f}x"
                line += f" ({'met' if ours <= TARGET_FLOOR_RATIO * fl else 'MISSED'})"
            print(line)
        if MINIMAL in paired:
            # What the simplest working instrumentation costs, against the peer target: a target
            # below it is out of reach for anything that records a span per call through the SDK.
            print("the least a working instrumentation adds (minimal), against the best peer's target:")
            for k in KINDS:
                key = f"{k}_paired"
                med = {c: statistics.median(paired[c][key]) for c in paired}
                best = min(paired_peers, key=lambda c: med[c])
                mn, target = med[MINIMAL], TARGET_PEER_RATIO * med[best]
                print(
                    f"  {k:<10} minimal {mn:6.1f} µs = {ratio(mn, med[best]):.2f}x {best}"
                    f" (target {target:.1f} µs) | ours {med[OURS]:.1f} µs = {ratio(med[OURS], mn):.2f}x minimal"
                )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds (default 40)")
    parser.add_argument(
        "--calls", type=int, default=12, help="timed calls of each kind per round (default 12)"
    )
    parser.add_argument("--configs", default=None, help="comma-separated subset of: " + ", ".join(CONFIGS))
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="then cProfile N calls of each kind of ours"
    )
    parser.add_argument(
        "--ref-tree",
        metavar="DIR",
        help="also measure otel_llm_ref: ours imported from DIR/otel_llm (another version, same rounds)",
    )
    args = parser.parse_args(argv)
    default_configs = ",".join(c for c in CONFIGS if c != OURS_REF)
    wanted = [c.strip() for c in (args.configs or default_configs).split(",") if c.strip()]
    if args.ref_tree:
        if not (Path(args.ref_tree) / "otel_llm" / "__init__.py").is_file():
            parser.error(f"--ref-tree {args.ref_tree}: no otel_llm/__init__.py there")
        if OURS_REF not in wanted:
            wanted.insert(wanted.index(OURS) + 1 if OURS in wanted else len(wanted), OURS_REF)
    elif OURS_REF in wanted:
        parser.error(f"{OURS_REF} needs --ref-tree")
    unknown = [c for c in wanted if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configs {unknown}")
    missing = [c for c in wanted if not available(c)]
    for c in missing:
        print(f"skipping {c}: {CONFIGS[c][1]} is not installed")
    configs = [c for c in wanted if c not in missing]
    if BASE not in configs:
        configs.insert(0, BASE)
    started = time.monotonic()
    workers, verified = run(configs, args.rounds, args.calls, args.ref_tree)
    report(workers, verified, args.rounds, args.calls)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.profile:
        subprocess.run(
            [sys.executable, str(HERE / "instr_worker.py"), OURS, "--profile", str(args.profile)],
            env=_clean_env(),
            cwd=str(HERE),
            check=False,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
