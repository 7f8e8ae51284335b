"""Stream proxies over plain iterators: transparency and exactly-once end."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from otel_llm import semconv
from otel_llm._core.settings import Settings, resolve_settings
from otel_llm._core.span import LlmCall, Usage, call_sync, should_instrument, start_call
from otel_llm._core.stream import (
    AsyncManagerProxy,
    AsyncStreamProxy,
    StreamState,
    SyncManagerProxy,
    SyncStreamProxy,
)
from otel_llm._core.tokens import TokenCounter
from otel_llm.testing import Telemetry, attributes_of


class Counting:
    def __init__(self) -> None:
        self.chunks: list[Any] = []
        self.finished = 0

    def on_chunk(self, chunk: Any) -> None:
        self.chunks.append(chunk)

    def on_finish(self, call: LlmCall) -> None:
        self.finished += 1
        call.set_usage(Usage(input_tokens=1, output_tokens=len(self.chunks)))


class Source:
    """An SDK-like stream: iterator + close + context manager; optionally fails after n items."""

    def __init__(self, items: list[Any], fail_after: int | None = None) -> None:
        self.items = list(items)
        self.pulled = 0
        self.closed = False
        self.fail_after = fail_after

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self.fail_after is not None and self.pulled >= self.fail_after:
            raise ConnectionError("dropped")
        if self.pulled >= len(self.items):
            raise StopIteration
        self.pulled += 1
        return self.items[self.pulled - 1]

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def settings(telemetry: Telemetry) -> Settings:
    return resolve_settings(
        "t", "0", {"tracer_provider": telemetry.tracer_provider, "token_counter": TokenCounter(loader=None)}
    )


def start(settings: Settings) -> LlmCall:
    return start_call(settings, operation="chat", provider="openai", request_model="m", stream=True)


def test_exhaustion_ends_once_and_passes_chunks(settings: Settings, telemetry: Telemetry) -> None:
    handler = Counting()
    src = Source(["a", "b"])
    proxy = SyncStreamProxy(src, StreamState(start(settings), handler))
    assert list(proxy) == ["a", "b"]
    assert handler.chunks == ["a", "b"] and handler.finished == 1
    assert list(proxy) == []
    proxy.close()
    del proxy
    gc.collect()
    assert handler.finished == 1
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert type(attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]) is float


def test_never_pulls_unrequested_chunks(settings: Settings, telemetry: Telemetry) -> None:
    src = Source(["a", "b", "c"])
    proxy = SyncStreamProxy(src, StreamState(start(settings), Counting()))
    assert next(proxy) == "a"
    assert src.pulled == 1
    proxy.close()
    assert src.closed and src.pulled == 1
    assert len(telemetry.spans()) == 1


def test_abandoned_proxy_ends_on_gc(settings: Settings, telemetry: Telemetry) -> None:
    handler = Counting()
    proxy = SyncStreamProxy(Source(["a", "b"]), StreamState(start(settings), handler))
    next(proxy)
    assert telemetry.spans() == []
    del proxy
    gc.collect()
    assert handler.finished == 1
    assert attributes_of(telemetry.span())[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 1


def test_error_mid_stream_fails_span(settings: Settings, telemetry: Telemetry) -> None:
    proxy = SyncStreamProxy(Source(["a", "b"], fail_after=1), StreamState(start(settings), Counting()))
    with pytest.raises(ConnectionError):
        list(proxy)
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert attributes_of(span)[semconv.ERROR_TYPE] == "ConnectionError"


def test_context_manager_returns_proxy(settings: Settings, telemetry: Telemetry) -> None:
    src = Source(["a"])
    with SyncStreamProxy(src, StreamState(start(settings), Counting())) as proxy:
        assert isinstance(proxy, SyncStreamProxy) and isinstance(proxy, Source)
    assert src.closed
    assert len(telemetry.spans()) == 1


def test_handler_errors_are_swallowed(settings: Settings, telemetry: Telemetry) -> None:
    class Broken:
        def on_chunk(self, chunk: Any) -> None:
            raise ValueError("bug")

        def on_finish(self, call: LlmCall) -> None:
            raise ValueError("bug")

    assert list(SyncStreamProxy(Source(["a"]), StreamState(start(settings), Broken()))) == ["a"]
    assert len(telemetry.spans()) == 1


def test_manager_proxy(settings: Settings, telemetry: Telemetry) -> None:
    src = Source(["x", "y"])

    class Manager:
        def __enter__(self) -> Source:
            return src

        def __exit__(self, *exc: object) -> None:
            src.close()

    handler = Counting()
    with SyncManagerProxy(
        Manager(), StreamState(start(settings), handler), lambda obj, st: SyncStreamProxy(obj, st)
    ) as stream:
        assert next(stream) == "x"
    assert handler.finished == 1 and src.closed
    assert len(telemetry.spans()) == 1


class ASource:
    def __init__(self, items: list[Any]) -> None:
        self.items = list(items)
        self.closed = False

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> ASource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def test_async_proxy_exhaustion_and_close(settings: Settings, telemetry: Telemetry) -> None:
    handler = Counting()
    proxy = AsyncStreamProxy(ASource(["a", "b"]), StreamState(start(settings), handler))
    assert [c async for c in proxy] == ["a", "b"]
    await proxy.close()
    assert handler.finished == 1
    src = ASource(["a", "b"])
    async with AsyncStreamProxy(src, StreamState(start(settings), Counting())) as p2:
        assert await p2.__anext__() == "a"
    assert src.closed
    assert len(telemetry.spans()) == 2


async def test_async_manager_proxy_enter_error(settings: Settings, telemetry: Telemetry) -> None:
    class Manager:
        async def __aenter__(self) -> None:
            raise TimeoutError("slow")

        async def __aexit__(self, *exc: object) -> None:
            return None

    with pytest.raises(TimeoutError):
        async with AsyncManagerProxy(Manager(), StreamState(start(settings), Counting()), lambda o, s: o):
            pass
    assert attributes_of(telemetry.span())[semconv.ERROR_TYPE] == "TimeoutError"


# -- another instrumentation restoring a context captured inside our call ----------------------
class StaleRestorer:
    """Like contrib's stream wrapper inside ours: captures the context current inside our call and
    attaches it again when its stream ends (long after our call returned)."""

    def __init__(self, items: list[Any]) -> None:
        self.captured = otel_context.get_current()
        self.inner = Source(items)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return next(self.inner)
        except StopIteration:
            otel_context.attach(self.captured)
            raise


def test_in_call_marker_is_not_in_the_otel_context(settings: Settings, telemetry: Telemetry) -> None:
    captured: list[otel_context.Context] = []

    def sdk_call() -> str:
        assert not should_instrument()  # inside our call: nested wrapped methods pass through
        captured.append(otel_context.get_current())
        return "ok"

    call = start(settings)
    assert call_sync(call, sdk_call, (), {}, lambda c, r: (c.end(), r)[1]) == "ok"
    assert should_instrument()
    token = otel_context.attach(captured[0])  # a peer restores what it saw inside our call
    try:
        assert trace.get_current_span() is call.span
        assert should_instrument()  # our marker did not come back with it
    finally:
        otel_context.detach(token)


def test_stream_end_undoes_a_stale_restore_of_our_context(settings: Settings, telemetry: Telemetry) -> None:
    before = otel_context.get_current()
    call = start(settings)
    proxy = call_sync(
        call, StaleRestorer, (["a", "b"],), {}, lambda c, r: SyncStreamProxy(r, StreamState(c, Counting()))
    )
    assert otel_context.get_current() is before
    assert list(proxy) == ["a", "b"]
    assert otel_context.get_current() is before  # not our ended span's context
    assert not trace.get_current_span().get_span_context().is_valid
    assert len(telemetry.spans()) == 1


def test_stream_end_leaves_any_other_context_alone(settings: Settings, telemetry: Telemetry) -> None:
    call = start(settings)
    proxy = call_sync(call, Source, (["a"],), {}, lambda c, r: SyncStreamProxy(r, StreamState(c, Counting())))
    other = trace.set_span_in_context(trace.NonRecordingSpan(call.span.get_span_context()))
    token = otel_context.attach(other)
    try:
        assert list(proxy) == ["a"]
        assert otel_context.get_current() is other
    finally:
        otel_context.detach(token)
    assert len(telemetry.spans()) == 1


class Chunk:
    """A chunk the test can watch die (weakref); ``mark`` set on the ones that carry the mark."""

    def __init__(self, n: int, mark: bool = False) -> None:
        self.n = n
        self.mark = True if mark else None


class TailOnly(Counting):
    """Asks for tail mode with the mark ``mark``; records what it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.marked: list[int | None] = []
        self.tail_got: tuple[int | None, int] | None = None
        self.exhausted: bool | None = None

    def tail(self, chunk: Any, call: LlmCall) -> str | None:
        return "mark"

    def on_mark(self, previous: Any) -> None:
        self.marked.append(None if previous is None else previous.n)

    def on_tail(self, last: Any, pulled: int, exhausted: bool) -> None:
        self.tail_got = (None if last is None else last.n, pulled)
        self.exhausted = exhausted


