"""One benchmark configuration in its own process (instrumentors are process-global).

    python bench/instr_worker.py CONFIG          # serve rounds over stdin/stdout (JSON lines)
    python bench/instr_worker.py CONFIG --profile N   # cProfile N calls of each kind, print stats

Every configuration has the same telemetry pipeline: an SDK ``TracerProvider`` (set as the global
one too) with a ``BatchSpanProcessor`` feeding :class:`DiscardExporter`, and the real ``openai``
client over :class:`instr_transport.RecordedTransport`. Configurations:

- ``none``: uninstrumented SDK calls;
- ``otel_llm``: ours (``otel_llm.openai.OpenAIInstrumentor``);
- ``otel_llm_ref``: ours from another source tree put first on ``PYTHONPATH`` by the parent
  (``--ref-tree``), to compare two versions of ours in one interleaved run;
- ``openllmetry``: ``opentelemetry-instrumentation-openai`` (Traceloop), default settings;
- ``contrib_v2``: ``opentelemetry-instrumentation-openai-v2`` (official contrib), default settings;
- ``openinference``: ``openinference-instrumentation-openai`` (only when installed);
- ``floor``: no SDK call; start and end one CLIENT span with 12 attributes on the same provider,
  in a tight loop (hot caches: the spec'd floor);
- ``floor_sdk``: the uninstrumented SDK call inside that same span (started before the call, ended
  after the response or the last chunk): the least any instrumentation that records a span must
  add to a real call, with the caches as cold as the SDK leaves them.
- ``minimal``: the least a working instrumentation does (:func:`_minimal`): a wrapt wrapper on
  ``create`` making its span current around the call (so the HTTP client's spans nest under it),
  reading the request's model and the response's id, model, finish reason and tokens straight
  into ``span.set_attributes``; a stream goes through a bare generator that stamps the first
  chunk and reads the last chunk's usage. No cost, no content, no error handling, no transparent
  stream proxy: a lower bound for what ours and the peers record, not a usable instrumentation.

Protocol: the parent writes ``{"calls": N}``; the worker answers ``{"nonstream": µs, "stream":
µs, "nonstream_wall": µs, "stream_wall": µs}``: the medians of N timed calls of each kind, in
process CPU time and in wall time; plus ``"nonstream_paired"``/``"stream_paired"`` where the
uninstrumented call is available in the same process (``none``, ``floor_sdk``, and the
instrumentations that wrap ``Completions.create``): the median of N (instrumented -
uninstrumented) differences of adjacent calls, free of the bias between processes. ``{"verify": true}`` answers what the last
spans carried (name, scope, attributes) and the spans exported per call, so the parent can check
that a configuration is not a no-op.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from instr_transport import MODEL, RESPONSE_MODEL, make_client
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind

from otel_llm import semconv

__all__ = ["CONFIGS", "DiscardExporter", "main"]

CONFIGS = (
    "none",
    "otel_llm",
    "otel_llm_ref",
    "openllmetry",
    "contrib_v2",
    "openinference",
    "floor",
    "floor_sdk",
    "minimal",
)
FLOOR_SPAN_NAME = f"{semconv.OP_CHAT} {MODEL}"
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Name twenty words, one per token, please."},
]


class DiscardExporter(SpanExporter):
    """Drops every batch; keeps a count and a reference to the last batch (for verification)."""

    def __init__(self) -> None:
        self.count = 0
        self.last_batch: Sequence[ReadableSpan] = ()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        self.last_batch = spans
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _instrument(config: str, provider: TracerProvider) -> Any:
    if config in ("otel_llm", "otel_llm_ref"):  # _ref: the same, imported from --ref-tree's PYTHONPATH
        from otel_llm.openai import OpenAIInstrumentor

        inst: Any = OpenAIInstrumentor()
    elif config == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as TraceloopInstrumentor

        inst = TraceloopInstrumentor()
    elif config == "contrib_v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as ContribInstrumentor

        inst = ContribInstrumentor()
    elif config == "minimal":
        return _minimal(provider.get_tracer("bench.minimal"))
    elif config == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceInstrumentor

        inst = OpenInferenceInstrumentor()
    else:
        return None
    inst.instrument(tracer_provider=provider)
    if config in ("otel_llm", "otel_llm_ref"):
        # Instrumenting starts loading the tiktoken encodings on a background thread (imports
        # and file reads: millions of instructions). Let it finish first, or its work lands in
        # whichever calls it overlaps: under callgrind, which runs threads one at a time, that
        # moved the per-call count by up to 100k instructions between otherwise equal runs.
        from otel_llm._core.tokens import default_token_counter

        default_token_counter().wait_ready(120)
    return inst


def _minimal(tracer: Any) -> Any:
    """Instrument ``Completions.create`` the least a span-per-call instrumentation can (see the
    module docstring); returns the wrapper, so ``Bench`` finds the SDK's own ``create`` under it."""
    import wrapt
    from openai.resources.chat.completions import Completions
    from opentelemetry import context as otel_context

    client_kind = SpanKind.CLIENT

    def stream(span: Any, chunks: Any, start: float) -> Any:
        try:
            last = None
            for chunk in chunks:
                if last is None:
                    span.set_attribute(
                        semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, time.perf_counter() - start
                    )
                last = chunk
                yield chunk
            if last is not None and last.usage is not None:
                span.set_attributes(
                    {
                        semconv.GEN_AI_RESPONSE_ID: last.id,
                        semconv.GEN_AI_RESPONSE_MODEL: last.model,
                        semconv.GEN_AI_USAGE_INPUT_TOKENS: last.usage.prompt_tokens,
                        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: last.usage.completion_tokens,
                    }
                )
        finally:
            span.end()

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        model = kwargs.get("model")
        start = time.perf_counter()
        span = tracer.start_span(
            f"chat {model}",
            kind=client_kind,
            attributes={
                semconv.GEN_AI_OPERATION_NAME: semconv.OP_CHAT,
                semconv.GEN_AI_PROVIDER_NAME: semconv.PROVIDER_OPENAI,
                semconv.GEN_AI_REQUEST_MODEL: model,
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            result = wrapped(*args, **kwargs)
        finally:
            otel_context.detach(token)
        if kwargs.get("stream"):
            return stream(span, result, start)
        usage = result.usage
        span.set_attributes(
            {
                semconv.GEN_AI_RESPONSE_ID: result.id,
                semconv.GEN_AI_RESPONSE_MODEL: result.model,
                semconv.GEN_AI_RESPONSE_FINISH_REASONS: [c.finish_reason for c in result.choices],
                semconv.GEN_AI_USAGE_INPUT_TOKENS: usage.prompt_tokens,
                semconv.GEN_AI_USAGE_OUTPUT_TOKENS: usage.completion_tokens,
            }
        )
        span.end()
        return result

    wrapt.wrap_function_wrapper(Completions, "create", wrapper)
    return wrapper


class Bench:
    """The configured process: ``call(stream)`` does one timed unit of work."""

    def __init__(self, config: str) -> None:
        if config not in CONFIGS:
            raise SystemExit(f"unknown config {config!r}; one of {', '.join(CONFIGS)}")
        self.config = config
        self.exporter = DiscardExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter))
        trace.set_tracer_provider(self.provider)
        self.instrumentor = _instrument(config, self.provider)
        self.client = make_client()
        self.tracer = self.provider.get_tracer("bench.floor")
        self.calls = 0
        self.nonstream: Callable[[], None] = self._nonstream
        self.stream: Callable[[], None] = self._stream
        # The same calls without the instrumentation, in this process (None: not available).
        self.nonstream_off: Callable[[], None] | None = None
        self.stream_off: Callable[[], None] | None = None
        if config == "floor":
            self.nonstream = self.stream = self._floor
        elif config == "floor_sdk":
            self.nonstream = self._around(self._nonstream)
            self.stream = self._around(self._stream)
            self.nonstream_off, self.stream_off = self._nonstream, self._stream
        elif config == "none":
            self.nonstream_off, self.stream_off = self._nonstream, self._stream
        else:
            # The instrumentation wraps Completions.create (wrapt): its __wrapped__ is the SDK's own.
            # Only a wrapt wrapper of create itself: its __wrapped__ is the SDK's own method. (The
            # SDK's functools.wraps decorators also set __wrapped__; an instrumentation that patches
            # deeper, e.g. OpenInference on OpenAI.request, would be measured against itself.)
            import wrapt

            proxy = getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)  # wrapt 2 / wrapt 1
            create = type(self.client.chat.completions).create
            original = create.__wrapped__ if isinstance(create, proxy) else None
            if original is not None:
                self.nonstream_off = lambda: self._nonstream(original)
                self.stream_off = lambda: self._stream(original)

    def _create(self, original: Callable[..., Any] | None, **kwargs: Any) -> Any:
        resource = self.client.chat.completions
        return resource.create(**kwargs) if original is None else original(resource, **kwargs)

    def _nonstream(self, original: Callable[..., Any] | None = None) -> None:
        response = self._create(original, model=MODEL, messages=MESSAGES, temperature=0.2, max_tokens=64)
        if response.usage is None:
            raise RuntimeError("the app lost its usage")

    def _stream(self, original: Callable[..., Any] | None = None) -> None:
        stream = self._create(
            original,
            model=MODEL,
            messages=MESSAGES,
            temperature=0.2,
            max_tokens=64,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = 0
        for _ in stream:
            chunks += 1
        if chunks != 23:
            raise RuntimeError(f"the app got {chunks} chunks, expected 23")

    def _around(self, fn: Callable[[], None]) -> Callable[[], None]:
        def call() -> None:
            span = self._floor_span()
            fn()
            span.end()

        return call

    def _floor(self) -> None:
        self._floor_span().end()

    def _floor_span(self) -> Any:
        # 12 attributes, the size of a typical GenAI chat span, set at start.
        return self.tracer.start_span(
            FLOOR_SPAN_NAME,
            kind=SpanKind.CLIENT,
            attributes={
                semconv.GEN_AI_OPERATION_NAME: semconv.OP_CHAT,
                semconv.GEN_AI_PROVIDER_NAME: semconv.PROVIDER_OPENAI,
                semconv.GEN_AI_REQUEST_MODEL: MODEL,
                semconv.GEN_AI_REQUEST_TEMPERATURE: 0.2,
                semconv.GEN_AI_REQUEST_MAX_TOKENS: 64,
                semconv.SERVER_ADDRESS: "api.openai.com",
                semconv.SERVER_PORT: 443,
                semconv.GEN_AI_RESPONSE_ID: "chatcmpl-x",
                semconv.GEN_AI_RESPONSE_MODEL: RESPONSE_MODEL,
                semconv.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
                semconv.GEN_AI_USAGE_INPUT_TOKENS: 26,
                semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 20,
            },
        )

    def timed(self, fn: Callable[[], None], calls: int) -> tuple[float, float]:
        """Median µs per call over ``calls`` calls: (process CPU time, wall time).

        Process CPU time (all threads, so the BatchSpanProcessor's work counts) is robust on a
        shared machine, where wall time also measures the other tenants.
        """
        cpu_samples = []
        wall_samples = []
        perf = time.perf_counter_ns
        cpu = time.process_time_ns
        for _ in range(calls):
            c0 = cpu()
            w0 = perf()
            fn()
            w1 = perf()
            c1 = cpu()
            cpu_samples.append(c1 - c0)
            wall_samples.append(w1 - w0)
        self.calls += calls
        return statistics.median(cpu_samples) / 1000.0, statistics.median(wall_samples) / 1000.0

    def paired(self, on: Callable[[], None], off: Callable[[], None], calls: int) -> float:
        """Median over ``calls`` pairs of (instrumented - uninstrumented) process CPU µs, the two
        calls of a pair adjacent in time and in the same process (their order alternates)."""
        self.calls += calls  # the instrumented calls export spans too (spans per call stays exact)
        cpu = time.process_time_ns
        diffs = []
        for i in range(calls):
            if i % 2:
                c0 = cpu()
                on()
                c1 = cpu()
                off()
                c2 = cpu()
                diffs.append((c1 - c0) - (c2 - c1))
            else:
                c0 = cpu()
                off()
                c1 = cpu()
                on()
                c2 = cpu()
                diffs.append((c2 - c1) - (c1 - c0))
        return statistics.median(diffs) / 1000.0

    def round(self, calls: int) -> dict[str, float]:
        gc.collect()
        ns_cpu, ns_wall = self.timed(self.nonstream, calls)
        s_cpu, s_wall = self.timed(self.stream, calls)
        out = {"nonstream": ns_cpu, "stream": s_cpu, "nonstream_wall": ns_wall, "stream_wall": s_wall}
        if self.nonstream_off is not None and self.stream_off is not None:
            out["nonstream_paired"] = self.paired(self.nonstream, self.nonstream_off, calls)
            out["stream_paired"] = self.paired(self.stream, self.stream_off, calls)
        return out

    def verify(self) -> dict[str, Any]:
        """Spans exported per timed call so far, and the spans of one more call of each kind."""
        self.provider.force_flush()
        out: dict[str, Any] = {"spans_per_call": self.exporter.count / max(self.calls, 1)}
        if self.config.startswith("otel_llm"):
            import otel_llm

            out["source"] = str(Path(otel_llm.__file__).resolve().parent)
        for kind, fn in (("nonstream", self.nonstream), ("stream", self.stream)):
            before = self.exporter.count
            fn()
            self.provider.force_flush()
            fresh = self.exporter.count - before
            out[kind] = [_describe(span) for span in list(self.exporter.last_batch)[-fresh:]] if fresh else []
        return out


def _describe(span: ReadableSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
        "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in (span.attributes or {}).items()},
    }


def serve(bench: Bench) -> None:
    out = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("verify"):
            reply: dict[str, Any] = bench.verify()
        elif request.get("stop"):
            break
        else:
            reply = bench.round(int(request["calls"]))
        out.write(json.dumps(reply) + "\n")
        out.flush()
    bench.provider.shutdown()


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        raise SystemExit(__doc__)
    bench = Bench(args[0])
    if "--profile" in args:
        from instr_profile import profile

        profile(bench, int(args[args.index("--profile") + 1]))
        return
    serve(bench)


if __name__ == "__main__":
    main()
