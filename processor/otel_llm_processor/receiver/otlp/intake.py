"""What both OTLP transports share: parse, count, queue with a bound, deliver, answer.

A request is parsed once (protobuf ``ParseFromString``; item counts per scope, never per span;
trace requests are only validated and counted by the native span scanner when it is built, and
parsed later by whichever consumer needs the objects), put on a bounded queue and awaited; worker tasks hand it to the next consumer, so the answer
reflects what the pipeline did (success, partial success, refusal). When the queue is full the
request is refused at once with a retryable error: clients back off, memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

from otel_llm_processor.component import (
    ConsumerError,
    LogsBatch,
    MetricsBatch,
    PartialSuccessError,
    RetryableError,
    Signal,
    TracesBatch,
)
from otel_llm_processor.model.spanscan import NATIVE, make_scanner
from otel_llm_processor.receiver.otlp.config import QueueConfig

__all__ = ["KINDS", "Intake", "Refused", "SignalKind", "check_bearer"]

_log = logging.getLogger(__name__)


class Refused(Exception):
    """A request that gets an error status. ``reason`` labels the ``requests_refused`` counter."""

    def __init__(self, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


class _Checked:
    """Trace bytes validated, and their spans counted, by the native scanner; parsed only on demand."""

    __slots__ = ("count",)

    def __init__(self, count: int) -> None:
        self.count = count


# The native scanner rejects exactly what ParseFromString rejects, at a third of its cost, and
# builds no objects; with no keys it only validates and counts. None when it is not built.
_CHECKER = make_scanner((), 0) if NATIVE else None


def _count_spans(req: Any) -> int:
    if isinstance(req, _Checked):
        return req.count
    return sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)


def _count_points(req: Any) -> int:
    total = 0
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                field = metric.WhichOneof("data")
                if field is not None:
                    total += len(getattr(metric, field).data_points)
    return total


def _count_records(req: Any) -> int:
    return sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)


@dataclass(frozen=True, slots=True)
class SignalKind:
    signal: Signal
    items: str  # self-telemetry noun: spans, metric_points, log_records
    request: type[Message]
    response: type[Message]
    partial: type[Message]
    rejected_field: str
    count: Callable[[Any], int]
    batch: Callable[[Any, bytes | None, int], Any]
    method: str  # consumer method


KINDS: dict[Signal, SignalKind] = {
    Signal.TRACES: SignalKind(
        Signal.TRACES,
        "spans",
        trace_pb.ExportTraceServiceRequest,
        trace_pb.ExportTraceServiceResponse,
        trace_pb.ExportTracePartialSuccess,
        "rejected_spans",
        _count_spans,
        lambda req, raw, n: TracesBatch(None if isinstance(req, _Checked) else req, raw, n),
        "consume_traces",
    ),
    Signal.METRICS: SignalKind(
        Signal.METRICS,
        "metric_points",
        metrics_pb.ExportMetricsServiceRequest,
        metrics_pb.ExportMetricsServiceResponse,
        metrics_pb.ExportMetricsPartialSuccess,
        "rejected_data_points",
        _count_points,
        lambda req, raw, n: MetricsBatch(req, raw, n),
        "consume_metrics",
    ),
    Signal.LOGS: SignalKind(
        Signal.LOGS,
        "log_records",
        logs_pb.ExportLogsServiceRequest,
        logs_pb.ExportLogsServiceResponse,
        logs_pb.ExportLogsPartialSuccess,
        "rejected_log_records",
        _count_records,
        lambda req, raw, n: LogsBatch(req, raw, n),
        "consume_logs",
    ),
}


def check_bearer(expected: str | None, header: str | None) -> bool:
    """``Authorization: Bearer <token>`` matches (constant-time); always true without a token."""
    if expected is None:
        return True
    if not header or header[:7].lower() != "bearer ":
        return False
    return hmac.compare_digest(header[7:].strip().encode(), expected.encode())


_Job = tuple[Any, Any, int, "asyncio.Future[None]"]


class Intake:
    """Bounded queue + workers between the transports and the next consumers of one receiver."""

    def __init__(
        self, component: str, telemetry: Any, queue: QueueConfig, consumers: dict[Signal, Any]
    ) -> None:
        self._component = component
        self._telemetry = telemetry
        self._cfg = queue
        self._consumers = consumers
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._batches = 0  # queued or being delivered
        self._items = 0
        self._workers: list[asyncio.Task[None]] = []
        self._closed = False
        for noun in ("spans", "metric_points", "log_records"):
            telemetry.describe(f"{noun}_accepted", f"{noun.replace('_', ' ')} accepted by a receiver")
            telemetry.describe(f"{noun}_refused", f"{noun.replace('_', ' ')} refused by a receiver")
        telemetry.describe("requests_refused", "export requests refused, by reason and transport")
        telemetry.describe("queue_size", "export requests queued or being delivered")
        telemetry.describe("queue_items", "spans, points and log records queued or being delivered")

    def accepts(self, signal: Signal) -> bool:
        return signal in self._consumers

    @property
    def pending(self) -> tuple[int, int]:
        return self._batches, self._items

    def start(self) -> None:
        if self._workers or self._closed:
            return
        loop = asyncio.get_running_loop()
        self._workers = [
            loop.create_task(self._work(), name=f"{self._component}:intake{i}")
            for i in range(self._cfg.workers)
        ]

    def parse(self, signal: Signal, data: bytes, transport: str) -> Any:
        if signal is Signal.TRACES and _CHECKER is not None:
            try:
                return _Checked(_CHECKER.scan(data)[0])
            except ValueError as exc:
                raise self.refuse(
                    signal, transport, Refused("invalid", f"cannot parse protobuf: {exc}")
                ) from None
        request = KINDS[signal].request()
        try:
            request.ParseFromString(data)
        except DecodeError as exc:
            raise self.refuse(
                signal, transport, Refused("invalid", f"cannot parse protobuf: {exc}")
            ) from None
        return request

    def refuse(self, signal: Signal, transport: str, refused: Refused, items: int = 0) -> Refused:
        tel = self._telemetry
        tel.add(self._component, "requests_refused", reason=refused.reason, transport=transport)
        if items:
            tel.add(self._component, f"{KINDS[signal].items}_refused", items)
        return refused

    async def export(self, signal: Signal, request: Any, raw: bytes | None, transport: str) -> Message:
        """Deliver one parsed request; returns the OTLP response or raises :class:`Refused`."""
        kind = KINDS[signal]
        consumer = self._consumers.get(signal)
        if consumer is None:
            raise self.refuse(signal, transport, Refused("unimplemented", f"{signal.value} not accepted"))
        items = kind.count(request)
        if items == 0:
            return kind.response()
        if self._closed:
            raise self.refuse(
                signal, transport, Refused("shutting_down", "shutting down", self._cfg.retry_after), items
            )
        cfg = self._cfg
        if self._batches >= cfg.max_queued_batches or (
            self._batches and self._items + items > cfg.max_queued_spans
        ):
            raise self.refuse(
                signal, transport, Refused("queue_full", "intake queue is full", cfg.retry_after), items
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batches += 1
        self._items += items
        self._queue.put_nowait(
            (getattr(consumer, kind.method), kind.batch(request, raw, items), items, future)
        )
        self._gauges()
        try:
            await future
        except PartialSuccessError as exc:
            rejected = max(0, min(exc.rejected, items))
            self._accounted(signal, items - rejected, rejected)
            partial = kind.partial(error_message=str(exc))
            setattr(partial, kind.rejected_field, rejected)
            return kind.response(partial_success=partial)
        except ConsumerError as exc:
            reason = "downstream_retryable" if exc.retryable else "downstream_permanent"
            retry_after = (getattr(exc, "retry_after", None) or cfg.retry_after) if exc.retryable else None
            raise self.refuse(signal, transport, Refused(reason, str(exc), retry_after), items) from None
        except Exception as exc:
            _log.warning("%s: a consumer failed unexpectedly: %r", self._component, exc)
            raise self.refuse(signal, transport, Refused("internal", "internal error"), items) from None
        self._telemetry.add(self._component, f"{kind.items}_accepted", items)
        return kind.response()

    def _accounted(self, signal: Signal, accepted: int, refused: int) -> None:
        noun = KINDS[signal].items
        self._telemetry.add(self._component, f"{noun}_accepted", accepted)
        self._telemetry.add(self._component, f"{noun}_refused", refused)

    def _gauges(self) -> None:
        self._telemetry.set(self._component, "queue_size", self._batches)
        self._telemetry.set(self._component, "queue_items", self._items)

    async def _work(self) -> None:
        queue = self._queue
        while True:
            consume, batch, items, future = await queue.get()
            try:
                await consume(batch)
            except asyncio.CancelledError:
                if not future.done():
                    future.set_exception(RetryableError("receiver stopped"))
                raise
            except Exception as exc:
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(None)
            finally:
                self._batches -= 1
                self._items -= items
                self._gauges()
                queue.task_done()

    async def close(self, deadline: float) -> None:
        """Refuse new requests, deliver what is queued until ``deadline``, then stop workers."""
        if self._closed:
            return
        self._closed = True
        if self._workers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout=max(0.0, deadline - time.monotonic()))
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        while not self._queue.empty():
            _, _, items, future = self._queue.get_nowait()
            self._batches -= 1
            self._items -= items
            if not future.done():
                future.set_exception(RetryableError("receiver stopped before delivery"))
        self._gauges()
