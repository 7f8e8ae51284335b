"""SQLite backend: stdlib ``sqlite3`` in WAL mode, every query on one dedicated thread.

One connection owned by a single-thread executor serialises all access, so the storage is safe
for concurrent use from any number of tasks; other processes on the same file are handled by
SQLite's locking (``busy_timeout``) and ``BEGIN IMMEDIATE`` for writes.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from otel_llm_processor.storage.base import SqlStorage, Statement

__all__ = ["SqliteStorage"]

T = TypeVar("T")


class SqliteStorage(SqlStorage):
    dialect = "sqlite"
    _greatest = "MAX"

    def __init__(self, path: str, outbox_lease_s: float = 60.0, busy_timeout_s: float = 10.0) -> None:
        super().__init__(outbox_lease_s)
        self.path = path
        self._busy_timeout_ms = int(busy_timeout_s * 1000)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otel-llm-sqlite")
        try:
            await self._run(self._connect)
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)

    # ---- thread side --------------------------------------------------------------------------
    def _connect(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        self._conn = conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("storage is not open")
        return self._conn

    def _in_tx(self, statements: Sequence[Statement]) -> list[list[tuple[Any, ...]]]:
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = [conn.execute(sql, tuple(params)).fetchall() for sql, params in statements]
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return results

    def _fetch_sync(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if sql.lstrip().upper().startswith("SELECT"):
            return self._db().execute(sql, tuple(params)).fetchall()
        return self._in_tx([(sql, params)])[0]

    def _execute_sync(self, sql: str, params: Sequence[Any]) -> int:
        conn = self._db()
        return conn.execute(sql, tuple(params)).rowcount

    def _migrate_sync(self) -> None:
        conn = self._db()
        conn.execute(self._schema_version_table())
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
            for sql, params in self._pending_statements(int(current)):
                conn.execute(sql, tuple(params))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # ---- primitives ---------------------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("storage is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._run(self._fetch_sync, sql, params)

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._run(self._execute_sync, sql, params)

    async def _transaction(self, statements: Sequence[Statement]) -> None:
        await self._run(self._in_tx, statements)

    async def _migrate(self) -> None:
        await self._run(self._migrate_sync)
