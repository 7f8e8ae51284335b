"""Processor throughput: OTLP/gRPC in, llm_metrics + otlp re-export out, over loopback.

    python bench/processor_throughput.py --seconds 20 [--clients 2] [--inflight 4]

Processes (all on 127.0.0.1, all stop by themselves):

- sink: a discarding OTLP gRPC server (identity deserializer, empty responses) = the backend;
- processor: the real service (``Service`` from a YAML config): otlp receiver -> llm_metrics
  connector (when installed) + otlp exporter -> sink; derived metrics go to the sink as well;
- N clients: raw grpc with identity serializers, each keeping ``--inflight`` calls in flight, sending
  PRE-ENCODED ExportTraceServiceRequests of 512 LLM spans (~15 GenAI attributes each) with fresh
  trace/span ids per request (the ids of a pre-built template are patched with numpy).

Reported in one run: sustained spans/s accepted by the receiver and exported by the otlp exporter
(after a warm-up), the in-process floor (protobuf ``ParseFromString`` only, one core, same
template), the ratio, and the processor's RSS per 1,000 active series (growth from idle).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from concurrent import futures
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from otel_llm import semconv

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SERVICES = (
    "opentelemetry.proto.collector.trace.v1.TraceService",
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "opentelemetry.proto.collector.logs.v1.LogsService",
)
MODELS = (
    (semconv.PROVIDER_OPENAI, "gpt-4o"),
    (semconv.PROVIDER_OPENAI, "gpt-4o-mini"),
    (semconv.PROVIDER_OPENAI, "o3-mini"),
    (semconv.PROVIDER_ANTHROPIC, "claude-sonnet-4-5"),
    (semconv.PROVIDER_ANTHROPIC, "claude-haiku-4-5"),
    (semconv.PROVIDER_AWS_BEDROCK, "amazon.nova-pro-v1:0"),
    (semconv.PROVIDER_GCP_GEMINI, "gemini-2.5-flash"),
    (semconv.PROVIDER_MISTRAL_AI, "mistral-large-latest"),
    (semconv.PROVIDER_GROQ, "llama-3.3-70b-versatile"),
    (semconv.PROVIDER_DEEPSEEK, "deepseek-chat"),
)
OPERATIONS = (semconv.OP_CHAT, semconv.OP_TEXT_COMPLETION)
ERRORS = ("", "RateLimitError")
RESOURCES_PER_REQUEST = 8


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rpartition(")")[2].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return out


def cpu_by_role(roles: dict[str, list[int]]) -> dict[str, float]:
    return {role: sum(cpu_seconds(p) for p in pids) for role, pids in roles.items()}


# --------------------------------------------------------------------------------------------
# Load: pre-encoded requests with patchable ids
# --------------------------------------------------------------------------------------------
@dataclass
class Template:
    data: np.ndarray  # uint8, the encoded ExportTraceServiceRequest
    trace_idx: np.ndarray  # (spans, 8) byte positions of the first 8 bytes of every trace_id
    span_idx: np.ndarray  # (spans, 5) byte positions of the first 5 bytes of every span_id
    spans: int


def _kv(key: str, value: object) -> Any:
    from opentelemetry.proto.common.v1 import common_pb2

    if isinstance(value, bool):
        any_value = common_pb2.AnyValue(bool_value=value)
    elif isinstance(value, int):
        any_value = common_pb2.AnyValue(int_value=value)
    elif isinstance(value, float):
        any_value = common_pb2.AnyValue(double_value=value)
    elif isinstance(value, list):
        any_value = common_pb2.AnyValue(
            array_value=common_pb2.ArrayValue(values=[common_pb2.AnyValue(string_value=v) for v in value])
        )
    else:
        any_value = common_pb2.AnyValue(string_value=str(value))
    return common_pb2.KeyValue(key=key, value=any_value)


def build_template(rng: random.Random, spans: int, services: int, now_ns: int) -> Template:
    """One request of ``spans`` LLM spans spread over RESOURCES_PER_REQUEST services."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.resource.v1 import resource_pb2
    from opentelemetry.proto.trace.v1 import trace_pb2

    per_resource = spans // RESOURCES_PER_REQUEST
    sentinels: list[tuple[bytes, bytes]] = []
    resource_spans = []
    for _ in range(RESOURCES_PER_REQUEST):
        out = []
        for _ in range(per_resource):
            provider, model = rng.choice(MODELS)
            operation = rng.choice(OPERATIONS)
            error = rng.choice(ERRORS)
            trace_id, span_id = rng.randbytes(16), rng.randbytes(8)
            sentinels.append((trace_id, span_id))
            duration_ns = int(rng.lognormvariate(0.0, 0.8) * 1e9)
            attrs: dict[str, object] = {
                semconv.GEN_AI_OPERATION_NAME: operation,
                semconv.GEN_AI_PROVIDER_NAME: provider,
                semconv.GEN_AI_REQUEST_MODEL: model,
                semconv.GEN_AI_RESPONSE_MODEL: model,
                semconv.GEN_AI_RESPONSE_ID: f"resp_{rng.getrandbits(64):016x}",
                semconv.GEN_AI_REQUEST_MAX_TOKENS: 1024,
                semconv.GEN_AI_REQUEST_TEMPERATURE: 0.7,
                semconv.GEN_AI_REQUEST_TOP_P: 1.0,
                semconv.GEN_AI_REQUEST_STREAM: True,
                semconv.GEN_AI_USAGE_INPUT_TOKENS: rng.randint(50, 4000),
                semconv.GEN_AI_USAGE_OUTPUT_TOKENS: rng.randint(5, 800),
                semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: rng.choice((0, 0, 1024)),
                semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
                semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: round(rng.uniform(0.1, 1.5), 3),
                semconv.SERVER_ADDRESS: "api.example.com",
                semconv.SERVER_PORT: 443,
            }
            if error:
                attrs[semconv.ERROR_TYPE] = error
            out.append(
                trace_pb2.Span(
                    trace_id=trace_id,
                    span_id=span_id,
                    name=f"{operation} {model}",
                    kind=trace_pb2.Span.SPAN_KIND_CLIENT,
                    start_time_unix_nano=now_ns - duration_ns,
                    end_time_unix_nano=now_ns,
                    attributes=[_kv(k, v) for k, v in attrs.items()],
                    status=trace_pb2.Status(
                        code=trace_pb2.Status.STATUS_CODE_ERROR
                        if error
                        else trace_pb2.Status.STATUS_CODE_UNSET
                    ),
                )
            )
        resource = resource_pb2.Resource(
            attributes=[
                _kv(semconv.SERVICE_NAME, f"service-{rng.randrange(services):03d}"),
                _kv("deployment.environment.name", "bench"),
            ]
        )
        scope = common_pb2.InstrumentationScope(name="otel_llm.openai", version="0.1.0")
        resource_spans.append(
            trace_pb2.ResourceSpans(
                resource=resource, scope_spans=[trace_pb2.ScopeSpans(scope=scope, spans=out)]
            )
        )
    data = trace_service_pb2.ExportTraceServiceRequest(resource_spans=resource_spans).SerializeToString()
    trace_pos, span_pos = [], []
    for trace_id, span_id in sentinels:
        t, s = data.find(trace_id), data.find(span_id)
        assert t >= 0 and s >= 0
        trace_pos.append(t)
        span_pos.append(s)
    array = np.frombuffer(data, dtype=np.uint8).copy()
    trace_idx = np.asarray(trace_pos)[:, None] + np.arange(8)
    span_idx = np.asarray(span_pos)[:, None] + np.arange(5)
    return Template(array, trace_idx, span_idx, len(sentinels))


