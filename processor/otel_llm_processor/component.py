"""Contracts every pipeline component follows, shaped like the OpenTelemetry Collector's.

A component is a ``Config`` (pydantic model, what users write), a ``Factory`` (type name, default
config, constructor) and one logic module. Data moves between components as OTLP protobuf
messages wrapped in small batch objects; traces keep the bytes they arrived as, so an exporter can
forward them unchanged (lossless and cheap) unless a processor modified the batch.

Lifecycle: ``start(host)`` and ``shutdown(deadline)`` are idempotent; ``shutdown`` is safe before
``start`` and returns by the deadline (a ``time.monotonic()`` value). Components start
downstream-first and stop upstream-first (the pipeline builder orders them).

Errors: a consumer raises :class:`PermanentError` for data that can never be accepted, and
:class:`RetryableError` (optionally with a delay) for a transient failure such as a full queue.
Receivers map them to the protocol's statuses; nothing else escapes a component's tasks.
"""

from __future__ import annotations

import builtins
import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast, runtime_checkable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import BaseModel

__all__ = [
    "AlertsConsumer",
    "Component",
    "ComponentID",
    "ComponentKind",
    "ConsumerError",
    "CreateSettings",
    "Factory",
    "Host",
    "LogsBatch",
    "LogsConsumer",
    "MetricsBatch",
    "MetricsConsumer",
    "PartialSuccessError",
    "PermanentError",
    "RetryableError",
    "Signal",
    "TracesBatch",
    "TracesConsumer",
]


class Signal(str, enum.Enum):
    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"
    ALERTS = "alerts"  # AlertEvent sequences: alert_rules connector -> notifier exporters


class ComponentKind(str, enum.Enum):
    RECEIVER = "receivers"
    PROCESSOR = "processors"
    CONNECTOR = "connectors"
    EXPORTER = "exporters"


