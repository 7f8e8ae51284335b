"""The persistent sending queue: SQLite (WAL) on disk, so an outage or a restart loses nothing.

Every entry is committed before ``put`` returns (the receiver answers OK only after that), and is
deleted only when ``ack`` is called, after the backend acknowledged it. On open, entries left by a
previous run are loaded first, in their original order, so they are sent before new ones. All
SQLite calls run on one dedicated thread (a connection never crosses threads, the event loop
never blocks on disk). ``synchronous=NORMAL`` in WAL mode survives a process crash or kill; only an
OS crash or power loss can lose the last commits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from otel_llm_processor.component import RetryableError, Signal
from otel_llm_processor.exporterhelper.queue import BoundedIndex, Entry, QueueItem

__all__ = ["PersistentQueue"]

_log = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " signal TEXT NOT NULL,"
    " items INTEGER NOT NULL,"
    " data BLOB NOT NULL)"
)


class PersistentQueue:
    """Bounded by batches and bytes like :class:`MemoryQueue`; entries live in ``<directory>/queue.db``."""

    persistent = True

    def __init__(self, directory: str, max_batches: int, max_bytes: int) -> None:
        self.path = os.path.join(directory, "queue.db")
        self._directory = directory
        self._index = BoundedIndex(max_batches, max_bytes)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._sizes: dict[int, int] = {}  # key -> encoded size, for entries handed out or ready

    @property
    def batches(self) -> int:
        return self._index.batches

    @property
    def items(self) -> int:
        return self._index.items

    @property
    def bytes(self) -> int:
        return self._index.bytes

    async def _run(self, fn: Callable[[], T]) -> T:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sending-queue")
        rows = await self._run(self._open_db)
        index = self._index
        for key, signal, items, size in rows:
            # Entries of a previous run are accepted whatever the bounds are now: never lose them.
            index.batches += 1
            index.items += items
            index.bytes += size
            self._sizes[key] = size
            index.push(Entry(key, QueueItem(Signal(signal), b"", items)))

    def _open_db(self) -> list[tuple[int, str, int, int]]:
        os.makedirs(self._directory, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        self._conn = conn
        cur = conn.execute("SELECT id, signal, items, length(data) FROM entries ORDER BY id")
        return [(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in cur.fetchall()]

    async def close(self) -> None:
        self._index.close()
        executor, self._executor = self._executor, None
        if executor is None:
            return
        conn = self._conn
        if conn is not None:
            # Queued after any pending deletes: the executor runs jobs in order.
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)
        self._conn = None

    async def put(self, item: QueueItem) -> None:
        self._index.reserve(item)
        conn = self._conn
        assert conn is not None

        def insert() -> int:
            cur = conn.execute(
                "INSERT INTO entries (signal, items, data) VALUES (?, ?, ?)",
                (item.signal.value, item.items, item.data),
            )
            return int(cur.lastrowid or 0)

        try:
            key = await self._run(insert)
        except sqlite3.Error as err:
            self._index.release(item.items, len(item.data))
            raise RetryableError(f"sending queue storage failed: {err}") from err
        self._sizes[key] = len(item.data)
        # The bytes are read back on ``get``: the queue's memory does not grow with its size.
        self._index.push(Entry(key, QueueItem(item.signal, b"", item.items)))

    async def get(self) -> Entry:
        conn = self._conn
        assert conn is not None
        while True:
            meta = await self._index.pop()

            def read(key: int = meta.key) -> bytes | None:
                row = conn.execute("SELECT data FROM entries WHERE id = ?", (key,)).fetchone()
                return None if row is None else bytes(row[0])

            data = await self._run(read)
            if data is not None:
                return Entry(meta.key, QueueItem(meta.item.signal, data, meta.item.items))
            self._forget(meta.key, meta.item.items)  # vanished from disk: nothing to send

    def ack(self, entry: Entry) -> None:
        """Delete the entry (on the storage thread, ordered before any later close)."""
        self._forget(entry.key, entry.item.items)
        executor, conn = self._executor, self._conn
        if executor is None or conn is None:
            return
        key = entry.key

        def delete() -> None:
            try:
                conn.execute("DELETE FROM entries WHERE id = ?", (key,))
            except sqlite3.Error:
                _log.debug("sending queue: delete failed; the entry will be sent again", exc_info=True)

        executor.submit(delete)

    def _forget(self, key: int, items: int) -> None:
        size = self._sizes.pop(key, 0)
        self._index.release(items, size)
