"""Builds the component graph from a validated :class:`~otel_llm_processor.config.Config`.

- Receivers, connectors and exporters: one instance per component id, however many pipelines use
  it. Processors: one instance per (pipeline, id), as in the Collector, because each pipeline
  chains its processors to its own exporters.
- A pipeline is ``processors[0] -> ... -> processors[-1] -> fan-out(exporters)``; a receiver or a
  connector feeds the heads of every pipeline (of the right signal) that lists it.
- A connector is an exporter of the pipelines listing it in ``exporters`` (it consumes their
  signal) and a receiver of those listing it in ``receivers`` (its ``next_<signal>``).
- Start downstream-first (exporters, connectors, processors, receivers); shut down in reverse,
  every component within the same deadline. Both idempotent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from typing import Any

from otel_llm_processor.component import (
    ComponentID,
    ComponentKind,
    ConsumerError,
    CreateSettings,
    Host,
    LogsBatch,
    MetricsBatch,
    PartialSuccessError,
    PermanentError,
    RetryableError,
    Signal,
    TracesBatch,
)
from otel_llm_processor.config import ComponentConfig, Config, PipelineConfig

__all__ = ["Fanout", "Pipelines", "StartError", "build_pipelines", "combine_errors"]

_log = logging.getLogger(__name__)

_START_RANK = {
    ComponentKind.EXPORTER: 0,
    ComponentKind.CONNECTOR: 1,
    ComponentKind.PROCESSOR: 2,
    ComponentKind.RECEIVER: 3,
}
_NEXT_FIELD = {
    Signal.TRACES: "next_traces",
    Signal.METRICS: "next_metrics",
    Signal.LOGS: "next_logs",
    Signal.ALERTS: "next_alerts",
}


class StartError(RuntimeError):
    """A component failed to build or start; names it."""


def combine_errors(errors: Sequence[BaseException]) -> BaseException:
    """One error for a fan-out: retryable if any branch may succeed on retry (longest delay wins),
    else partial success if every branch refused only part, else permanent."""
    if len(errors) == 1:
        return errors[0]
    message = "; ".join(str(e) for e in errors)
    retryable = [e for e in errors if isinstance(e, ConsumerError) and e.retryable]
    if retryable:
        delays = [d for e in retryable if (d := getattr(e, "retry_after", None)) is not None]
        return RetryableError(message, max(delays) if delays else None)
    if all(isinstance(e, PartialSuccessError) for e in errors):
        return PartialSuccessError(message, max(e.rejected for e in errors))  # type: ignore[attr-defined]
    return PermanentError(message)


def _clone(batch: Any) -> Any:
    if isinstance(batch, TracesBatch):
        request = type(batch.request)()
        request.CopyFrom(batch.request)
        return batch.replace(request)
    if isinstance(batch, (MetricsBatch, LogsBatch)):
        request = type(batch.request)()
        request.CopyFrom(batch.request)
        return dataclasses.replace(batch, request=request)
    return batch


class Fanout:
    """Passes each batch to several consumers in order; errors combined by :func:`combine_errors`.

    Branches flagged in ``mutates`` (pipelines whose processors may modify data) get their own
    copy, so no other branch (or an exporter queue holding the batch) sees their changes; when
    every branch mutates, the last one takes the original.
    """

    def __init__(self, consumers: Sequence[Any], mutates: Sequence[bool] | None = None) -> None:
        self._consumers = tuple(consumers)
        flags = list(mutates) if mutates is not None else [False] * len(self._consumers)
        if flags and all(flags):
            flags[-1] = False
        self._clone = tuple(flags)

    @property
    def consumers(self) -> tuple[Any, ...]:
        return self._consumers

    async def _fan(self, method: str, batch: Any) -> None:
        errors: list[BaseException] = []
        for consumer, clone in zip(self._consumers, self._clone, strict=True):
            try:
                await getattr(consumer, method)(_clone(batch) if clone else batch)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise combine_errors(errors)

    async def consume_traces(self, batch: TracesBatch) -> None:
        await self._fan("consume_traces", batch)

    async def consume_metrics(self, batch: MetricsBatch) -> None:
        await self._fan("consume_metrics", batch)

    async def consume_logs(self, batch: LogsBatch) -> None:
        await self._fan("consume_logs", batch)

    async def consume_alerts(self, events: Sequence[Any]) -> None:
        await self._fan("consume_alerts", events)


def _fan(consumers: Sequence[Any], mutates: Sequence[bool] | None = None) -> Any:
    return consumers[0] if len(consumers) == 1 else Fanout(consumers, mutates)


@dataclasses.dataclass(frozen=True, slots=True)
class _Node:
    kind: ComponentKind
    id: ComponentID
    instance: Any
    pipeline: str = ""  # processors only


class Pipelines:
    """The running graph: its components in start order."""

    def __init__(self, nodes: Sequence[_Node]) -> None:
        self._nodes = sorted(nodes, key=lambda n: _START_RANK[n.kind])  # stable: creation order
        self._started: list[_Node] = []
        self._state = "new"

    @property
    def nodes(self) -> tuple[_Node, ...]:
        return tuple(self._nodes)

    def get(self, kind: ComponentKind, id_: str, pipeline: str = "") -> Any:
        cid = ComponentID.parse(id_)
        for node in self._nodes:
            if node.kind is kind and node.id == cid and (not pipeline or node.pipeline == pipeline):
                return node.instance
        raise KeyError(f"{kind.value}.{id_}")

    async def start(self, host: Host) -> None:
        if self._state != "new":
            return
        self._state = "starting"
        for node in self._nodes:
            start = getattr(node.instance, "start", None)
            try:
                if start is not None:
                    await start(host)
            except Exception as exc:
                await self.shutdown(time.monotonic() + 5.0)
                raise StartError(f"{node.kind.value}.{node.id}: failed to start: {exc}") from exc
            self._started.append(node)
        self._state = "started"

    async def shutdown(self, deadline: float) -> None:
        if self._state == "stopped":
            return
        self._state = "stopped"
        for node in reversed(self._nodes):
            shutdown = getattr(node.instance, "shutdown", None)
            if shutdown is None:
                continue
            remaining = max(0.05, deadline - time.monotonic())
            try:
                await asyncio.wait_for(shutdown(deadline), timeout=remaining + 0.5)
            except asyncio.TimeoutError:
                _log.warning("%s.%s: shutdown missed its deadline", node.kind.value, node.id)
            except Exception:
                _log.warning("%s.%s: shutdown failed", node.kind.value, node.id, exc_info=True)


def build_pipelines(config: Config, telemetry: Any) -> Pipelines:
    """Create every component used by a pipeline; nothing is started."""
    return _Builder(config, telemetry).build()


class _Builder:
    def __init__(self, config: Config, telemetry: Any) -> None:
        self._config = config
        self._telemetry = telemetry
        self._nodes: list[_Node] = []
        self._shared: dict[tuple[ComponentKind, ComponentID], Any] = {}
        self._heads: dict[str, Any] = {}

    def build(self) -> Pipelines:
        used = {cid for p in self._config.pipelines for cid in p.receivers}
        for kind, cid in self._config.components:
            if kind is ComponentKind.RECEIVER and cid in used:
                self._shared_instance(kind, cid)
        return Pipelines(self._nodes)

    def _create(self, cc: ComponentConfig, pipeline: str = "", **next_: Any) -> Any:
        settings = CreateSettings(id=cc.id, kind=cc.kind, telemetry=self._telemetry, **next_)
        try:
            instance = cc.factory.create(settings, cc.config)
        except Exception as exc:
            raise StartError(f"{cc.kind.value}.{cc.id}: cannot create: {exc}") from exc
        self._nodes.append(_Node(cc.kind, cc.id, instance, pipeline))
        return instance

    def _shared_instance(self, kind: ComponentKind, cid: ComponentID) -> Any:
        key = (kind, cid)
        if key in self._shared:
            return self._shared[key]
        cc = self._config.components[key]
        next_: dict[str, Any] = {}
        if kind in (ComponentKind.RECEIVER, ComponentKind.CONNECTOR):
            signals = cc.factory.produces if kind is ComponentKind.CONNECTOR else cc.factory.signals
            for signal in (s for s in Signal if s in signals):  # deterministic order
                fed = [p for p in self._config.pipelines if p.signal is signal and cid in p.receivers]
                if fed:
                    heads = [self._head(p) for p in fed]
                    next_[_NEXT_FIELD[signal]] = _fan(heads, [self._mutates(p) for p in fed])
        instance = self._create(cc, **next_)
        self._shared[key] = instance
        return instance

    def _head(self, p: PipelineConfig) -> Any:
        if p.name in self._heads:
            return self._heads[p.name]
        exporters = []
        for cid in p.exporters:
            kind = (
                ComponentKind.CONNECTOR
                if (ComponentKind.CONNECTOR, cid) in self._config.components
                else ComponentKind.EXPORTER
            )
            exporters.append(self._shared_instance(kind, cid))
        consumer = _fan(exporters)
        for cid in reversed(p.processors):
            cc = self._config.components[(ComponentKind.PROCESSOR, cid)]
            consumer = self._create(cc, p.name, **{_NEXT_FIELD[p.signal]: consumer})
        self._heads[p.name] = consumer
        return consumer

    def _mutates(self, p: PipelineConfig) -> bool:
        components = self._config.components
        return any(
            components[(ComponentKind.PROCESSOR, cid)].factory.extra.get("mutates_data", True)
            for cid in p.processors
        )
