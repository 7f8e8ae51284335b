"""The bounded in-memory sending queue and what every sending queue shares.

A queue holds encoded export requests (:class:`QueueItem`) between ``consume_*`` and the backend.
``get`` hands an :class:`Entry` to a consumer, which calls ``ack`` once the backend acknowledged
it (or it was dropped for good). Bounds apply to entries not yet acknowledged, so what sits in
consumers' hands counts too: memory is bounded by ``max_batches`` and ``max_bytes``. ``put`` never
waits: a full queue raises :class:`QueueFullError` (retryable), so the receiver pushes back.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from otel_llm_processor.component import RetryableError, Signal

__all__ = ["Entry", "MemoryQueue", "QueueClosedError", "QueueFullError", "QueueItem", "SendingQueue"]


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One export request, already encoded (traces keep the bytes they arrived as)."""

    signal: Signal
    data: bytes
    items: int  # spans, data points or log records


@dataclass(frozen=True, slots=True)
class Entry:
    key: int
    item: QueueItem


class QueueFullError(RetryableError):
    """The queue is at its bound; the sender should retry later (backpressure)."""

    reason = "queue_full"


class QueueClosedError(Exception):
    """Raised by ``get`` once the queue is closed."""


class SendingQueue(Protocol):
    persistent: bool

    @property
    def batches(self) -> int: ...

    @property
    def items(self) -> int: ...

    @property
    def bytes(self) -> int: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def put(self, item: QueueItem) -> None: ...

    async def get(self) -> Entry: ...

    def ack(self, entry: Entry) -> None: ...


class BoundedIndex:
    """FIFO of ready entries plus the unacknowledged totals the bounds apply to."""

    def __init__(self, max_batches: int, max_bytes: int) -> None:
        self.max_batches = max_batches
        self.max_bytes = max_bytes
        self.batches = 0
        self.items = 0
        self.bytes = 0
        self.closed = False
        self._ready: deque[Entry] = deque()
        self._wakeup = asyncio.Event()

    def reserve(self, item: QueueItem) -> None:
        size = len(item.data)
        if self.batches >= self.max_batches:
            raise QueueFullError(f"sending queue full ({self.batches} batches)", retry_after=1.0)
        if self.bytes + size > self.max_bytes and self.batches > 0:
            raise QueueFullError(f"sending queue full ({self.bytes} bytes)", retry_after=1.0)
        self.batches += 1
        self.items += item.items
        self.bytes += size

    def release(self, items: int, size: int) -> None:
        self.batches -= 1
        self.items -= items
        self.bytes -= size

    def push(self, entry: Entry) -> None:
        self._ready.append(entry)
        self._wakeup.set()

    async def pop(self) -> Entry:
        while not self._ready:
            if self.closed:
                raise QueueClosedError
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._ready.popleft()

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()


class MemoryQueue:
    """Bounded in-memory queue: what it holds at shutdown is lost (and counted by the sender)."""

    persistent = False

    def __init__(self, max_batches: int, max_bytes: int) -> None:
        self._index = BoundedIndex(max_batches, max_bytes)
        self._next_key = 0

    @property
    def batches(self) -> int:
        return self._index.batches

    @property
    def items(self) -> int:
        return self._index.items

    @property
    def bytes(self) -> int:
        return self._index.bytes

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self._index.close()

    async def put(self, item: QueueItem) -> None:
        self._index.reserve(item)
        self._next_key += 1
        self._index.push(Entry(self._next_key, item))

    async def get(self) -> Entry:
        return await self._index.pop()

    def ack(self, entry: Entry) -> None:
        self._index.release(entry.item.items, len(entry.item.data))
