"""The queued, retrying sender every exporter puts in front of its backend call.

``offer`` enqueues and returns at once (or raises a retryable error when the queue is full, so the
receiver pushes back); ``num_consumers`` tasks take entries, call the exporter's ``send`` and retry
retryable failures with backoff and full jitter, honouring throttling hints. Permanent failures are
dropped and counted. The exporter's ``send`` raises :class:`SendPermanentError` or
:class:`SendRetryableError` (their ``reason`` becomes a label); any other exception is a bug and is
counted as permanent with reason ``internal``.

Self-telemetry (component = the exporter's id): gauge ``items_queued``; counters ``items_sent``,
``items_send_failed{reason}``, ``items_dropped{reason}``, ``items_refused{reason}``, ``retries``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable

from otel_llm_processor.component import ConsumerError, PermanentError, RetryableError
from otel_llm_processor.exporterhelper.backoff import next_delay
from otel_llm_processor.exporterhelper.config import QueueConfig, RetryConfig
from otel_llm_processor.exporterhelper.persistent_queue import PersistentQueue
from otel_llm_processor.exporterhelper.queue import (
    MemoryQueue,
    QueueClosedError,
    QueueFullError,
    QueueItem,
    SendingQueue,
)
from otel_llm_processor.selftel import SelfTelemetry

__all__ = ["QueueSender", "SendFunc", "SendPermanentError", "SendRetryableError", "make_queue"]

_log = logging.getLogger(__name__)

# Sends one request; returns how many items the backend rejected in a partial success (0 if none).
SendFunc = Callable[[QueueItem], Awaitable[int]]


class SendPermanentError(PermanentError):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SendRetryableError(RetryableError):
    def __init__(self, message: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after)
        self.reason = reason


class _State(enum.Enum):
    NEW = 0
    RUNNING = 1
    STOPPED = 2


def make_queue(config: QueueConfig, directory: str) -> SendingQueue:
    """The queue ``config`` asks for; ``directory`` is used only by ``storage: file``."""
    if config.storage == "file":
        return PersistentQueue(directory, config.queue_size, config.max_bytes)
    return MemoryQueue(config.queue_size, config.max_bytes)


class QueueSender:
    def __init__(
        self,
        *,
        component: str,
        telemetry: SelfTelemetry,
        send: SendFunc,
        queue: SendingQueue | None,
        num_consumers: int,
        retry: RetryConfig,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._component = component
        self._tel = telemetry
        self._send = send
        self._queue = queue
        self._num_consumers = num_consumers
        self._retry = retry
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._state = _State.NEW
        self._tasks: list[asyncio.Task[None]] = []
        self._drained = asyncio.Event()
        self._drained.set()

    @property
    def queue(self) -> SendingQueue | None:
        return self._queue

    async def start(self) -> None:
        if self._state is not _State.NEW:
            return
        if self._queue is not None:
            await self._queue.open()
            self._after_change()
            self._tasks = [
                asyncio.create_task(self._consume(), name=f"{self._component}-sender-{i}")
                for i in range(self._num_consumers)
            ]
        self._state = _State.RUNNING

    async def shutdown(self, deadline: float) -> None:
        """Stop intake, drain until ``deadline`` (monotonic), then stop; idempotent."""
        if self._state is _State.STOPPED:
            return
        was_running = self._state is _State.RUNNING
        self._state = _State.STOPPED
        queue = self._queue
        if not was_running or queue is None:
            return
        remaining = deadline - time.monotonic()
        if remaining > 0 and queue.batches:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drained.wait(), remaining)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await queue.close()
        if queue.persistent:  # what remains waits on disk for the next run
            self._tel.set(self._component, "items_queued", queue.items)
            return
        if queue.items:
            self._tel.add(self._component, "items_dropped", queue.items, reason="shutdown")
        self._tel.set(self._component, "items_queued", 0)

    async def offer(self, item: QueueItem) -> None:
        """Queue ``item`` for sending; without a queue, send it now (retrying) and raise on failure."""
        if self._state is not _State.RUNNING:
            raise RetryableError(f"exporter {self._component} is not running")
        if self._queue is None:
            error = await self._export(item, inline=True)
            if error is not None:
                raise error
            return
        try:
            await self._queue.put(item)
        except QueueFullError:
            self._tel.add(self._component, "items_refused", item.items, reason=QueueFullError.reason)
            raise
        except RetryableError:
            self._tel.add(self._component, "items_refused", item.items, reason="storage")
            raise
        self._drained.clear()
        self._after_change()

    def _after_change(self) -> None:
        queue = self._queue
        if queue is None:
            return
        self._tel.set(self._component, "items_queued", queue.items)
        if queue.batches == 0:
            self._drained.set()

    async def _consume(self) -> None:
        queue = self._queue
        assert queue is not None
        while True:
            try:
                entry = await queue.get()
            except QueueClosedError:
                return
            await self._export(entry.item, inline=False)
            queue.ack(entry)
            self._after_change()

    async def _export(self, item: QueueItem, inline: bool) -> ConsumerError | None:
        """Send with retries. Returns the final error (``None`` once sent or dropped for good)."""
        tel, component, retry = self._tel, self._component, self._retry
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                rejected = await self._send(item)
            except ConsumerError as err:
                reason = getattr(err, "reason", "retryable" if err.retryable else "permanent")
                tel.add(component, "items_send_failed", item.items, reason=reason)
                if not err.retryable:
                    return self._drop(item, "permanent", err, inline)
                if not retry.enabled:
                    return self._drop(item, "retry_disabled", err, inline)
                delay = next_delay(
                    attempt,
                    retry.initial_interval,
                    retry.max_interval,
                    retry.multiplier,
                    self._rng,
                    getattr(err, "retry_after", None),
                )
                elapsed = time.monotonic() - started
                if retry.max_elapsed_time > 0 and elapsed + delay > retry.max_elapsed_time:
                    return self._drop(item, "retry_exhausted", err, inline)
                tel.add(component, "retries")
                attempt += 1
                await self._sleep(delay)
                continue
            except Exception as exc:  # a bug in send: never retry it, never let it kill the task
                _log.debug("exporter %s: send raised", component, exc_info=True)
                tel.add(component, "items_send_failed", item.items, reason="internal")
                return self._drop(item, "internal", PermanentError(f"internal error: {exc!r}"), inline)
            rejected = min(max(int(rejected or 0), 0), item.items)
            tel.add(component, "items_sent", item.items - rejected)
            if rejected:
                tel.add(component, "items_dropped", rejected, reason="rejected")
            return None

    def _drop(self, item: QueueItem, reason: str, err: ConsumerError, inline: bool) -> ConsumerError:
        if not inline:  # inline failures go back to the caller, who counts its own refusal
            self._tel.add(self._component, "items_dropped", item.items, reason=reason)
        return err
