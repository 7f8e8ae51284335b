"""Transparent stream proxies that end an LLM span exactly once.

A provider supplies a :class:`StreamHandler` (``on_chunk`` sees every chunk the caller pulled,
``on_finish`` writes what was accumulated into the call). The proxies pass every chunk through
unchanged, never pull a chunk the caller did not ask for, record the first chunk's arrival (time
to first chunk), and end the span once, whichever comes first: exhaustion, ``close()``, leaving a
``with`` block, an error raised by the stream, or the proxy being garbage-collected (abandoned).

- :class:`SyncStreamProxy` / :class:`AsyncStreamProxy`: over an iterator with optional
  ``close()`` and context-manager support (OpenAI/Anthropic ``Stream`` / ``AsyncStream``).
- :class:`SyncManagerProxy` / :class:`AsyncManagerProxy`: over a stream *manager* (``with
  client.x.stream(...) as s``); ``wrap_entered`` turns what ``__enter__`` returns into a proxy
  sharing the same state; leaving the block ends the span.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from otel_llm._core.span import LlmCall

try:  # wrapt >= 2: BaseObjectProxy does not proxy iteration itself; we define it explicitly anyway.
    from wrapt import BaseObjectProxy as _ObjectProxy
except ImportError:  # wrapt 1.x
    from wrapt import ObjectProxy as _ObjectProxy

__all__ = [
    "AsyncManagerProxy",
    "AsyncStreamProxy",
    "StreamHandler",
    "StreamState",
    "SyncManagerProxy",
    "SyncStreamProxy",
]

_log = logging.getLogger(__name__)


class StreamHandler(Protocol):
    def on_chunk(self, chunk: Any) -> None:
        """Called with each chunk the caller received (must not modify it)."""

    def on_finish(self, call: LlmCall) -> None:
        """Called once before the span ends: set response attributes and usage on ``call``."""


class StreamState:
    """Shared by a proxy and its finalizer; holds no reference to the proxy itself."""

    __slots__ = ("call", "done", "handler")

    def __init__(self, call: LlmCall, handler: StreamHandler) -> None:
        self.call = call
        self.handler = handler
        self.done = False

    def chunk(self, chunk: Any) -> None:
        """One chunk (for proxies of other shapes; the stream proxies below inline this)."""
        if self.done:
            return
        try:
            self.call.first_chunk()
            self.handler.on_chunk(chunk)
        except Exception:
            _log.debug("otel_llm: stream chunk handling failed", exc_info=True)

    def finish(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        call = self.call
        try:
            self.handler.on_finish(call)
        except Exception:
            _log.debug("otel_llm: stream finish failed", exc_info=True)
        if error is not None:
            call.fail(error)
        call.end()
        try:
            call.restore_context()
        except Exception:
            _log.debug("otel_llm: restoring the context failed", exc_info=True)


def _finalizer(proxy: Any, state: StreamState) -> None:
    fin = weakref.finalize(proxy, state.finish)
    fin.atexit = False


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


# The per-chunk path is kept minimal. Reading an attribute of a wrapt proxy costs several times a
# plain slot read, so the proxy's __next__ reads exactly one (the pump's bound ``pull``) and the
# pump, a small slotted object holding the iterator's bound ``__next__`` and the handler's bound
# ``on_chunk``, does the rest. The first chunk's time is taken once; attributes, usage and cost
# wait for the end of the stream. A chunk arriving after the span ended only reaches the handler,
# which is no longer read. The pump holds no reference to the proxy (the finalizer needs that).


class _SyncPump:
    __slots__ = ("next", "on_chunk", "started", "state", "wrapped")

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        self.wrapped = wrapped
        self.state = state
        self.on_chunk = state.handler.on_chunk
        # Bound __next__ of an iterator; None for a mere iterable (iter() on the first pull).
        self.next: Any = wrapped.__next__ if hasattr(type(wrapped), "__next__") else None
        self.started = False

    def pull(self) -> Any:
        try:
            pull = self.next
            if pull is None:
                pull = self.next = iter(self.wrapped).__next__
            chunk = pull()
        except StopIteration:
            self.state.finish()
            raise
        except BaseException as exc:
            self.state.finish(exc)
            raise
        try:
            if not self.started:
                self.started = True
                self.state.call.first_chunk()
            self.on_chunk(chunk)
        except Exception:
            _log.debug("otel_llm: stream chunk handling failed", exc_info=True)
        return chunk


class _AsyncPump:
    __slots__ = ("next", "on_chunk", "started", "state", "wrapped")

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        self.wrapped = wrapped
        self.state = state
        self.on_chunk = state.handler.on_chunk
        # Bound __anext__ of an async iterator; None for a mere async iterable (__aiter__ first).
        self.next: Any = wrapped.__anext__ if hasattr(type(wrapped), "__anext__") else None
        self.started = False

    async def pull(self) -> Any:
        try:
            pull = self.next
            if pull is None:
                pull = self.next = self.wrapped.__aiter__().__anext__
            chunk = await pull()
        except StopAsyncIteration:
            self.state.finish()
            raise
        except BaseException as exc:
            self.state.finish(exc)
            raise
        try:
            if not self.started:
                self.started = True
                self.state.call.first_chunk()
            self.on_chunk(chunk)
        except Exception:
            _log.debug("otel_llm: stream chunk handling failed", exc_info=True)
        return chunk


class SyncStreamProxy(_ObjectProxy):
    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_pull = _SyncPump(wrapped, state).pull
        _finalizer(self, state)

    def __iter__(self) -> SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        return self._self_pull()

    def close(self) -> Any:
        try:
            close = getattr(self.__wrapped__, "close", None)
            return close() if close is not None else None
        finally:
            self._self_state.finish()

    def __enter__(self) -> SyncStreamProxy:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_state.finish()


class AsyncStreamProxy(_ObjectProxy):
    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_pull = _AsyncPump(wrapped, state).pull
        _finalizer(self, state)

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    def __anext__(self) -> Awaitable[Any]:
        return self._self_pull()  # the pump's coroutine: one frame less per chunk

    async def close(self) -> Any:
        try:
            close = getattr(self.__wrapped__, "close", None) or getattr(self.__wrapped__, "aclose", None)
            # Another instrumentation's wrapper may expose a synchronous close().
            return await _maybe_await(close()) if close is not None else None
        finally:
            self._self_state.finish()

    async def aclose(self) -> Any:
        return await self.close()

    async def __aenter__(self) -> AsyncStreamProxy:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            return await exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_state.finish()


WrapEntered = Callable[[Any, StreamState], Any]


class SyncManagerProxy(_ObjectProxy):
    """``with manager as stream``: the entered object is wrapped by ``wrap_entered(obj, state)``."""

    def __init__(self, wrapped: Any, state: StreamState, wrap_entered: WrapEntered) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_wrap_entered = wrap_entered
        _finalizer(self, state)

    def __enter__(self) -> Any:
        try:
            entered = self.__wrapped__.__enter__()
        except BaseException as exc:
            self._self_state.finish(exc)
            raise
        try:
            return self._self_wrap_entered(entered, self._self_state)
        except Exception:
            _log.debug("otel_llm: wrapping the entered stream failed", exc_info=True)
            return entered

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_state.finish()


class AsyncManagerProxy(_ObjectProxy):
    """``async with manager as stream``: async twin of :class:`SyncManagerProxy`."""

    def __init__(self, wrapped: Any, state: StreamState, wrap_entered: WrapEntered) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_wrap_entered = wrap_entered
        _finalizer(self, state)

    async def __aenter__(self) -> Any:
        try:
            entered = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            self._self_state.finish(exc)
            raise
        try:
            return self._self_wrap_entered(entered, self._self_state)
        except Exception:
            _log.debug("otel_llm: wrapping the entered stream failed", exc_info=True)
            return entered

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_state.finish()