def build_pool(seed: int, size: int, spans: int, services: int) -> list[Template]:
    rng = random.Random(seed)
    now_ns = time.time_ns()
    return [build_template(rng, spans, services, now_ns) for _ in range(size)]


def fresh(template: Template, counter: int) -> bytes:
    """The template with a per-request id prefix: every trace and span id is new."""
    buf = template.data.copy()
    prefix = np.frombuffer(counter.to_bytes(8, "big"), dtype=np.uint8)
    buf[template.trace_idx] = prefix
    buf[template.span_idx] = prefix[3:]
    return buf.tobytes()


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------
def client_main(index: int, port: int, args: argparse.Namespace, start_at: float, out: Connection) -> None:
    import grpc
    import grpc.aio

    pool = build_pool(1000 + index, args.pool, args.spans, args.services)
    totals = {"sent": 0, "refused": 0, "failed": 0}
    state = {"counter": (index + 1) << 40}

    async def worker(export: Any, end: float) -> None:
        while time.time() < end:
            state["counter"] += 1
            template = pool[state["counter"] % len(pool)]
            try:
                await export(fresh(template, state["counter"]), timeout=30)
            except grpc.aio.AioRpcError as err:
                if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                    totals["refused"] += template.spans
                    await asyncio.sleep(0.005)  # the processor pushed back: let it catch up
                else:
                    totals["failed"] += template.spans
                continue
            totals["sent"] += template.spans

    async def run() -> None:
        options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
            export = channel.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
            await asyncio.sleep(max(0.0, start_at - time.time()))
            end = start_at + args.seconds
            await asyncio.gather(*(worker(export, end) for _ in range(args.inflight)))

    asyncio.run(run())
    out.send(totals)
    out.close()


