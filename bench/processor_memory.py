"""Memory of the llm_metrics connector per active series, over more than an hour of simulated time.

    python bench/processor_memory.py [--series 100 1000 10000] [--minutes 70] [--calls 2]

No network, no wall-clock waiting: the connector is driven in-process with a fake clock. Every
10 s of simulated time each of N series receives ``--calls`` synthetic LLM calls (log-normal
durations, time to first token, input/output tokens; cost from the price table), fed as columns
(the connector's intake after span reading); every 60 s the connector flushes (cumulative OTLP
request built and discarded) and the 1m/5m/1h summaries are read. Memory is what ``tracemalloc``
sees (numpy reports its buffers to it) after a ``gc``, minus the baseline before the connector
existed, divided by N. Reported at several points in time: once the 1 h window is full (after
60 min) the figure must stop growing.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc

import numpy as np

from otel_llm import semconv
from otel_llm_processor.component import ComponentID, ComponentKind, CreateSettings
from otel_llm_processor.connector.llm_metrics.aggregator import VALUES, Columns
from otel_llm_processor.connector.llm_metrics.config import Config
from otel_llm_processor.connector.llm_metrics.connector import LlmMetricsConnector
from otel_llm_processor.connector.llm_metrics.pricing import Pricer
from otel_llm_processor.selftel import SelfTelemetry

T0 = 1_699_999_800.0  # a multiple of 300 s
STEP_S = 10.0
FLUSH_S = 60.0
MODELS = (
    (semconv.PROVIDER_OPENAI, "gpt-4o"),
    (semconv.PROVIDER_OPENAI, "gpt-4o-mini"),
    (semconv.PROVIDER_ANTHROPIC, "claude-sonnet-4-5"),
    (semconv.PROVIDER_ANTHROPIC, "claude-haiku-4-5"),
)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def series_keys(n: int) -> list[tuple[str, ...]]:
    keys = []
    for i in range(n):
        provider, model = MODELS[i % len(MODELS)]
        error = "TimeoutError" if (i // len(MODELS)) % 2 else ""  # every key distinct
        keys.append((f"svc-{i // (2 * len(MODELS))}", provider, model, semconv.OP_CHAT, error))
    return keys


def batch(rng: np.random.Generator, keys: list[tuple[str, ...]], calls: int, now: float) -> Columns:
    n = len(keys) * calls
    key_of = np.repeat(np.arange(len(keys), dtype=np.int64), calls)
    values = np.full((len(VALUES), n), np.nan)
    values[0] = rng.lognormal(np.log(2.0), 0.8, n) * 1e9  # duration, ns
    values[1] = rng.lognormal(np.log(0.4), 0.6, n)  # ttft, s
    values[2] = np.round(rng.lognormal(np.log(800), 1.0, n))  # input tokens
    values[3] = np.round(rng.lognormal(np.log(300), 0.8, n))  # output tokens
    ids = [b"\x01" * 16] * n
    return Columns(keys, key_of, values, ids, [b"\x02" * 8] * n, [int(now * 1e9)] * n)


def run(
    n: int, minutes: float, calls: int, checkpoints: list[float], pricer: Pricer
) -> list[tuple[float, float, int]]:
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    clock = Clock()
    telemetry = SelfTelemetry()
    settings = CreateSettings(ComponentID.parse("llm_metrics"), ComponentKind.CONNECTOR, telemetry)
    conn = LlmMetricsConnector(settings, Config(max_series=max(n, 1) + 10), clock=clock, pricer=pricer)
    keys = series_keys(n)
    rng = np.random.default_rng(7)
    out: list[tuple[float, float, int]] = []
    pending = sorted(checkpoints)
    steps = int(minutes * 60 / STEP_S)
    loop = asyncio.new_event_loop()
    try:
        for step in range(1, steps + 1):
            clock.now = T0 + step * STEP_S - 0.5
            conn._ingest(batch(rng, keys, calls, clock.now), None)
            if (step * STEP_S) % FLUSH_S == 0:
                loop.run_until_complete(conn.flush())
                for window in ("1m", "5m", "1h"):
                    conn.summarize(window)
            elapsed_min = step * STEP_S / 60
            while pending and elapsed_min >= pending[0]:
                pending.pop(0)
                gc.collect()
                used = tracemalloc.get_traced_memory()[0] - base
                out.append((elapsed_min, used / max(n, 1), len(conn._agg.registry)))
    finally:
        loop.close()
    del conn
    gc.collect()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[100, 1000, 10_000])
    parser.add_argument("--minutes", type=float, default=70.0)
    parser.add_argument("--calls", type=int, default=2, help="calls per series per 10 s")
    args = parser.parse_args()
    checkpoints = [m for m in (1 / 3, 5, 30, 60, 65, 70) if m <= args.minutes]
    pricer = Pricer()  # the price table is process-wide: load it before the baseline
    for provider, model in MODELS:
        pricer.rates(provider, model)
    tracemalloc.start()
    print(f"llm_metrics memory per active series ({args.calls} calls / series / 10 s, tracemalloc)")
    print(f"{'series':>7} " + " ".join(f"{f'{m:.4g} min':>11}" for m in checkpoints) + "   run s")
    for n in args.series:
        t = time.perf_counter()
        rows = run(n, args.minutes, args.calls, checkpoints, pricer)
        cells = " ".join(f"{b / 1024:>8.1f} KB" for _, b, _ in rows)
        print(f"{n:>7} {cells}   {time.perf_counter() - t:5.1f}", flush=True)
    tracemalloc.stop()


if __name__ == "__main__":
    main()
