"""Span scanner speed: native (C) vs pure-Python fallback vs upb ``ParseFromString`` alone.

    python bench/spanscan_speed.py [--seconds 6] [--rounds 5] [--spans 512]

One core, in this process: each contender scans the same pre-encoded ExportTraceServiceRequests
(the template of ``processor_throughput.py``: ``--spans`` LLM spans of ~15 GenAI attributes over 8
resources, fresh ids per request) in ``--rounds`` rounds, results dropped as they come. Reported:
spans/s of the best and of the median round (the best is the least disturbed by other processes on
a shared machine), and each one's ratio to upb parsing alone. The scanner's keys are the processor's
slot keys (``dialects.SLOTS``) plus ``service.name``; any slot key makes a span a candidate.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from processor_throughput import build_pool, fresh

from otel_llm import semconv


def scanner_keys() -> tuple[list[str], int]:
    """The processor's slot keys first (they make a span a candidate), then resource keys."""
    try:
        from otel_llm_processor.model.dialects import SLOTS

        keys = sorted(SLOTS, key=SLOTS.__getitem__)
    except ImportError:  # dialects reworked: every GenAI name the instrumentation knows
        keys = [v for k, v in vars(semconv).items() if k.startswith("GEN_AI_") and isinstance(v, str)]
    trigger = len(keys)
    keys += [k for k in (semconv.SERVICE_NAME, "deployment.environment.name") if k not in keys]
    return keys, trigger


def measure(fn: Callable[[bytes], object], payloads: list[bytes], seconds: float, rounds: int) -> list[float]:
    """Requests/s of each round (each round scans payloads in turn for seconds / rounds)."""
    per_round = seconds / rounds
    rates = []
    for _ in range(rounds):
        n = 0
        start = time.perf_counter()
        while True:
            for data in payloads:
                fn(data)
            n += len(payloads)
            elapsed = time.perf_counter() - start
            if elapsed >= per_round:
                break
        rates.append(n / elapsed)
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="per contender (default 6)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--spans", type=int, default=512, help="spans per request (default 512)")
    args = parser.parse_args()

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from otel_llm_processor.model import spanscan

    pool = build_pool(seed=7, size=4, spans=args.spans, services=100)
    payloads = [fresh(template, i + 1) for i, template in enumerate(pool)]
    spans = pool[0].spans
    keys, trigger = scanner_keys()
    print(
        f"request: {spans} spans, {len(payloads[0]):,} bytes ({len(payloads[0]) / spans:.0f} B/span); "
        f"scanner: {len(keys)} keys, {trigger} trigger keys"
    )

    contenders: list[tuple[str, Callable[[bytes], object]]] = []
    if spanscan.NativeScanner is not None:
        contenders.append(("native (C)", spanscan.NativeScanner(keys, trigger).scan))
    else:
        print("native: NOT BUILT (the C extension is missing; run make install with a C compiler)")
    contenders.append(("fallback (upb + Python)", spanscan.PyScanner(keys, trigger).scan))
    contenders.append(
        ("upb ParseFromString only", lambda data: ExportTraceServiceRequest().ParseFromString(data))
    )

    if spanscan.NativeScanner is not None:  # both give the same answer, or the comparison is moot
        native, fallback = contenders[0][1], contenders[1][1]
        assert all(native(d) == fallback(d) for d in payloads), "native and fallback disagree"

    results = {}
    for name, fn in contenders:
        fn(payloads[0])  # warm-up
        rates = [r * spans for r in measure(fn, payloads, args.seconds, args.rounds)]
        results[name] = (max(rates), statistics.median(rates))
    upb_best, _ = results["upb ParseFromString only"]
    print(f"{'':26} {'best spans/s':>14} {'median spans/s':>15} {'x upb (best)':>13}")
    for name, (best, median) in results.items():
        print(f"{name:26} {best:14,.0f} {median:15,.0f} {best / upb_best:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
