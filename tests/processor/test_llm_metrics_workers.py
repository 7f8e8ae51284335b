"""llm_metrics worker processes: the pipe hand-off, a worker that dies, a batch a worker rejects."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from otel_llm_processor.component import Host
from otel_llm_processor.connector.llm_metrics.columns import extract_raw
from otel_llm_processor.connector.llm_metrics.config import Config
from otel_llm_processor.connector.llm_metrics.workers import WorkerError, WorkerPool

from .test_llm_metrics_connector import connector, span, traces


def _zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def _until(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def _counter(telemetry, name: str) -> float:  # type: ignore[no-untyped-def]
    return sum(s.value for s in telemetry.samples() if s.name == name)


async def test_the_pool_returns_what_extract_raw_returns_and_rejects_bad_bytes() -> None:
    raw = traces(
        span(1, 0.5, input=100, output=20), span(2, 2.0, error="Timeout")
    ).request.SerializeToString()
    pool = WorkerPool(2, ("tenant",), ("none",))
    await pool.start()
    try:
        assert len(pool.pids()) == 2
        futures = [await pool.submit(raw, want_rows=i % 2 == 0) for i in range(6)]
        results = await asyncio.gather(*futures)
        for i, (columns, rows) in enumerate(results):
            expected_columns, expected_rows = extract_raw(raw, ("tenant",), ("none",), i % 2 == 0)
            assert columns.keys == expected_columns.keys
            assert columns.key_of.tolist() == expected_columns.key_of.tolist()
            assert columns.values.tobytes() == expected_columns.values.tobytes()
            assert (columns.trace_ids, columns.span_ids, columns.end_ns) == (
                expected_columns.trace_ids,
                expected_columns.span_ids,
                expected_columns.end_ns,
            )
            assert rows == expected_rows
        # bytes that are no export request: the worker answers with an error, it does not die
        bad = await pool.submit(b"\x0a\xff\xff\xff\xff\x0f", want_rows=False)
        with pytest.raises(WorkerError, match="ValueError"):
            await bad
        assert pool.failures == 1
        columns, _ = await (await pool.submit(raw, want_rows=False))
        assert len(columns) == 2
        assert len(pool.pids()) == 2
    finally:
        pool.shutdown()
    assert pool.pids() == []
    with pytest.raises(RuntimeError, match="not running"):
        await pool.submit(raw, want_rows=False)


async def test_a_dead_worker_fails_over_in_process_and_is_replaced() -> None:
    batch_a = traces(span(1, 0.5, input=100, output=20), span(2, 2.0, error="Timeout"), service="a")
    batch_b = traces(span(3, 1.5, input=50, output=5), service="b")
    conn, _sink, telemetry, _clock = connector(Config(workers=1, flush_interval=3600))
    await conn.start(Host(telemetry=telemetry, data_dir="/nonexistent"))
    try:
        pool = conn._pool
        assert pool is not None
        [pid] = pool.pids()
        os.kill(pid, signal.SIGKILL)
        _wait_dead(pid)  # blocking on purpose: the event loop must not notice the death yet
        # Handed to the dead worker before the pool noticed: read in-process instead.
        batch_a.raw = batch_a.request.SerializeToString()
        await conn.consume_traces(batch_a)
        await _until(lambda: bool(pool.pids()) and pool.pids() != [pid])
        await _until(lambda: not conn._reads)
        assert _counter(telemetry, "worker_failures") == 1
        # The new worker reads the next batch.
        batch_b.raw = batch_b.request.SerializeToString()
        await conn.consume_traces(batch_b)
        await _until(lambda: not conn._reads)
        assert _counter(telemetry, "worker_failures") == 1
        summary = conn.summarize("1m", group_by=("service",))
        assert sorted((g.labels["service"], g.calls, g.errors) for g in summary) == [("a", 2, 1), ("b", 1, 0)]
        assert _counter(telemetry, "batches_failed") == 0
    finally:
        await conn.shutdown(time.monotonic() + 5)


def _wait_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while not _zombie_or_gone(pid):
        assert time.monotonic() < deadline
        time.sleep(0.01)


async def test_shutdown_stops_the_worker_processes() -> None:
    conn, _sink, telemetry, _clock = connector(Config(workers=2, flush_interval=3600))
    await conn.start(Host(telemetry=telemetry, data_dir="/nonexistent"))
    pool = conn._pool
    assert pool is not None
    pids = pool.pids()
    assert len(pids) == 2
    batch = traces(span(1, 0.5, input=10, output=2))
    batch.raw = batch.request.SerializeToString()
    await conn.consume_traces(batch)
    await conn.shutdown(time.monotonic() + 5)  # waits for the batch, then closes the pipes
    assert conn.summarize("1m")[0].calls == 1
    await asyncio.get_running_loop().run_in_executor(None, lambda: [_wait_dead(p) for p in pids])


async def test_workers_that_cannot_start_leave_the_reading_in_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sys

    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    conn, _sink, telemetry, _clock = connector(Config(workers=2, flush_interval=3600))
    await conn.start(Host(telemetry=telemetry, data_dir="/nonexistent"))
    try:
        assert conn._pool is None
        assert "worker processes could not start" in caplog.text
        batch = traces(span(1, 0.5, input=10, output=2), span(2, 1.0, error="Timeout"))
        batch.raw = batch.request.SerializeToString()
        await conn.consume_traces(batch)
        [summary] = conn.summarize("1m")
        assert (summary.calls, summary.errors) == (2, 1)
    finally:
        await conn.shutdown(time.monotonic() + 5)
