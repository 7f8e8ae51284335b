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

import atexit
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Protocol

from otel_llm._core.span import LlmCall

try:  # wrapt >= 2: BaseObjectProxy does not proxy iteration itself; we define it explicitly anyway.
    from wrapt import BaseObjectProxy as _ObjectProxy
except ImportError:  # wrapt 1.x
    from wrapt import ObjectProxy as _ObjectProxy

__all__ = [
    "BATCH",
    "AsyncManagerProxy",
    "AsyncStreamProxy",
    "StreamHandler",
    "StreamState",
    "SyncManagerProxy",
    "SyncStreamProxy",
    "end_when_collected",
]

_log = logging.getLogger(__name__)


class StreamHandler(Protocol):
    """Reads a stream's chunks and, at its end, fills the call.

    The chunks reach the handler in batches: every :data:`BATCH` chunks and, at the end of the
    stream, the rest, just before ``on_finish``. A handler defines ``on_chunk`` (one call per chunk
    of a batch) and may define ``on_chunks(chunks)`` instead, which gets each batch as a list of
    its own (one call per batch).
    """

    def on_chunk(self, chunk: Any) -> None:
        """Called with each chunk the caller received (must not modify it)."""

    def on_finish(self, call: LlmCall) -> None:
        """Called once before the span ends: set response attributes and usage on ``call``."""


# A handler may also define ``tail(first_chunk, call) -> str | None``, asked once, at the first
# chunk. A field name (a "mark") means it can do with the stream's last chunk, the count of chunks
# and what it reads off the chunk just before the one that carries the mark (the field is not None
# there, as ``usage`` on OpenAI's last chunk). The stream then keeps only its last chunk, as the app
# does; when a chunk carrying the mark arrives, ``on_mark(previous)`` gets the chunk before it (None
# at the first chunk) while the app still holds it; at the end ``on_tail(last, pulled, exhausted)``
# replaces ``on_chunks`` (``exhausted``: the stream ran to its end, rather than being closed,
# dropped or failing). Holding chunks costs more than reading them: a chunk kept alive after the
# app dropped it keeps the allocator from reusing its memory (one chunk held to the end of a
# 23-chunk stream measured 8 µs).


# Chunks held before they are handed to the handler (bounds the chunks a stream keeps alive).
BATCH = 64


