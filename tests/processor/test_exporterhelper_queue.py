"""The sending queues (memory and SQLite) and the queued, retrying sender, with fake backends."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from otel_llm_processor.component import PermanentError, RetryableError, Signal
from otel_llm_processor.exporterhelper import (
    MemoryQueue,
    PersistentQueue,
    QueueConfig,
    QueueFullError,
    QueueItem,
    QueueSender,
    RetryConfig,
    SendPermanentError,
    SendRetryableError,
    make_queue,
    next_delay,
)
from otel_llm_processor.selftel import SelfTelemetry

C = "exp"


def item(n: int, size: int = 10, signal: Signal = Signal.TRACES) -> QueueItem:
    return QueueItem(signal, bytes([n % 256]) * size, n)


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


# --------------------------------------------------------------------------------------------
# Queues
# --------------------------------------------------------------------------------------------
async def test_memory_queue_bounds_by_batches_and_bytes() -> None:
    queue = MemoryQueue(max_batches=3, max_bytes=25)
    await queue.put(item(1))
    await queue.put(item(2))
    with pytest.raises(QueueFullError):  # 30 bytes > 25
        await queue.put(item(3))
    assert (queue.batches, queue.items, queue.bytes) == (2, 3, 20)
    entry = await queue.get()
    assert entry.item == item(1)
    assert queue.batches == 2  # handed out but not acknowledged: still counted
    queue.ack(entry)
    await queue.put(item(3, size=5))
    await queue.put(item(4, size=1))
    with pytest.raises(QueueFullError) as info:
        await queue.put(item(5, size=1))  # 3 batches already
    assert isinstance(info.value, RetryableError) and info.value.retry_after == 1.0
    assert (queue.batches, queue.items, queue.bytes) == (3, 9, 16)
    assert [(await queue.get()).item for _ in range(3)] == [item(2), item(3, size=5), item(4, size=1)]


async def test_memory_queue_accepts_one_oversized_batch_when_empty() -> None:
    queue = MemoryQueue(max_batches=3, max_bytes=5)
    await queue.put(item(1, size=50))
    with pytest.raises(QueueFullError):
        await queue.put(item(2, size=1))


async def test_persistent_queue_keeps_unacknowledged_entries_across_reopen(tmp_path: Path) -> None:
    first = PersistentQueue(str(tmp_path / "q"), max_batches=10, max_bytes=10_000)
    await first.open()
    for n in range(1, 5):
        await first.put(item(n, signal=Signal.METRICS if n == 2 else Signal.TRACES))
    one = await first.get()
    first.ack(one)
    two = await first.get()  # taken but never acknowledged (crash mid-send)
    assert two.item == item(2, signal=Signal.METRICS)
    await first.close()

    second = PersistentQueue(str(tmp_path / "q"), max_batches=10, max_bytes=10_000)
    await second.open()
    assert (second.batches, second.items, second.bytes) == (3, 9, 30)
    await second.put(item(5))
    got = [await second.get() for _ in range(4)]
    assert [e.item for e in got] == [item(2, signal=Signal.METRICS), item(3), item(4), item(5)]
    for entry in got:
        second.ack(entry)
    assert (second.batches, second.items, second.bytes) == (0, 0, 0)
    await second.close()
    with sqlite3.connect(tmp_path / "q" / "queue.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 0


async def test_persistent_queue_is_bounded(tmp_path: Path) -> None:
    queue = PersistentQueue(str(tmp_path), max_batches=2, max_bytes=1_000)
    await queue.open()
    await queue.put(item(1))
    await queue.put(item(2))
    with pytest.raises(QueueFullError):
        await queue.put(item(3))
    await queue.close()
    with sqlite3.connect(tmp_path / "queue.db") as conn:
        assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 2


def test_make_queue_follows_storage(tmp_path: Path) -> None:
    assert isinstance(make_queue(QueueConfig(), str(tmp_path)), MemoryQueue)
    persistent = make_queue(QueueConfig(storage="file", queue_size=7), str(tmp_path / "x"))
    assert isinstance(persistent, PersistentQueue) and persistent.path == str(tmp_path / "x" / "queue.db")


# --------------------------------------------------------------------------------------------
# Sender
# --------------------------------------------------------------------------------------------
class FakeBackend:
    """``send`` raises the scripted errors first, then records the item."""

    def __init__(self, *errors: BaseException, rejected: int = 0) -> None:
        self.errors = list(errors)
        self.sent: list[QueueItem] = []
        self.calls = 0
        self.rejected = rejected

    async def send(self, queued: QueueItem) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(queued)
        return self.rejected


class DownBackend(FakeBackend):
    """A backend that stays down: every send fails with a retryable error. (A finite script of
    errors runs out with the instantaneous test sleeps when the machine is fast.)"""

    async def send(self, queued: QueueItem) -> int:
        self.calls += 1
        raise SendRetryableError("down", "unavailable")


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


RETRY = RetryConfig(initial_interval=1.0, max_interval=8.0, multiplier=2.0, max_elapsed_time=0)


def sender(
    backend: FakeBackend,
    tel: SelfTelemetry,
    sleeps: Sleeps | None = None,
    retry: RetryConfig = RETRY,
    queue: MemoryQueue | PersistentQueue | None = None,
    seed: int = 3,
) -> QueueSender:
    return QueueSender(
        component=C,
        telemetry=tel,
        send=backend.send,
        queue=queue if queue is not None else MemoryQueue(100, 1 << 20),
        num_consumers=1,
        retry=retry,
        rng=random.Random(seed),
        sleep=sleeps or Sleeps(),
    )


async def test_retries_with_seeded_jitter_then_sends() -> None:
    tel, sleeps = SelfTelemetry(), Sleeps()
    backend = FakeBackend(*(SendRetryableError("down", "unavailable") for _ in range(5)))
    s = sender(backend, tel, sleeps)
    await s.start()
    await s.offer(item(4))
    await until(lambda: len(backend.sent) == 1)
    await s.shutdown(time.monotonic() + 5)
    rng = random.Random(3)
    assert sleeps.delays == [next_delay(a, 1.0, 8.0, 2.0, rng) for a in range(5)]
    assert tel.counter(C, "retries") == 5
    assert tel.counter(C, "items_send_failed", reason="unavailable") == 20
    assert tel.counter(C, "items_sent") == 4
    assert tel.gauge(C, "items_queued") == 0


async def test_throttle_hint_is_honoured() -> None:
    tel, sleeps = SelfTelemetry(), Sleeps()
    backend = FakeBackend(
        SendRetryableError("429", "http_429", retry_after=30.0), RetryableError("busy", 0.0)
    )
    s = sender(backend, tel, sleeps)
    await s.start()
    await s.offer(item(1))
    await until(lambda: len(backend.sent) == 1)
    await s.shutdown(time.monotonic() + 5)
    rng = random.Random(3)
    rng.uniform(0.0, 1.0)
    assert sleeps.delays == [30.0, rng.uniform(0.0, 2.0)]
    assert tel.counter(C, "items_send_failed", reason="http_429") == 1
    assert tel.counter(C, "items_send_failed", reason="retryable") == 1  # plain RetryableError


@pytest.mark.parametrize(
    ("error", "retry", "dropped", "failed"),
    [
        (SendPermanentError("400", "http_400"), RETRY, "permanent", "http_400"),
        (PermanentError("bad"), RETRY, "permanent", "permanent"),
        (SendRetryableError("503", "http_503"), RetryConfig(enabled=False), "retry_disabled", "http_503"),
        (
            SendRetryableError("503", "http_503", retry_after=5.0),
            RetryConfig(initial_interval=0.01, max_interval=0.01, max_elapsed_time=1.0),
            "retry_exhausted",
            "http_503",
        ),
        (ValueError("bug"), RETRY, "internal", "internal"),
    ],
)
async def test_failures_are_dropped_and_counted_with_a_reason(
    error: BaseException, retry: RetryConfig, dropped: str, failed: str
) -> None:
    tel, sleeps = SelfTelemetry(), Sleeps()
    backend = FakeBackend(error)
    s = sender(backend, tel, sleeps, retry=retry)
    await s.start()
    await s.offer(item(6))
    await s.offer(item(2))  # the next one still goes out: the consumer survived
    await until(lambda: len(backend.sent) == 1)
    await s.shutdown(time.monotonic() + 5)
    assert backend.calls == 2 and sleeps.delays == []
    assert tel.counter(C, "items_dropped", reason=dropped) == 6
    assert tel.counter(C, "items_send_failed", reason=failed) == 6
    assert tel.counter(C, "items_sent") == 2
    assert tel.counter(C, "retries") == 0


async def test_partial_rejection_is_dropped_not_retried() -> None:
    tel = SelfTelemetry()
    backend = FakeBackend(rejected=3)
    s = sender(backend, tel)
    await s.start()
    await s.offer(item(10))
    await until(lambda: len(backend.sent) == 1)
    await s.shutdown(time.monotonic() + 5)
    assert (tel.counter(C, "items_sent"), tel.counter(C, "items_dropped", reason="rejected")) == (7, 3)
    assert backend.calls == 1


async def test_full_queue_refuses_with_a_retryable_error() -> None:
    tel = SelfTelemetry()
    gate = asyncio.Event()

    async def blocked(queued: QueueItem) -> int:
        await gate.wait()
        return 0

    s = QueueSender(
        component=C,
        telemetry=tel,
        send=blocked,
        queue=MemoryQueue(2, 1 << 20),
        num_consumers=1,
        retry=RETRY,
    )
    await s.start()
    await s.offer(item(1))
    await s.offer(item(2))
    with pytest.raises(QueueFullError):
        await s.offer(item(3))
    assert tel.counter(C, "items_refused", reason="queue_full") == 3
    assert tel.gauge(C, "items_queued") == 3
    gate.set()
    await s.shutdown(time.monotonic() + 5)  # drains before the deadline
    assert tel.counter(C, "items_sent") == 3
    assert [x for x in tel.samples() if x.name == "items_dropped"] == []
    with pytest.raises(RetryableError, match="not running"):
        await s.offer(item(4))


@pytest.mark.parametrize("persistent", [False, True])
async def test_shutdown_keeps_persistent_entries_and_drops_memory_ones(
    tmp_path: Path, persistent: bool
) -> None:
    tel = SelfTelemetry()
    backend = DownBackend()
    queue = PersistentQueue(str(tmp_path), 10, 1 << 20) if persistent else MemoryQueue(10, 1 << 20)
    s = sender(backend, tel, queue=queue)
    await s.start()
    await s.offer(item(2))
    await s.offer(item(3))
    await until(lambda: tel.counter(C, "retries") >= 3)
    await s.shutdown(time.monotonic() + 0.05)
    await s.shutdown(time.monotonic() + 0.05)  # idempotent
    assert backend.sent == []
    if persistent:
        assert tel.counter(C, "items_dropped", reason="shutdown") == 0
        assert tel.gauge(C, "items_queued") == 5
        with sqlite3.connect(tmp_path / "queue.db") as conn:
            assert conn.execute("SELECT items FROM entries ORDER BY id").fetchall() == [(2,), (3,)]
    else:
        assert tel.counter(C, "items_dropped", reason="shutdown") == 5
        assert tel.gauge(C, "items_queued") == 0


async def test_without_a_queue_the_error_goes_to_the_caller() -> None:
    tel = SelfTelemetry()
    backend = FakeBackend(SendPermanentError("400", "http_400"), SendRetryableError("503", "http_503"))
    s = QueueSender(
        component=C,
        telemetry=tel,
        send=backend.send,
        queue=None,
        num_consumers=1,
        retry=RetryConfig(enabled=False),
    )
    await s.shutdown(time.monotonic())  # safe before start
    s = QueueSender(
        component=C,
        telemetry=tel,
        send=backend.send,
        queue=None,
        num_consumers=1,
        retry=RetryConfig(enabled=False),
    )
    await s.start()
    with pytest.raises(SendPermanentError):
        await s.offer(item(1))
    with pytest.raises(SendRetryableError):
        await s.offer(item(1))
    await s.offer(item(1))
    await s.shutdown(time.monotonic() + 1)
    assert tel.counter(C, "items_sent") == 1
    assert [x for x in tel.samples() if x.name == "items_dropped"] == []