def test_tail_mode_holds_no_chunk_the_app_dropped(settings: Settings, telemetry: Telemetry) -> None:
    import weakref

    watch: list[weakref.ref[Chunk]] = []
    alive_at_mark: list[list[int]] = []

    def source() -> Iterator[Chunk]:  # makes each chunk when pulled, keeps none
        for i in range(6):
            chunk = Chunk(i, mark=i == 5)
            watch.append(weakref.ref(chunk))
            yield chunk

    class Watching(TailOnly):
        def on_mark(self, previous: Any) -> None:
            super().on_mark(previous)
            alive_at_mark.append([i for i, ref in enumerate(watch) if ref() is not None])

    handler = Watching()
    proxy = SyncStreamProxy(source(), StreamState(start(settings), handler))
    seen = []
    for chunk in proxy:  # the app keeps only the numbers
        seen.append(chunk.n)
        del chunk
        gc.collect()
        alive = [i for i, ref in enumerate(watch) if ref() is not None]
        assert alive == seen[-1:]  # only the last pulled is held, as the app's loop holds it
    assert seen == [0, 1, 2, 3, 4, 5]
    # the chunk before the marked one was handed over while still alive, then dropped
    assert handler.marked == [4] and alive_at_mark == [[4, 5]]
    assert handler.tail_got == (5, 6) and handler.chunks == [] and handler.finished == 1
    assert handler.exhausted is True
    # without tail mode the chunks are held until a batch is full or the stream ends
    watch.clear()
    proxy = SyncStreamProxy(source(), StreamState(start(settings), Counting()))
    for chunk in proxy:
        del chunk
        gc.collect()
        assert all(ref() is not None for ref in watch)


