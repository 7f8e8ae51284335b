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

import logging
import weakref
from collections.abc import Callable
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
        try:
            self.handler.on_finish(self.call)
        except Exception:
            _log.debug("otel_llm: stream finish failed", exc_info=True)
        if error is not None:
            self.call.fail(error)
        self.call.end()


def _finalizer(proxy: Any, state: StreamState) -> None:
    fin = weakref.finalize(proxy, state.finish)
    fin.atexit = False


class SyncStreamProxy(_ObjectProxy):
    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_iter: Any = wrapped if hasattr(type(wrapped), "__next__") else None
        _finalizer(self, state)

    def __iter__(self) -> SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        state = self._self_state
        try:
            if self._self_iter is None:
                self._self_iter = iter(self.__wrapped__)
            chunk = next(self._self_iter)
        except StopIteration:
            state.finish()
            raise
        except BaseException as exc:
            state.finish(exc)
            raise
        state.chunk(chunk)
        return chunk

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
        self._self_iter: Any = wrapped if hasattr(type(wrapped), "__anext__") else None
        _finalizer(self, state)

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        state = self._self_state
        try:
            if self._self_iter is None:
                self._self_iter = self.__wrapped__.__aiter__()
            chunk = await self._self_iter.__anext__()
        except StopAsyncIteration:
            state.finish()
            raise
        except BaseException as exc:
            state.finish(exc)
            raise
        state.chunk(chunk)
        return chunk

    async def close(self) -> Any:
        try:
            close = getattr(self.__wrapped__, "close", None) or getattr(self.__wrapped__, "aclose", None)
            return await close() if close is not None else None
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