def sink_main(conn: Connection) -> None:
    import grpc

    stats = {"requests": 0, "bytes": 0}

    def discard(request: bytes, context: Any) -> bytes:
        stats["requests"] += 1
        stats["bytes"] += len(request)
        return b""  # an empty Export*ServiceResponse: full success

    handler = grpc.unary_unary_rpc_method_handler(
        discard, request_deserializer=None, response_serializer=None
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), options=[("grpc.max_receive_message_length", -1)]
    )
    server.add_generic_rpc_handlers(
        tuple(grpc.method_handlers_generic_handler(name, {"Export": handler}) for name in SERVICES)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    conn.send(port)
    conn.recv()  # stop
    server.stop(None)
    conn.send(stats)


def processor_config(
    sink_port: int, data_dir: str, with_metrics: bool, workers: str = "0", storage: bool = True
) -> str:
    exporters = "[llm_metrics, otlp/sink]" if with_metrics else "[otlp/sink]"
    metrics = (
        """
    metrics:
      receivers: [llm_metrics]
      exporters: [otlp/metrics]"""
        if with_metrics
        else ""
    )
    metrics_exporter = (
        f"""
  otlp/metrics:
    endpoint: 127.0.0.1:{sink_port}
    tls: {{insecure: true}}
    compression: none"""
        if with_metrics
        else ""
    )
    connectors = f"connectors:\n  llm_metrics: {{workers: {workers}}}\n" if with_metrics else ""
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
        max_recv_msg_size_mib: 64
{connectors}exporters:
  otlp/sink:
    endpoint: 127.0.0.1:{sink_port}
    tls: {{insecure: true}}
    compression: none
    sending_queue: {{queue_size: 256, num_consumers: 4}}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 1s}}{metrics_exporter}
service:
  data_dir: {data_dir}{"" if storage else chr(10) + "  storage: null"}
  api: {{enabled: false}}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: {exporters}{metrics}