def test_tail_mode_through_next_and_mixed_iteration(settings: Settings, telemetry: Telemetry) -> None:
    handler = TailOnly()
    chunks = [Chunk(i, mark=i in (0, 3)) for i in range(5)]
    proxy = SyncStreamProxy(Source(chunks), StreamState(start(settings), handler))
    assert next(proxy).n == 0 and next(proxy).n == 1
    assert [c.n for c in proxy] == [2, 3, 4]
    # a mark on the first chunk has nothing before it
    assert handler.marked == [None, 2]
    assert handler.tail_got == (4, 5) and handler.exhausted is True
    assert len(telemetry.spans()) == 1


async def test_tail_mode_async(settings: Settings, telemetry: Telemetry) -> None:
    async def agen() -> AsyncIterator[Chunk]:
        for i in range(4):
            yield Chunk(i, mark=i == 3)

    handler = TailOnly()
    proxy = AsyncStreamProxy(agen(), StreamState(start(settings), handler))
    assert [c.n async for c in proxy] == [0, 1, 2, 3]
    assert handler.marked == [2]
    assert handler.tail_got == (3, 4) and handler.exhausted is True
    assert len(telemetry.spans()) == 1


def test_tail_mode_closed_early_hands_over_what_was_pulled(settings: Settings, telemetry: Telemetry) -> None:
    handler = TailOnly()
    chunks = [Chunk(i, mark=i == 8) for i in range(9)]
    proxy = SyncStreamProxy(Source(chunks), StreamState(start(settings), handler))
    for chunk in proxy:
        if chunk.n == 2:
            break
    proxy.close()
    assert handler.marked == []
    assert handler.tail_got == (2, 3) and handler.exhausted is False
    assert len(telemetry.spans()) == 1


def test_tail_mode_reads_nothing_after_the_span_ended(settings: Settings, telemetry: Telemetry) -> None:
    # close() inside the loop, then reading on (the SDK's stream yields what it had buffered)
    handler = TailOnly()
    chunks = [Chunk(i, mark=i == 4) for i in range(5)]
    proxy = SyncStreamProxy(iter(chunks), StreamState(start(settings), handler))
    seen = []
    for chunk in proxy:
        seen.append(chunk.n)
        if chunk.n == 1:
            proxy.close()
    assert seen == [0, 1, 2, 3, 4]
    assert handler.marked == [] and handler.tail_got == (1, 2) and handler.finished == 1
    assert len(telemetry.spans()) == 1