@dataclass(frozen=True, slots=True)
class ComponentID:
    """``type[/name]`` as written in the YAML, e.g. ``otlp`` or ``otlp/jaeger``."""

    type: str
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> ComponentID:
        type_, _, name = text.partition("/")
        return cls(type_, name)

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" if self.name else self.type


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
class TracesBatch:
    """One OTLP export request of spans.

    ``raw`` is the serialized request exactly as received; a processor that changes ``request``
    must set ``raw`` to ``None`` so exporters re-serialise. ``span_count`` is cached by the receiver.
    A receiver that only validated the bytes (:mod:`otel_llm_processor.model.spanscan`) passes
    ``raw`` alone: ``request`` is then parsed on first access, so a pipeline whose components all
    read ``raw`` never builds the protobuf objects.
    """

    __slots__ = ("_request", "raw", "received_at", "span_count")

    def __init__(
        self,
        request: ExportTraceServiceRequest | None = None,
        raw: bytes | None = None,
        span_count: int = 0,
        received_at: float | None = None,
    ) -> None:
        if request is None and raw is None:
            raise ValueError("a TracesBatch needs the request or its bytes")
        self._request = request
        self.raw = raw
        self.span_count = span_count
        self.received_at = time.time() if received_at is None else received_at

    @property
    def request(self) -> ExportTraceServiceRequest:
        request = self._request
        if request is None:
            assert self.raw is not None
            request = ExportTraceServiceRequest()
            request.ParseFromString(self.raw)
            self._request = request
        return request

    @request.setter
    def request(self, value: ExportTraceServiceRequest) -> None:
        self._request = value

    def replace(self, request: ExportTraceServiceRequest) -> TracesBatch:
        """The same batch with another request object (``raw`` kept: the caller decides)."""
        return TracesBatch(request, self.raw, self.span_count, self.received_at)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TracesBatch):
            return NotImplemented
        return (self.request, self.raw, self.span_count, self.received_at) == (
            other.request,
            other.raw,
            other.span_count,
            other.received_at,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return f"TracesBatch(span_count={self.span_count}, raw={len(self.raw or b'')} bytes)"


@dataclass(slots=True)
class MetricsBatch:
    request: ExportMetricsServiceRequest
    raw: bytes | None = None
    point_count: int = 0
    received_at: float = field(default_factory=time.time)


@dataclass(slots=True)
class LogsBatch:
    request: ExportLogsServiceRequest
    raw: bytes | None = None
    record_count: int = 0
    received_at: float = field(default_factory=time.time)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------
class ConsumerError(Exception):
    """Base of the errors a consumer raises; every one carries a retry decision."""

    retryable: bool = False


class PermanentError(ConsumerError):
    """The data can never be accepted (malformed, too large, unauthorised): do not retry."""

    retryable = False


class PartialSuccessError(PermanentError):
    """Part of the batch was refused for good (``rejected`` spans, points or records); the rest was
    accepted. Receivers answer success with OTLP ``partial_success``; do not retry."""

    def __init__(self, message: str, rejected: int) -> None:
        super().__init__(message)
        self.rejected = rejected


class RetryableError(ConsumerError):
    """A transient failure (queue full, backend down): retry, after ``retry_after`` seconds if set."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --------------------------------------------------------------------------------------------
# Components
# --------------------------------------------------------------------------------------------
@runtime_checkable
class Component(Protocol):
    async def start(self, host: Host) -> None: ...

    async def shutdown(self, deadline: float) -> None: ...


@runtime_checkable
class TracesConsumer(Protocol):
    async def consume_traces(self, batch: TracesBatch) -> None: ...


@runtime_checkable
class MetricsConsumer(Protocol):
    async def consume_metrics(self, batch: MetricsBatch) -> None: ...


@runtime_checkable
class LogsConsumer(Protocol):
    async def consume_logs(self, batch: LogsBatch) -> None: ...


@runtime_checkable
class AlertsConsumer(Protocol):
    """Notifiers: receive alert transitions (``otel_llm_processor.services.AlertEvent``)."""

    async def consume_alerts(self, events: Sequence[Any]) -> None: ...


class _Services(dict[str, Any]):
    """The service registry: publishing a name runs the callbacks waiting for it."""

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        super().__init__(initial or {})
        self.waiting: dict[str, list[Callable[[Any], None]]] = {}

    def __setitem__(self, name: str, service: Any) -> None:
        super().__setitem__(name, service)
        for callback in self.waiting.pop(name, ()):
            callback(service)

    def setdefault(self, name: str, default: Any = None) -> Any:
        if name not in self:
            self[name] = default
        return self[name]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for name, service in dict(*args, **kwargs).items():
            self[name] = service


class Host:
    """What a running component may reach beyond its own consumers.

    ``services`` is a registry where components publish in-process interfaces for others (for
    example the ``llm_metrics`` connector publishes its windowed summary store under
    ``"llm_metrics"``); ``telemetry`` is the self-telemetry registry; ``data_dir`` is where
    persistent state lives (SQLite databases, on-disk queues).

    Components start downstream-first, so a consumer of a service may start before the
    component that publishes it: subscribe with :meth:`on_service`, never by looking the
    service up once in ``start``.
    """

    def __init__(self, telemetry: Any, data_dir: str, services: dict[str, Any] | None = None) -> None:
        self.telemetry = telemetry
        self.data_dir = data_dir
        self.services: dict[str, Any] = _Services(services)

    def service(self, name: str) -> Any | None:
        return self.services.get(name)

    def on_service(self, name: str, callback: Callable[[Any], None]) -> None:
        """Run ``callback(service)`` now if ``name`` is published, else as soon as it is."""
        service = self.services.get(name)
        if service is not None:
            callback(service)
        else:
            cast(_Services, self.services).waiting.setdefault(name, []).append(callback)


@dataclass(frozen=True, slots=True)
class CreateSettings:
    """Given to a factory's ``create``: who the component is and whom it feeds.

    ``next_traces`` / ``next_metrics`` / ``next_logs`` are the downstream consumers (already
    fanned-out), ``None`` where the component is not in a pipeline of that signal.
    """

    id: ComponentID
    kind: ComponentKind
    telemetry: Any
    next_traces: TracesConsumer | None = None
    next_metrics: MetricsConsumer | None = None
    next_logs: LogsConsumer | None = None
    next_alerts: AlertsConsumer | None = None


ConfigT = TypeVar("ConfigT", bound=BaseModel)


@dataclass(frozen=True)
class Factory(Generic[ConfigT]):
    """Builds one component type. ``signals`` lists what it consumes (receivers: produces).

    For connectors, ``signals`` is what it consumes and ``produces`` what it emits.
    """

    type: str
    kind: ComponentKind
    config_class: builtins.type[ConfigT]
    create: Callable[[CreateSettings, ConfigT], Any]
    signals: frozenset[Signal]
    produces: frozenset[Signal] = frozenset()
    extra: Mapping[str, Any] = field(default_factory=dict)
