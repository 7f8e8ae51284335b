"""Where otel_llm's per-call time goes: cProfile of the instrumented SDK call, plus timings of
our pieces in isolation (no profiler distortion). Run by ``instr_worker.py CONFIG --profile N``.

The cProfile table lists only code outside the ``openai``/``httpx2``/``pydantic`` SDK stack (ours,
wrapt, the OpenTelemetry API and SDK): ``tottime`` and ``cumtime`` in µs per LLM call (cProfile
inflates many small calls, so read it for ranking). The component table times each piece of the
wrapper directly with ``time.process_time_ns`` over many repetitions.
"""

from __future__ import annotations

import cProfile
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["profile"]

_SKIP = ("/openai/", "/httpx2/", "/pydantic", "/anyio/", "/typing_extensions", "/h11/", "/json/", "/sniffio/")
_KEEP = ("/otel_llm/", "/wrapt/", "/opentelemetry/", "weakref")


def _per_call(stats: pstats.Stats, calls: int, top: int) -> list[tuple[float, float, int, str]]:
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if any(s in filename for s in _SKIP) or not any(k in filename for k in _KEEP):
            continue
        short = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        rows.append((tt * 1e6 / calls, ct * 1e6 / calls, nc, f"{short}:{line}({func})"))
    rows.sort(reverse=True)
    return rows[:top]


def _cprofile(bench: Any, n: int) -> None:
    for kind, fn in (("non-stream", bench.nonstream), ("stream", bench.stream)):
        for _ in range(max(n // 5, 20)):
            fn()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            fn()
        prof.disable()
        stats = pstats.Stats(prof)
        total = sum(v[2] for v in stats.stats.values()) * 1e6 / n  # type: ignore[attr-defined]
        print(
            f"\ncProfile, {bench.config}, {kind}: {n} calls, {total:.0f} µs/call under the profiler (all code)"
        )
        print(
            f"{'tottime µs/call':>16} {'cumtime µs/call':>16} {'ncalls':>8}  function (ours, wrapt, OpenTelemetry)"
        )
        for tt, ct, nc, name in _per_call(stats, n, 28):
            print(f"{tt:>16.2f} {ct:>16.2f} {nc:>8}  {name}")


def _time(fn: Callable[[], Any], reps: int) -> float:
    """Median over 7 batches of the process CPU µs per ``fn()``."""
    per = []
    cpu = time.process_time_ns
    for _ in range(7):
        t0 = cpu()
        for _ in range(reps):
            fn()
        per.append((cpu() - t0) / reps / 1000.0)
    return statistics.median(per)


def _noop() -> None:
    return None


def _components(bench: Any) -> None:
    """Time our wrapper's pieces in isolation, on the objects of a real call."""
    from instr_transport import MODEL

    from otel_llm._core.span import instrumenting_context, should_instrument
    from otel_llm._core.stream import StreamState, SyncStreamProxy
    from otel_llm.openai import extract, patch
    from otel_llm.openai.stream import ChatStreamHandler

    inst = bench.instrumentor
    settings = inst.settings
    client = bench.client
    resource = client.chat.completions
    kwargs = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "max_tokens": 64,
    }
    skw = {**kwargs, "stream": True, "stream_options": {"include_usage": True}}
    inst.uninstrument()  # SDK objects without our spans
    response = client.chat.completions.create(**kwargs)
    chunks = list(client.chat.completions.create(**skw))
    inst.instrument(tracer_provider=bench.provider)
    settings = inst.settings

    def start_end() -> None:
        patch._start(settings, patch.CHAT, resource, kwargs, instrumenting_context()).end()

    def start_fill_end() -> None:
        call = patch._start(settings, patch.CHAT, resource, kwargs, instrumenting_context())
        patch._chat_response(call, response)
        call.end()

    def fill_only() -> None:
        call = patch._start(settings, patch.CHAT, resource, kwargs, instrumenting_context())
        patch._chat_response(call, response)
        call.span.end()  # skip LlmCall.end's usage/cost/metrics

    def cost_only() -> None:
        settings.prices.cost("openai", response.model, 26, 20, 0, None)

    def activate() -> None:
        call = patch._start(settings, patch.CHAT, resource, kwargs, instrumenting_context())
        call.run(_noop, (), {})
        call.span.end()

    def stream_all() -> None:
        call = patch._start(settings, patch.CHAT, resource, skw, instrumenting_context())
        proxy = SyncStreamProxy(iter(chunks), StreamState(call, ChatStreamHandler(skw["messages"])))
        for _ in proxy:
            pass

    def stream_plain() -> None:
        call = patch._start(settings, patch.CHAT, resource, skw, instrumenting_context())
        for _ in iter(chunks):
            pass
        call.end()

    tracer = bench.provider.get_tracer("bench.components")

    def bare_span() -> None:
        tracer.start_span("chat x").end()

    rows: list[tuple[str, Callable[[], Any]]] = [
        ("should_instrument()", should_instrument),
        ("extract.endpoint(resource)", lambda: extract.endpoint(resource)),
        ("extract.chat_request_attributes(kwargs)", lambda: extract.chat_request_attributes(kwargs)),
        ("extract.chat_response(response)", lambda: extract.chat_response(response)),
        ("PriceBook.cost(...)", cost_only),
        ("bare span start+end, no attributes", bare_span),
        ("_start + LlmCall.end (no response)", start_end),
        ("_start + LlmCall.run(no-op) + span.end", activate),
        ("_start + _chat_response + span.end (no usage/cost)", fill_only),
        ("_start + _chat_response + LlmCall.end (full)", start_fill_end),
        (f"stream: _start + iterate {len(chunks)} chunks + end, no proxy", stream_plain),
        (f"stream: _start + proxy over {len(chunks)} chunks (full)", stream_all),
    ]
    print(
        f"\nComponents of {bench.config}'s wrapper, timed in isolation (process CPU µs per call, median of 7 batches)"
    )
    for label, fn in rows:
        print(f"{_time(fn, 2000):>10.2f}  {label}")


def profile(bench: Any, n: int) -> None:
    _cprofile(bench, n)
    if bench.config == "otel_llm":
        _components(bench)