"""


def _totals(telemetry: Any) -> dict[str, float]:
    accepted = exported = points = series = state = 0.0
    for sample in telemetry.samples():
        if sample.name == "spans_accepted" and sample.component == "otlp":
            accepted += sample.value
        elif sample.name == "items_sent" and sample.component == "otlp/sink":
            exported += sample.value
        elif sample.name == "items_sent" and sample.component == "otlp/metrics":
            points += sample.value
        elif sample.kind == "gauge" and sample.component == "llm_metrics" and "series" in sample.name:
            series = max(series, sample.value)
        elif sample.kind == "gauge" and sample.component == "llm_metrics" and sample.name == "state_bytes":
            state = sample.value
    return {"accepted": accepted, "exported": exported, "points": points, "series": series, "state": state}


def processor_main(
    sink_port: int,
    with_metrics: bool,
    lifetime: float,
    conn: Connection,
    workers: str = "0",
    profile: str | None = None,
    storage: bool = True,
) -> None:
    from otel_llm_processor.component import ComponentKind
    from otel_llm_processor.config import load_config_text
    from otel_llm_processor.runtime import tune_gc
    from otel_llm_processor.service import Service

    tune_gc()  # as ``otel-llm-processor run`` does

    async def run() -> None:
        with tempfile.TemporaryDirectory(prefix="otel-llm-bench-") as data_dir:
            text = processor_config(sink_port, data_dir, with_metrics, workers, storage)
            config = load_config_text(text, "<bench>", factories=factories(with_metrics))
            service = Service(config)
            await service.start()
            assert service.pipelines is not None
            receiver = service.pipelines.get(ComponentKind.RECEIVER, "otlp")
            conn.send({"port": receiver.grpc_port, "rss": rss_bytes()})
            give_up = time.monotonic() + lifetime  # never outlive the benchmark
            while not conn.poll() and time.monotonic() < give_up:
                await asyncio.sleep(0.25)
                conn.send({"t": time.time(), "rss": rss_bytes(), **_totals(service.telemetry)})
            if conn.poll():
                conn.recv()
            shutdown_at = time.monotonic()
            await service.shutdown(timeout=10.0)
            final = {"t": time.time(), "rss": rss_bytes(), **_totals(service.telemetry), "final": True}
            final["shutdown_s"] = time.monotonic() - shutdown_at
            final["dropped"] = sum(s.value for s in service.telemetry.samples() if s.name == "items_dropped")
            conn.send(final)

    if not profile:
        asyncio.run(run())
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(run())
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


# --------------------------------------------------------------------------------------------
# Floor and report
# --------------------------------------------------------------------------------------------
def parse_floor(template: Template, seconds: float) -> float:
    """Spans/s for protobuf ParseFromString alone, in this process (one core)."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    data = fresh(template, 1)
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(10):
            trace_service_pb2.ExportTraceServiceRequest().ParseFromString(data)
        n += 10
    return n * template.spans / (time.perf_counter() - start)


BASE_MODULES = ("otel_llm_processor.receiver.otlp.factory", "otel_llm_processor.exporter.otlp.factory")
METRICS_MODULE = "otel_llm_processor.connector.llm_metrics.factory"


def factories(with_metrics: bool) -> dict[Any, Any]:
    """Only the components this benchmark uses (others may be half-built in a working tree)."""
    import importlib

    modules = (*BASE_MODULES, METRICS_MODULE) if with_metrics else BASE_MODULES
    found = [importlib.import_module(m).FACTORY for m in modules]
    return {(f.kind, f.type): f for f in found}


def has_llm_metrics() -> bool:
    try:
        return bool(factories(True)) and len(factories(True)) == 3
    except Exception as exc:  # a connector that does not import yet: measure without it
        print(f"note: llm_metrics connector unavailable ({exc!r}); measuring without it", file=sys.stderr)
        return False


def rate(samples: list[dict[str, float]], key: str, start: float, end: float) -> float:
    window = [s for s in samples if start <= s["t"] <= end]
    if len(window) < 2:
        return 0.0
    first, last = window[0], window[-1]
    return (last[key] - first[key]) / max(1e-9, last["t"] - first["t"])


