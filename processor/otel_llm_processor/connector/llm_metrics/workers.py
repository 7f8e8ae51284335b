"""Worker processes that turn raw export requests into :class:`~.aggregator.Columns`.

Reading LLM spans (scan, dialect mapping, de-duplication, columns: :func:`.columns.extract_raw`)
is per-span Python, while the aggregation that follows is numpy over a whole batch. With
``workers: N`` the connector sends each request's bytes (``TracesBatch.raw``, as received) to one
of N worker processes, which send back the compact columns; the event loop only merges them into
the series (:meth:`.aggregator.Aggregator.aggregate_columns`). So the event loop keeps serving the
receiver and the exporters while other cores read spans.

The hand-off is two pipes per worker driven by the event loop itself (asyncio pipe transports):
no helper threads, so no GIL hand-offs and no thread wake-ups between a batch and its worker, and
the request pipe doubles as the worker's queue (enlarged to 1 MiB where the kernel allows, so a
few batches wait in it and a worker never idles while the next batch is on its way). Frames are
``seq (u64) | length (u32) | flags (u8)`` then the payload: the request bytes one way, the pickled
:data:`~.columns.Extracted` (or an error text) the other.

The connector hands a batch over and returns (the receiver answers its client) without waiting for
the result, which is aggregated when it comes back. In-flight batches are bounded (``8 * N``:
enough to keep a worker busy while the event loop aggregates a large drain; the memory they hold
is at most that many requests of the receiver's maximum size). A caller waits for a free slot
(counted as ``worker_waits``) and the wait backs up into the receiver's bounded intake queue,
which refuses with a retryable status when full. A worker that dies is replaced; the batches it
held fail over to the event loop's process (counted as ``worker_failures``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Sequence
from typing import BinaryIO

from otel_llm_processor.connector.llm_metrics.columns import Extracted, extract_raw
from otel_llm_processor.runtime import tune_gc

__all__ = ["WorkerError", "WorkerPool", "resolve_workers", "worker_main"]

_log = logging.getLogger(__name__)
_SLOTS_PER_WORKER = 8  # batches in flight per worker: one being read, the rest queued behind it
_HEADER = struct.Struct("<QIB")  # seq, payload length, flags (request: want_rows; reply: error)
_PIPE_BYTES = 1 << 20  # F_SETPIPE_SZ wish; the kernel caps it at /proc/sys/fs/pipe-max-size
_F_SETPIPE_SZ = 1031  # Linux fcntl command, for a fcntl module that does not export it
_WANT_ROWS = 1
_FAILED = 1


class WorkerError(RuntimeError):
    """A worker could not read a batch (its exception text), or died holding it."""


def resolve_workers(setting: int | str, cpus: int | None = None) -> int:
    """``auto``: one worker per core beyond the first (none on one core); an int is taken as is."""
    if setting == "auto":
        n = cpus if cpus is not None else (os.cpu_count() or 1)
        return max(0, n - 1)
    return int(setting)


def _enlarge(fd: int) -> None:
    """Make a pipe hold ``_PIPE_BYTES``, or the system cap when lower (best effort elsewhere)."""
    try:
        import fcntl
    except ImportError:
        return
    size = _PIPE_BYTES
    with contextlib.suppress(OSError, ValueError), open("/proc/sys/fs/pipe-max-size") as fh:
        size = min(size, int(fh.read()))
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", _F_SETPIPE_SZ), size)


class _Replies(asyncio.Protocol):
    """Reads reply frames from one worker and settles their futures."""

    def __init__(self, worker: _Worker) -> None:
        self._worker = worker
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        size = _HEADER.size
        offset = 0
        while len(buf) - offset >= size:
            seq, length, flags = _HEADER.unpack_from(buf, offset)
            end = offset + size + length
            if len(buf) < end:
                break
            payload = bytes(buf[offset + size : end])
            offset = end
            self._worker.settle(seq, flags, payload)
        if offset:
            del buf[:offset]

    def connection_lost(self, exc: Exception | None) -> None:
        self._worker.lost()


class _Worker:
    """One worker process, its two pipes and the futures of the batches it holds."""

    def __init__(self, pool: WorkerPool, index: int) -> None:
        self.pool = pool
        self.index = index
        self.pending: dict[int, asyncio.Future[Extracted]] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self.writer: asyncio.WriteTransport | None = None
        self.reader: asyncio.ReadTransport | None = None
        self.alive = False

    async def start(self, dims: Sequence[str], defaults: Sequence[str]) -> None:
        loop = asyncio.get_running_loop()
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        _enlarge(req_w)
        _enlarge(rep_w)
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from otel_llm_processor.connector.llm_metrics.workers import worker_main; worker_main()",
                    str(req_r),
                    str(rep_w),
                    json.dumps([list(dims), list(defaults)]),
                ],
                pass_fds=(req_r, rep_w),
                stdin=subprocess.DEVNULL,
                close_fds=True,
            )
        finally:
            os.close(req_r)
            os.close(rep_w)
        write_file: BinaryIO = os.fdopen(req_w, "wb", buffering=0)
        read_file: BinaryIO = os.fdopen(rep_r, "rb", buffering=0)
        self.writer, _ = await loop.connect_write_pipe(asyncio.Protocol, write_file)
        self.reader, _ = await loop.connect_read_pipe(lambda: _Replies(self), read_file)
        self.alive = True

    def send(self, seq: int, raw: bytes, want_rows: bool) -> asyncio.Future[Extracted]:
        assert self.writer is not None
        future: asyncio.Future[Extracted] = asyncio.get_running_loop().create_future()
        self.pending[seq] = future
        self.writer.write(_HEADER.pack(seq, len(raw), _WANT_ROWS if want_rows else 0))
        self.writer.write(raw)
        return future

    def settle(self, seq: int, flags: int, payload: bytes) -> None:
        future = self.pending.pop(seq, None)
        if future is None or future.done():
            return
        if flags & _FAILED:
            future.set_exception(WorkerError(payload.decode("utf-8", "replace")))
            return
        try:
            future.set_result(pickle.loads(payload))
        except Exception as exc:  # a reply we cannot read: the batch fails over
            future.set_exception(WorkerError(f"unreadable reply: {exc!r}"))

    def lost(self) -> None:
        """The reply pipe closed: the process is gone (or going). Fail what it held."""
        if not self.alive:
            return
        self.fail_pending("worker process exited")
        self.close()
        self.pool.replace(self)

    def fail_pending(self, reason: str) -> None:
        """Fail the futures of every batch this worker holds (their batches fail over)."""
        self.alive = False
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(WorkerError(reason))

    def close(self) -> None:
        self.alive = False
        for transport in (self.writer, self.reader):
            if transport is not None:
                transport.close()
        self.writer = self.reader = None
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            # Its request pipe is closed now: it reads EOF and exits; reap it off the loop.
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().run_in_executor(None, _reap, process)


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class WorkerPool:
    """``workers`` processes reading batches for one connector; start and use on one event loop."""

    def __init__(self, workers: int, dims: Sequence[str], defaults: Sequence[str]) -> None:
        self.workers = workers
        self._dims = tuple(dims)
        self._defaults = tuple(defaults)
        self._members: list[_Worker] = []
        self._slots: asyncio.Semaphore | None = None
        self._seq = 0
        self._closed = False
        self._starting: set[asyncio.Task[None]] = set()
        self.waits = 0
        self.failures = 0

    async def start(self) -> None:
        if self._slots is not None:
            return
        self._slots = asyncio.Semaphore(_SLOTS_PER_WORKER * self.workers)
        members = [_Worker(self, i) for i in range(self.workers)]
        try:
            for member in members:
                await member.start(self._dims, self._defaults)
        except BaseException:
            for member in members:
                member.close()
            self._slots = None
            raise
        self._members = members

    async def submit(self, raw: bytes, want_rows: bool) -> asyncio.Future[Extracted]:
        """Hand the batch to the least busy worker; waits only for a free slot.

        The returned future gives the batch's columns, or a :class:`WorkerError` (counted in
        ``failures``): the caller then reads the batch itself.
        """
        slots = self._slots
        if slots is None or self._closed:
            raise RuntimeError("worker pool not running")
        if slots.locked():
            self.waits += 1
        await slots.acquire()
        live = [m for m in self._members if m.alive]
        if not live:
            slots.release()
            self.failures += 1
            raise WorkerError("no live worker process")
        member = min(live, key=lambda m: len(m.pending))
        self._seq += 1
        try:
            future = member.send(self._seq, raw, want_rows)
        except Exception:
            slots.release()
            self.failures += 1
            raise

        def done(f: asyncio.Future[Extracted]) -> None:
            slots.release()
            if f.cancelled() or f.exception() is not None:
                self.failures += 1

        future.add_done_callback(done)
        return future

    def replace(self, dead: _Worker) -> None:
        """Start a new process in place of one that exited (not once the pool is shut down)."""
        if self._closed or dead not in self._members:
            return
        fresh = _Worker(self, dead.index)
        self._members[self._members.index(dead)] = fresh
        _log.warning("llm_metrics: worker process %d exited; starting a new one", dead.index)

        async def start() -> None:
            try:
                await fresh.start(self._dims, self._defaults)
            except Exception:
                _log.warning("llm_metrics: could not start a worker process", exc_info=True)
            if self._closed:
                fresh.close()

        task = asyncio.get_running_loop().create_task(start())
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    def shutdown(self) -> None:
        """Stop the workers (they finish the batch in hand and exit on their pipe's EOF)."""
        self._closed = True
        for member in self._members:
            member.fail_pending("worker pool shut down")
            member.close()
        self._members = []

    def pids(self) -> list[int]:
        """Process ids of the live workers (for tests and diagnostics)."""
        return [m.process.pid for m in self._members if m.alive and m.process is not None]

    def __repr__(self) -> str:
        return f"WorkerPool(workers={self.workers})"


def worker_main(argv: Sequence[str] | None = None) -> None:
    """A worker process: read request frames from one fd, write reply frames to another, until EOF."""
    import signal

    # Ctrl-C reaches the whole process group: the pool, not the terminal, decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    args = list(sys.argv[1:] if argv is None else argv)
    in_fd, out_fd = int(args[0]), int(args[1])
    dims, defaults = json.loads(args[2])
    dims_t, defaults_t = tuple(dims), tuple(defaults)
    tune_gc()  # a batch's objects are acyclic and die with it (see runtime.py)
    size = _HEADER.size
    with os.fdopen(in_fd, "rb", buffering=_PIPE_BYTES) as rfile, os.fdopen(out_fd, "wb") as wfile:
        while True:
            header = rfile.read(size)
            if len(header) < size:
                return  # EOF: the pool closed the pipe (or the processor is gone)
            seq, length, flags = _HEADER.unpack(header)
            raw = rfile.read(length)
            if len(raw) < length:
                return
            try:
                payload = pickle.dumps(
                    extract_raw(raw, dims_t, defaults_t, bool(flags & _WANT_ROWS)), pickle.HIGHEST_PROTOCOL
                )
                reply = 0
            except Exception as exc:
                payload = repr(exc).encode("utf-8", "replace")
                reply = _FAILED
            try:
                wfile.write(_HEADER.pack(seq, len(payload), reply))
                wfile.write(payload)
                wfile.flush()
            except (BrokenPipeError, OSError):
                return
