"""Raw responses whose body the app reads later: ``with_streaming_response`` and
``with_raw_response.create(stream=True)``.

The SDK call returns before the body is read, so the span cannot be filled then. The app gets a
transparent proxy of the SDK's response object instead:

- ``parse()``: the parsed body fills the span, which ends (a ``ChatCompletion``, a
  ``Response``...); a parsed *stream* comes back as our stream proxy, which ends the span when the
  stream does (exhausted, closed, failed, abandoned). ``parse()`` again returns the same object.
- ``close()`` (which leaving ``with ...with_streaming_response.create(...)`` calls) before any
  ``parse()``: the app read the body itself (``read()``, ``iter_lines()``...), which we do not
  interpret; the span ends with the request attributes and a duration that covers the reading.
- the proxy garbage-collected with neither: the span ends then.

Nothing here raises into the app: a failure to read the parsed body is logged and the span ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from otel_llm._core.span import LlmCall
from otel_llm._core.stream import (
    AsyncStreamProxy,
    StreamHandler,
    StreamState,
    SyncStreamProxy,
    end_when_collected,
)

try:  # wrapt >= 2
    from wrapt import BaseObjectProxy as _ObjectProxy
except ImportError:  # wrapt 1.x
    from wrapt import ObjectProxy as _ObjectProxy

__all__ = ["AsyncRawResponseProxy", "RawResponseProxy", "handler_for"]

_log = logging.getLogger(__name__)

# (call, parsed body) -> None: fill the call from a parsed non-stream body (Operation.response)
Fill = Callable[[LlmCall, Any], None]


class _NoChunks:
    """The handler of a call whose body is no stream: nothing to fold at the end."""

    def on_chunk(self, chunk: Any) -> None:
        pass

    def on_finish(self, call: LlmCall) -> None:
        pass


class _Body:
    """What the two proxies share: the call's state and what ``parse()`` gave."""

    __slots__ = ("cancel_gc_end", "fill", "parsed_in", "parsed_out", "state", "streams")

    def __init__(
        self,
        proxy: Any,
        call: LlmCall,
        fill: Fill,
        handler: StreamHandler | None,
        streams: tuple[tuple[type, ...], tuple[type, ...]],
    ) -> None:
        self.state = StreamState(call, handler if handler is not None else _NoChunks())
        self.fill = fill
        self.streams = streams
        self.parsed_in: Any = None
        self.parsed_out: Any = None
        self.cancel_gc_end = end_when_collected(proxy, self.state)

    def parsed(self, parsed: Any) -> Any:
        """What the app gets for ``parsed``; fills and ends the call the first time."""
        if self.parsed_out is not None and parsed is self.parsed_in:
            return self.parsed_out
        state = self.state
        if state.done:
            return parsed
        out = parsed
        try:
            sync_streams, async_streams = self.streams
            if isinstance(parsed, sync_streams):
                out = SyncStreamProxy(parsed, state)
                self.cancel_gc_end()  # the stream proxy owns the call's end now
            elif isinstance(parsed, async_streams):
                out = AsyncStreamProxy(parsed, state)
                self.cancel_gc_end()
            else:
                self.fill(state.call, parsed)
                state.finish()
        except Exception:
            _log.debug("otel_llm: reading the parsed raw response failed", exc_info=True)
            state.finish()
            return parsed
        self.parsed_in, self.parsed_out = parsed, out
        return out

    def closed(self) -> None:
        """The response was closed: end the call unless a stream proxy took it over."""
        if self.parsed_out is None or not isinstance(self.parsed_out, (SyncStreamProxy, AsyncStreamProxy)):
            self.state.finish()


class _RawProxy(_ObjectProxy):
    def __init__(
        self,
        wrapped: Any,
        call: LlmCall,
        fill: Fill,
        handler: StreamHandler | None,
        streams: tuple[tuple[type, ...], tuple[type, ...]],
    ) -> None:
        super().__init__(wrapped)
        self._self_body = _Body(self, call, fill, handler, streams)


class RawResponseProxy(_RawProxy):
    """A sync raw response (``APIResponse``, or ``LegacyAPIResponse`` of a stream)."""

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_body.parsed(self.__wrapped__.parse(*args, **kwargs))

    def close(self) -> Any:
        try:
            close = getattr(self.__wrapped__, "close", None)
            return close() if close is not None else None
        finally:
            self._self_body.closed()


class AsyncRawResponseProxy(_RawProxy):
    """An ``AsyncAPIResponse``: ``parse()`` and ``close()`` are coroutines."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._self_body.parsed(await self.__wrapped__.parse(*args, **kwargs))

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_body.closed()


def handler_for(make: Callable[[Mapping[str, Any]], StreamHandler] | None, kwargs: Mapping[str, Any]) -> Any:
    """The stream handler when the request asked for a stream, else None."""
    return make(kwargs) if make is not None and kwargs.get("stream") is True else None