def distinct_series(args: argparse.Namespace) -> int:
    """Series the load can produce: services x (provider, model) x operation x error type."""
    return args.services * len(MODELS) * len(OPERATIONS) * len(ERRORS)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="load duration")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds excluded from the rates")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--inflight", type=int, default=4, help="concurrent calls per client")
    parser.add_argument("--spans", type=int, default=512, help="spans per request")
    parser.add_argument("--pool", type=int, default=16, help="request templates per client")
    parser.add_argument("--services", type=int, default=50, help="distinct service.name values")
    parser.add_argument("--floor-seconds", type=float, default=2.0)
    parser.add_argument("--no-metrics", action="store_true", help="leave the llm_metrics connector out")
    parser.add_argument(
        "--no-storage", action="store_true", help="service.storage: null (no SQLite, no hourly rollups)"
    )
    parser.add_argument("--profile", help="write the processor's cProfile stats (event loop thread) here")
    parser.add_argument(
        "--workers", default="auto", help="llm_metrics worker processes: auto, 0 (in-process) or N"
    )
    args = parser.parse_args()
    if args.seconds <= args.warmup:
        parser.error("--seconds must exceed --warmup")

    ctx = mp.get_context("spawn")
    with_metrics = not args.no_metrics and has_llm_metrics()
    floor_template = build_pool(7, 1, args.spans, args.services)[0]
    floor = parse_floor(floor_template, args.floor_seconds)

    sink_parent, sink_child = ctx.Pipe()
    sink = ctx.Process(target=sink_main, args=(sink_child,), daemon=True)
    sink.start()
    sink_port = sink_parent.recv()
    proc_parent, proc_child = ctx.Pipe()
    processor = ctx.Process(
        target=processor_main,
        args=(
            sink_port,
            with_metrics,
            args.seconds + 120,
            proc_child,
            args.workers,
            args.profile,
            not args.no_storage,
        ),
        daemon=False,  # it may start llm_metrics worker processes; it stops by itself (lifetime)
    )
    processor.start()
    if not proc_parent.poll(60):
        print("processor did not start", file=sys.stderr)
        return 1
    ready = proc_parent.recv()
    idle_rss = ready["rss"]

    start_at = time.time() + 2.0 + 0.5 * args.clients  # clients build their pools first
    results = []
    clients = []
    for i in range(args.clients):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=client_main, args=(i, ready["port"], args, start_at, child), daemon=True)
        p.start()
        clients.append((p, parent))
    samples: list[dict[str, float]] = []
    hard_stop = start_at + args.seconds + 60
    cpu0: dict[str, float] | None = None
    cpu1: dict[str, float] = {}
    roles: dict[str, list[int]] = {}
    cpu_t0 = cpu_t1 = 0.0
    while time.time() < start_at + args.seconds and time.time() < hard_stop:
        while proc_parent.poll(0.1):
            samples.append(proc_parent.recv())
        if cpu0 is None and time.time() >= start_at + args.warmup:
            assert processor.pid is not None and sink.pid is not None
            roles = {
                "processor (event loop + grpc threads)": [processor.pid],
                "llm_metrics workers": child_pids(processor.pid),
                "clients": [p.pid for p, _ in clients if p.pid is not None],
                "sink": [sink.pid],
            }
            cpu0, cpu_t0 = cpu_by_role(roles), time.time()
        if cpu0 is not None:
            cpu1, cpu_t1 = cpu_by_role(roles), time.time()
    for p, parent in clients:
        try:
            if parent.poll(max(1.0, hard_stop - time.time())):
                results.append(parent.recv())
        except EOFError:
            print("note: a client process died", file=sys.stderr)
        p.join(5)
    while proc_parent.poll(0):
        samples.append(proc_parent.recv())
    loaded_rss = samples[-1]["rss"] if samples else idle_rss
    proc_parent.send("stop")
    final: dict[str, Any] = {}
    while proc_parent.poll(30):
        message = proc_parent.recv()
        if message.get("final"):
            final = message
            break
    processor.join(15)
    sink_parent.send("stop")
    sink_stats = sink_parent.recv() if sink_parent.poll(15) else {}
    sink.join(5)
    for p in [processor, sink, *(c for c, _ in clients)]:
        if p.is_alive():
            p.kill()

    t0, t1 = start_at + args.warmup, start_at + args.seconds
    accepted = rate(samples, "accepted", t0, t1)
    exported = rate(samples, "exported", t0, t1)
    steady = [s["rss"] for s in samples if t0 <= s["t"] <= t1]
    series = int(final.get("series") or 0) or distinct_series(args)
    sent = sum(r["sent"] for r in results)
    refused = sum(r["refused"] for r in results)
    rss_per_k = (loaded_rss - idle_rss) / max(1, series) * 1000
    # Flat memory: the largest RSS in each quarter of the measured load should not climb.
    span_s = max(1e-9, t1 - t0)

    def by_quarter(key: str) -> list[float]:
        bounds = [t0 + q * span_s / 4 for q in range(5)]
        return [
            max((s.get(key, 0.0) for s in samples if bounds[q] <= s["t"] <= bounds[q + 1]), default=0.0)
            for q in range(4)
        ]

    quarters, state_quarters = by_quarter("rss"), by_quarter("state")
    series_note = "" if final.get("series") else " (generated; no connector counted them)"

    rows = [
        (
            "pipeline",
            "otlp receiver -> "
            + (f"llm_metrics (workers: {args.workers}) + " if with_metrics else "")
            + "otlp exporter -> sink"
            + (" (no storage)" if args.no_storage else " (+ SQLite storage, hourly rollups)"),
        ),
        ("clients x in-flight", f"{args.clients} x {args.inflight} ({args.spans} spans/request)"),
        ("load (s), warm-up excluded (s)", f"{args.seconds:g}, {args.warmup:g}"),
        ("accepted spans/s (sustained)", f"{accepted:,.0f}"),
        ("exported spans/s (sustained)", f"{exported:,.0f}"),
        ("floor: ParseFromString spans/s", f"{floor:,.0f}"),
        ("ratio accepted / floor", f"{accepted / floor:.2f}" if floor else "n/a"),
        ("client spans OK / refused (retryable)", f"{sent:,} / {refused:,}"),
        (
            "exported total / accepted total",
            f"{final.get('exported', 0):,.0f} / {final.get('accepted', 0):,.0f}",
        ),
        ("exporter items_dropped", f"{final.get('dropped', 0):,.0f}"),
        ("derived metric points exported", f"{final.get('points', 0):,.0f}"),
        (
            "sink requests / MiB",
            f"{sink_stats.get('requests', 0):,} / {sink_stats.get('bytes', 0) / 2**20:,.0f}",
        ),
        ("active series", f"{series:,}{series_note}"),
        ("RSS idle / loaded (MiB)", f"{idle_rss / 2**20:,.0f} / {loaded_rss / 2**20:,.0f}"),
        (
            "RSS during load min / max (MiB)",
            f"{min(steady) / 2**20:,.0f} / {max(steady) / 2**20:,.0f}" if steady else "n/a",
        ),
        ("RSS max per quarter of the load (MiB)", " / ".join(f"{q / 2**20:,.0f}" for q in quarters)),
        (
            "llm_metrics state per quarter (MiB)",
            " / ".join(f"{q / 2**20:,.1f}" for q in state_quarters) + " (windows, cumulative, pending)",
        ),
        ("(RSS loaded - idle) per 1,000 series (MiB)", f"{rss_per_k / 2**20:,.2f} (includes queued batches)"),
        ("shutdown (s)", f"{final.get('shutdown_s', 0):.2f}"),
    ]
    if cpu0 is not None and cpu_t1 > cpu_t0:
        span = cpu_t1 - cpu_t0
        for role, used in cpu1.items():
            cores = (used - cpu0.get(role, 0.0)) / span
            per_span = cores / accepted * 1e6 if accepted else 0.0
            rows.append((f"CPU {role}", f"{cores:.2f} cores, {per_span:.1f} µs/span"))
        rows.append(("machine load average (1 min)", f"{os.getloadavg()[0]:.2f}"))
    width = max(len(k) for k, _ in rows)
    print(f"processor throughput ({os.cpu_count()} CPUs)")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