class StreamState:
    """One stream's state, shared by its proxies, their iterators and the finalizer (which is why
    it holds no reference to a proxy). Chunks the caller pulled are appended to ``buffer`` and
    handed to the handler by :meth:`flush`; the first one's arrival is recorded once."""

    __slots__ = (
        "_on_chunks",
        "buffer",
        "call",
        "done",
        "exhausted",
        "handler",
        "last",
        "mark",
        "next",
        "pulled",
        "started",
        "tail",
    )

    def __init__(self, call: LlmCall, handler: StreamHandler) -> None:
        self.call = call
        self.handler = handler
        self.done = False
        self.started = False
        self.buffer: list[Any] = []
        # The wrapped iterator's bound __next__, set by the sync proxy (None: iter() on first pull).
        self.next: Any = None
        self._on_chunks: Callable[[list[Any]], None] | None = getattr(handler, "on_chunks", None)
        # Tail mode (see StreamHandler): only the last chunk is held; ``pulled`` counts them all.
        self.tail = False
        self.mark = ""
        self.last: Any = None
        self.pulled = 0
        self.exhausted = False  # the wrapped stream ended (not closed, dropped or failed)

    def chunk(self, chunk: Any) -> None:
        """Take one chunk the caller received (``next(proxy)`` and proxies of other shapes; the
        iteration paths below inline this, once per chunk)."""
        if self.done:
            return
        if not self.started:
            self.first(chunk)
        if self.tail:
            if getattr(chunk, self.mark, None) is not None:
                self.marked()
            self.last = chunk
            self.pulled += 1
            return
        buffer = self.buffer
        buffer.append(chunk)
        if len(buffer) >= BATCH:
            self.flush()

    def first(self, chunk: Any) -> None:
        """The first chunk arrived (time to first chunk); ask the handler whether the tail will do."""
        self.started = True
        try:
            self.call.first_chunk()
            tail = getattr(self.handler, "tail", None)
            if tail is not None:
                mark = tail(chunk, self.call)
                if mark and not self.buffer:
                    self.mark = mark
                    self.tail = True
        except Exception:
            _log.debug("otel_llm: stream chunk handling failed", exc_info=True)

    def marked(self) -> None:
        """A chunk carrying the mark arrived: the handler reads the one before it (tail mode)."""
        if self.done:  # the app read on after the span ended (close() inside its loop)
            return
        try:
            self.handler.on_mark(self.last)  # type: ignore[attr-defined]
        except Exception:
            _log.debug("otel_llm: stream chunk handling failed", exc_info=True)

    def flush(self) -> None:
        """Hand the buffered chunks to the handler (dropped once the span has ended)."""
        if self.tail:
            last, self.last = self.last, None
            if not self.done:
                try:
                    self.handler.on_tail(last, self.pulled, self.exhausted)  # type: ignore[attr-defined]
                except Exception:
                    _log.debug("otel_llm: stream chunk handling failed", exc_info=True)
            return
        buffer = self.buffer
        if not buffer:
            return
        chunks = list(buffer)
        buffer.clear()
        if self.done:
            return
        on_chunks = self._on_chunks
        if on_chunks is not None:
            try:
                on_chunks(chunks)
            except Exception:
                _log.debug("otel_llm: stream chunk handling failed", exc_info=True)
            return
        on_chunk = self.handler.on_chunk
        for chunk in chunks:
            try:
                on_chunk(chunk)
            except Exception:
                _log.debug("otel_llm: stream chunk handling failed", exc_info=True)

    def exhaust(self) -> None:
        """The wrapped stream ended: finish."""
        self.exhausted = True
        self.finish()

    def finish(self, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.flush()
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

    def collected(self, ref: weakref.ref[Any]) -> None:
        """The proxy was garbage-collected (the app abandoned the stream): end the span."""
        _FINALIZERS.discard(ref)
        if _exiting:
            return
        try:
            self.finish()
        except Exception:
            _log.debug("otel_llm: ending an abandoned stream failed", exc_info=True)

    def pull(self, wrapped: Any) -> Any:
        """The next chunk of the sync iterator ``wrapped`` (one step of :func:`_iterate`)."""
        try:
            pull = self.next
            if pull is None:
                pull = self.next = iter(wrapped).__next__
            chunk = pull()
        except StopIteration:
            self.exhaust()
            raise
        except BaseException as exc:
            self.finish(exc)
            raise
        self.chunk(chunk)
        return chunk


# The weak references whose callbacks end the span of an abandoned stream, one per live proxy: held
# here (as ``weakref.finalize`` holds its own) so the callback runs even when the proxy dies in a
# reference cycle together with its state. Like ``finalize(..., atexit=False)``, nothing runs once
# the interpreter is exiting. A set and a plain weakref cost a tenth of a ``weakref.finalize``.
_FINALIZERS: set[weakref.ref[Any]] = set()
_exiting = False


def _at_exit() -> None:
    global _exiting
    _exiting = True


atexit.register(_at_exit)


def _finalizer(proxy: Any, state: StreamState) -> None:
    _FINALIZERS.add(weakref.ref(proxy, state.collected))


def end_when_collected(proxy: Any, state: StreamState) -> Callable[[], None]:
    """End ``state``'s call when ``proxy`` is garbage-collected (an object the app abandoned);
    returns a function that cancels this (when another proxy takes the state over)."""
    armed = [True]

    def collected(ref: weakref.ref[Any]) -> None:
        if armed[0]:
            state.collected(ref)
        else:
            _FINALIZERS.discard(ref)

    ref = weakref.ref(proxy, collected)
    _FINALIZERS.add(ref)

    def cancel() -> None:
        armed[0] = False
        _FINALIZERS.discard(ref)

    return cancel


# The SDKs' streams (OpenAI's and Anthropic's ``Stream`` / ``AsyncStream``) step an inner generator,
# ``self._iterator``, through a one-line ``__next__`` / ``__anext__``. When a stream's method is
# exactly that line (same bytecode and names as the references below), the proxy steps the inner
# generator itself: the same chunks in the same order, one Python frame (async: one coroutine)
# less per chunk. Any other ``__next__`` (a subclass, another instrumentation's wrapper, a future
# SDK that does more there) is called as it is.


def _forward_next(self: Any) -> Any:
    return self._iterator.__next__()


async def _forward_anext(self: Any) -> Any:
    return await self._iterator.__anext__()


# The code flags that change what a function is (not __future__ imports).
_KIND_FLAGS = (
    inspect.CO_GENERATOR
    | inspect.CO_COROUTINE
    | inspect.CO_ASYNC_GENERATOR
    | inspect.CO_ITERABLE_COROUTINE
    | inspect.CO_VARARGS
    | inspect.CO_VARKEYWORDS
)
_FORWARDS: dict[tuple[Any, Any], bool] = {}  # (method, reference) -> whether it forwards; bounded
_FORWARDS_LIMIT = 64


def _is_forward(method: Any, reference: Any) -> bool:
    key = (method, reference)
    known = _FORWARDS.get(key)
    if known is not None:
        return known
    code = getattr(method, "__code__", None)
    ref = reference.__code__
    same = (
        code is not None
        and code.co_code == ref.co_code
        and code.co_names == ref.co_names
        and code.co_consts == ref.co_consts
        and code.co_flags & _KIND_FLAGS == ref.co_flags & _KIND_FLAGS
        and code.co_argcount == 1
    )
    if len(_FORWARDS) < _FORWARDS_LIMIT:
        _FORWARDS[key] = same
    return same


def _inner_step(wrapped: Any, name: str, reference: Any) -> Any:
    """``wrapped._iterator``'s bound ``name`` when ``type(wrapped).<name>`` only forwards to it,
    else ``wrapped``'s own bound method (None when its type has none)."""
    method = getattr(type(wrapped), name, None)
    if method is None:
        return None
    try:
        if _is_forward(method, reference):
            return getattr(wrapped._iterator, name)
    except Exception:  # no _iterator, or one without the method: the stream's own method
        pass
    return getattr(wrapped, name)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


# The per-chunk path is kept minimal. ``iter(proxy)`` is a generator (as ``iter()`` of the SDK's
# own Stream is): per chunk it resumes, pulls from the wrapped iterator, appends the chunk to the
# buffer and yields it, with no method call on the proxy (reading an attribute of a wrapt proxy
# costs as much as a function call) and none on the handler (it gets the chunks in batches).
# ``next(proxy)`` does the same through ``StreamState.pull``. Attributes, usage and cost wait for
# the end of the stream.


def _iterate(proxy: SyncStreamProxy, state: StreamState) -> Iterator[Any]:
    """``iter(proxy)``. It holds the proxy, so an app iterating the proxy it never named
    (``for chunk in client.chat.completions.create(stream=True)``) keeps the proxy, and so its
    span, alive until it stops iterating; dropping it (an abandoned loop) ends nothing itself."""
    pull = state.next
    if pull is None:
        try:
            pull = state.next = iter(proxy.__wrapped__).__next__
        except BaseException as exc:
            state.finish(exc)
            raise
    if not state.started:  # else next(proxy) took the first chunk: the mode is set
        try:
            chunk = pull()
        except StopIteration:
            state.exhaust()
            return
        except BaseException as exc:
            state.finish(exc)
            raise
        state.chunk(chunk)
        yield chunk
    if state.tail:  # a loop per mode: one loop with a branch per chunk measured 2 µs more
        mark = state.mark
        while True:
            try:
                chunk = pull()
            except StopIteration:
                state.exhaust()
                return
            except BaseException as exc:
                state.finish(exc)
                raise
            if getattr(chunk, mark, None) is not None:
                state.marked()
            state.last = chunk
            state.pulled += 1
            yield chunk
    buffer = state.buffer  # flush() empties it in place: the same object throughout
    append = buffer.append
    while True:
        try:
            chunk = pull()
        except StopIteration:
            state.exhaust()
            return
        except BaseException as exc:
            state.finish(exc)
            raise
        append(chunk)
        if len(buffer) >= BATCH:
            state.flush()
        yield chunk


class _AsyncPump:
    __slots__ = ("next", "state", "wrapped")

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        self.wrapped = wrapped
        self.state = state
        # Bound __anext__ of an async iterator; None for a mere async iterable (__aiter__ first).
        self.next: Any = _inner_step(wrapped, "__anext__", _forward_anext)

    async def pull(self) -> Any:
        state = self.state
        try:
            pull = self.next
            if pull is None:
                pull = self.next = self.wrapped.__aiter__().__anext__
            chunk = await pull()
        except StopAsyncIteration:
            state.exhaust()
            raise
        except BaseException as exc:
            state.finish(exc)
            raise
        state.chunk(chunk)
        return chunk


class SyncStreamProxy(_ObjectProxy):
    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_response: Any = None  # the _ClosingResponse handed out (see _closing_response)
        state.next = _inner_step(wrapped, "__next__", _forward_next)
        _finalizer(self, state)

    def __iter__(self) -> Iterator[Any]:
        return _iterate(self, self._self_state)

    def __next__(self) -> Any:
        return self._self_state.pull(self.__wrapped__)

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

    @property
    def response(self) -> Any:
        """The stream's HTTP response, whose ``close()`` also ends the span (see _ClosingResponse)."""
        return _closing_response(self, self.__wrapped__.response)


class AsyncStreamProxy(_ObjectProxy):
    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_response: Any = None  # the _ClosingResponse handed out (see _closing_response)
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

    @property
    def response(self) -> Any:
        """The stream's HTTP response, whose ``aclose()`` also ends the span (see _ClosingResponse)."""
        return _closing_response(self, self.__wrapped__.response)


class _ClosingResponse(_ObjectProxy):
    """A stream's HTTP response as read through our stream proxy. The SDKs' stream helpers
    (``chat.completions.stream()``, ``responses.stream()``, Anthropic's ``messages.stream()``) keep
    the raw stream's ``response`` and close *it* when their block is left: closing it ends our
    span then, rather than when the stream is collected. Everything else is the response itself."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_state.finish()

    async def aclose(self) -> Any:
        try:
            return await self.__wrapped__.aclose()
        finally:
            self._self_state.finish()


def _closing_response(proxy: Any, response: Any) -> Any:
    """One :class:`_ClosingResponse` per stream proxy: the same object on every read, before and
    after the stream ends, as the SDK's ``response`` is. Cached on the proxy (which the state never
    refers to), so no reference cycle."""
    cached = proxy._self_response
    if cached is not None and cached.__wrapped__ is response:
        return cached
    if response is None:
        return response
    closing = proxy._self_response = _ClosingResponse(response, proxy._self_state)
    return closing


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
