"""PostgreSQL backend (psycopg 3, async) for replicas that share rules, alerts and the outbox.

A small pool of autocommit ``AsyncConnection`` objects (``pool_size``) handed out through an
``asyncio.Queue``; each primitive runs in its own transaction. A broken connection is replaced on
its next use. Migrations take a transaction-level advisory lock so replicas starting together
apply them once. The outbox claim uses ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from otel_llm_processor.storage.base import SqlStorage, Statement

__all__ = ["PostgresStorage"]

_MIGRATION_LOCK = 0x6F746C6C6D  # "otllm": advisory lock key of the migration step


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class PostgresStorage(SqlStorage):
    dialect = "postgres"
    _greatest = "GREATEST"
    _claim_lock = "FOR UPDATE OF o SKIP LOCKED"

    def __init__(
        self, dsn: str, pool_size: int = 4, outbox_lease_s: float = 60.0, connect_timeout_s: float = 10.0
    ) -> None:
        super().__init__(outbox_lease_s)
        self._dsn = dsn
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout_s
        self._idle: asyncio.Queue[psycopg.AsyncConnection[Any] | None] | None = None
        self._all: set[psycopg.AsyncConnection[Any]] = set()

    def __repr__(self) -> str:  # never show the DSN (it may carry a password)
        return f"PostgresStorage(pool_size={self._pool_size})"

    async def open(self) -> None:
        if self._idle is not None:
            return
        idle: asyncio.Queue[psycopg.AsyncConnection[Any] | None] = asyncio.Queue()
        # The first connection is made now so a wrong DSN fails at startup; the rest lazily.
        idle.put_nowait(await self._connect())
        for _ in range(self._pool_size - 1):
            idle.put_nowait(None)
        self._idle = idle
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        self._idle = None
        conns, self._all = self._all, set()
        for conn in conns:
            await conn.close()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(
            self._dsn, autocommit=True, connect_timeout=max(1, int(self._connect_timeout))
        )
        self._all.add(conn)
        return conn

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        idle = self._idle
        if idle is None:
            raise RuntimeError("storage is not open")
        conn = await idle.get()
        try:
            if conn is None or conn.closed or conn.broken:
                if conn is not None:
                    self._all.discard(conn)
                conn = None
                conn = await self._connect()
            yield conn
        finally:
            if conn is not None and (conn.closed or conn.broken):
                self._all.discard(conn)
                conn = None
            if self._idle is idle:
                idle.put_nowait(conn)
            elif conn is not None:
                self._all.discard(conn)
                await conn.close()

    # ---- primitives ---------------------------------------------------------------------------
    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(_pg(sql), tuple(params))
            return await cur.fetchall() if cur.description is not None else []

    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        async with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute(_pg(sql), tuple(params))
            return cur.rowcount

    async def _transaction(self, statements: Sequence[Statement]) -> None:
        async with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            for sql, params in statements:
                await cur.execute(_pg(sql), tuple(params))

    async def _migrate(self) -> None:
        async with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            await cur.execute(self._schema_version_table())
            await cur.execute("SELECT MAX(version) FROM schema_version")
            row = await cur.fetchone()
            current = int(row[0] or 0) if row else 0
            for sql, params in self._pending_statements(current):
                await cur.execute(_pg(sql), tuple(params))