def test_tail_mode_empty_stream(settings: Settings, telemetry: Telemetry) -> None:
    handler = TailOnly()
    proxy = SyncStreamProxy(Source([]), StreamState(start(settings), handler))
    assert list(proxy) == []
    # no first chunk: tail mode never began, the handler ends as usual
    assert handler.tail_got is None and handler.finished == 1
    assert len(telemetry.spans()) == 1


def test_error_type_is_the_name_the_package_exports() -> None:
    import asyncio

    from otel_llm._core.span import error_type

    assert error_type(asyncio.CancelledError()) == "asyncio.CancelledError"  # asyncio.exceptions.*
    assert error_type(TimeoutError()) == "TimeoutError"
    assert error_type(json.JSONDecodeError("x", "", 0)) == "json.JSONDecodeError"  # json.decoder.*

    class Oops(Exception):  # a package that does not export it: the public module path
        pass

    Oops.__module__, Oops.__qualname__ = "somepkg._impl.errors", "Oops"
    assert error_type(Oops()) == "somepkg.errors.Oops"


class Forwarding:
    """The SDKs' stream shape: ``__next__`` / ``__anext__`` only forward to ``self._iterator``."""

    def __init__(self, items: list[Any]) -> None:
        self._iterator = iter(items)

    def __next__(self) -> Any:
        return self._iterator.__next__()

    def __iter__(self) -> Iterator[Any]:
        return self


class Upper(Forwarding):
    """A subclass whose ``__next__`` does more than forward: it must be called as it is."""

    def __next__(self) -> Any:
        return self._iterator.__next__().upper()


class AForwarding:
    def __init__(self, items: list[Any]) -> None:
        async def gen() -> AsyncIterator[Any]:
            for item in items:
                yield item

        self._iterator = gen()

    async def __anext__(self) -> Any:
        return await self._iterator.__anext__()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self


class AUpper(AForwarding):
    async def __anext__(self) -> Any:
        return (await self._iterator.__anext__()).upper()


def test_forwarding_next_steps_the_inner_iterator(settings: Settings, telemetry: Telemetry) -> None:
    src = Forwarding(["a", "b"])
    state = StreamState(start(settings), Counting())
    proxy = SyncStreamProxy(src, state)
    assert state.next.__self__ is src._iterator  # one frame less per chunk
    assert next(proxy) == "a" and list(proxy) == ["b"]
    # A __next__ that does more is called as it is, through iteration and next() alike.
    handler = Counting()
    upper = SyncStreamProxy(Upper(["a", "b", "c"]), StreamState(start(settings), handler))
    assert next(upper) == "A" and list(upper) == ["B", "C"]
    assert handler.chunks == ["A", "B", "C"]
    # No _iterator: the stream's own __next__.
    plain = Source(["x"])
    state = StreamState(start(settings), Counting())
    SyncStreamProxy(plain, state)
    assert state.next.__self__ is plain


async def test_forwarding_anext_steps_the_inner_iterator(settings: Settings, telemetry: Telemetry) -> None:
    src = AForwarding(["a", "b"])
    proxy = AsyncStreamProxy(src, StreamState(start(settings), Counting()))
    assert proxy._self_pull.__self__.next.__self__ is src._iterator
    assert [c async for c in proxy] == ["a", "b"]
    handler = Counting()
    upper = AsyncStreamProxy(AUpper(["a", "b"]), StreamState(start(settings), handler))
    assert [c async for c in upper] == ["A", "B"] and handler.chunks == ["A", "B"]


def test_the_sdks_streams_forward_to_their_inner_iterator() -> None:
    """The shortcut applies to the OpenAI SDK's streams; a stream whose step does more (as
    Anthropic's) is stepped through its own method."""
    import anthropic._streaming as anthropic_streaming
    import openai._streaming as openai_streaming

    from otel_llm._core import stream as core

    assert core._is_forward(openai_streaming.Stream.__next__, core._forward_next)
    assert core._is_forward(openai_streaming.AsyncStream.__anext__, core._forward_anext)
    # Anthropic's also tell an observer of each item (its own telemetry): called as they are.
    assert not core._is_forward(anthropic_streaming.Stream.__next__, core._forward_next)
    assert not core._is_forward(anthropic_streaming.AsyncStream.__anext__, core._forward_anext)
    assert not core._is_forward(Upper.__next__, core._forward_next)
    assert not core._is_forward(AUpper.__anext__, core._forward_anext)
    assert not core._is_forward(Forwarding.__next__, core._forward_anext)  # sync is not async
