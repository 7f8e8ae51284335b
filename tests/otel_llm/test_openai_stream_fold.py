"""ChatStreamHandler folds chunks in batches and, at the end, skips texts when usage arrived and
content capture is off; and our stream proxy also wraps a stream another instrumentation wrapped
in an object of its own. Both must give exactly the span of the plain per-chunk fold."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
import wrapt
from openai.types.chat import ChatCompletionChunk

from otel_llm import semconv
from otel_llm._core.settings import resolve_settings
from otel_llm._core.span import start_call
from otel_llm._core.stream import StreamState, SyncStreamProxy
from otel_llm._core.tokens import TokenCounter
from otel_llm.openai import stream as openai_stream
from otel_llm.openai.stream import ChatStreamHandler
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_openai import StubOpenAI

MESSAGES = [{"role": "user", "content": "Say hello"}]


def _chunk(i: int, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-fold",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini-2024-07-18",
            # varies, and is missing from some chunks: the last one that has it wins
            "system_fingerprint": f"fp_{i // 10}" if i % 7 else None,
            "service_tier": "default" if i % 5 else None,
            "choices": choices,
            "usage": usage,
        }
    )


def _chunks(n: int, with_usage: bool) -> list[ChatCompletionChunk]:
    """``n`` content chunks over two choices (choice 1 finishes early, with a tool call), then
    (optionally) the usage chunk."""
    out = [_chunk(0, [{"index": 0, "delta": {"role": "assistant", "content": ""}}])]
    for i in range(1, n):
        choices = [{"index": 0, "delta": {"content": f"w{i} "}}]
        if i < n // 2:
            choices.append({"index": 1, "delta": {"content": f"v{i} "}})
        elif i == n // 2:
            choices.append(
                {
                    "index": 1,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{}"}}
                        ]
                    },
                    "finish_reason": "tool_calls",
                }
            )
        if i == n - 1:
            choices[0]["finish_reason"] = "length"
        out.append(_chunk(i, choices))
    if with_usage:
        out.append(
            _chunk(
                n,
                [],
                {
                    "prompt_tokens": 9,
                    "completion_tokens": n,
                    "total_tokens": 9 + n,
                    "prompt_tokens_details": {"cached_tokens": 2},
                },
            )
        )
    return out


class FullFold(ChatStreamHandler):
    """Always folds every chunk with everything it carries (the reference behaviour)."""

    __slots__ = ()

    def _finish_light(self) -> bool:
        return False


class Light(ChatStreamHandler):
    """The handler as shipped, recording whether the end took the light path."""

    __slots__ = ("took_light",)

    def _finish_light(self) -> bool:
        self.took_light = super()._finish_light()
        return self.took_light


def _chat_call(telemetry: Telemetry, capture: bool = False) -> Any:
    """A streaming chat call's LlmCall on ``telemetry``'s provider (heuristic token counts)."""
    settings = resolve_settings(
        "t",
        "0",
        {
            "tracer_provider": telemetry.tracer_provider,
            "token_counter": TokenCounter(loader=None),
            "capture_content": capture,
        },
    )
    return start_call(settings, operation="chat", provider="openai", request_model="gpt-4o-mini", stream=True)


def _run(
    telemetry: Telemetry,
    chunks: list[Any],
    handler: ChatStreamHandler,
    capture: bool = False,
    take: int | None = None,
) -> tuple[dict[str, Any], StreamState]:
    """The span attributes (less the time to first chunk) after ``handler`` read ``chunks``
    through our proxy: all of them, or ``take`` then a close."""
    call = _chat_call(telemetry, capture)
    state = StreamState(call, handler)
    proxy = SyncStreamProxy(iter(chunks), state)
    if take is None:
        assert list(proxy) == chunks
    else:
        assert [next(proxy) for _ in range(take)] == chunks[:take]
        proxy.close()
    telemetry.tracer_provider.force_flush()
    attrs = attributes_of(telemetry.spans()[-1])
    attrs.pop(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    telemetry.clear()
    return attrs, state


def _span_attributes(
    telemetry: Telemetry, chunks: list[Any], capture: bool, light: bool
) -> tuple[dict[str, Any], bool]:
    handler = Light(MESSAGES) if light else FullFold(MESSAGES)
    attrs, _ = _run(telemetry, chunks, handler, capture)
    return attrs, getattr(handler, "took_light", False)


@pytest.mark.parametrize("capture", [False, True], ids=["no_content", "content"])
@pytest.mark.parametrize("with_usage", [True, False], ids=["usage", "no_usage"])
@pytest.mark.parametrize("n", [5, openai_stream._FOLD_EVERY - 1, openai_stream._FOLD_EVERY, 150])
def test_batched_fold_equals_full_fold(telemetry: Telemetry, n: int, with_usage: bool, capture: bool) -> None:
    chunks = _chunks(n, with_usage)
    full, _ = _span_attributes(telemetry, chunks, capture, light=False)
    batched, took_light = _span_attributes(telemetry, chunks, capture, light=True)
    assert batched == full
    # the light end applies to the chunks left since the last batch (none when it was just folded)
    assert took_light is (with_usage and not capture and len(chunks) % openai_stream._FOLD_EVERY != 0)
    assert full[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["length", "tool_calls"]
    assert full[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fold"
    last_fp = max(i for i in range(len(chunks)) if i % 7)
    assert full[semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] == f"fp_{last_fp // 10}"
    assert full[semconv.OPENAI_RESPONSE_SERVICE_TIER] == "default"
    if with_usage:
        assert full[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 9
        assert full[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == n
        assert full[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 2
        assert semconv.OTEL_LLM_USAGE_ESTIMATED not in full
    else:
        # heuristic chars/4 over every text of both choices plus the tool arguments: all chunks read
        texts = [f"w{i} " for i in range(1, n)] + [f"v{i} " for i in range(1, n // 2)] + ["{}"]
        assert full[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == TokenCounter(loader=None).count(None, texts)[0]
        assert full[semconv.OTEL_LLM_USAGE_ESTIMATED] is True
    if capture:
        assert (
            "w1 " in full[semconv.GEN_AI_OUTPUT_MESSAGES] and "call_1" in full[semconv.GEN_AI_OUTPUT_MESSAGES]
        )
    else:
        assert semconv.GEN_AI_OUTPUT_MESSAGES not in full


# -- ours outside another instrumentation's stream wrapper ---------------------------------------
class ForeignStream:
    """A peer's stream wrapper that is no ``openai.Stream`` (as contrib's ChatStreamWrapper)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return next(self.stream)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        return await self.stream.__anext__()

    def close(self) -> None:
        self.stream.close()


@pytest.fixture
def foreign_inside(instrument_openai: Any) -> Iterator[None]:
    """A foreign wrapper installed first, ours outside it."""
    from openai.resources.chat.completions import completions

    saved = {
        name: vars(cls)["create"]
        for name, cls in vars(completions).items()
        if name in ("Completions", "AsyncCompletions")
    }

    def sync_peer(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        return ForeignStream(result) if kwargs.get("stream") else result

    async def async_peer(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = await wrapped(*args, **kwargs)
        return ForeignStream(result) if kwargs.get("stream") else result

    wrapt.wrap_function_wrapper(completions, "Completions.create", sync_peer)
    wrapt.wrap_function_wrapper(completions, "AsyncCompletions.create", async_peer)
    instrument_openai()
    try:
        yield
    finally:
        for name, original in saved.items():
            getattr(completions, name).create = original


EXPECTED = {
    semconv.GEN_AI_RESPONSE_ID: "chatcmpl-stub",
    semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
    semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
    semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 6,
}


def test_foreign_stream_wrapper_sync(stub: StubOpenAI, telemetry: Telemetry, foreign_inside: None) -> None:
    with openai.OpenAI(base_url=stub.url, api_key="sk-test", max_retries=0) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        assert isinstance(stream, ForeignStream)  # the app still gets the peer's object (proxied)
        assert telemetry.spans() == []  # not ended before the stream is read
        chunks = list(stream)
    assert len(chunks) == 7
    attrs = attributes_of(telemetry.span())
    assert {k: attrs[k] for k in EXPECTED} == EXPECTED
    assert attrs[semconv.OTEL_LLM_COST_USD] > 0
    assert type(attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]) is float


async def test_foreign_stream_wrapper_async(
    stub: StubOpenAI, telemetry: Telemetry, foreign_inside: None
) -> None:
    async with openai.AsyncOpenAI(base_url=stub.url, api_key="sk-test", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        assert isinstance(stream, ForeignStream)
        assert telemetry.spans() == []
        chunks = [c async for c in stream]
    assert len(chunks) == 7
    attrs = attributes_of(telemetry.span())
    assert {k: attrs[k] for k in EXPECTED} == EXPECTED
    assert type(attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]) is float


def test_foreign_non_stream_result_is_not_proxied(
    stub: StubOpenAI, telemetry: Telemetry, foreign_inside: None
) -> None:
    with openai.OpenAI(base_url=stub.url, api_key="sk-test", max_retries=0) as client:
        response = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert type(response).__name__ == "ChatCompletion"
    assert attributes_of(telemetry.span())[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_kept_text_and_tool_arguments_are_joined_per_batch_and_capped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long stream of tiny deltas: what the handler keeps is one string per batch of chunks (not
    one str object per delta), and tool arguments count against the same character cap as text."""
    monkeypatch.setattr(openai_stream, "_MAX_TEXT", 3000)
    handler = ChatStreamHandler(MESSAGES, 1)
    deltas = [
        {"content": "x"} if i % 2 else {"tool_calls": [{"index": 0, "function": {"arguments": "yy"}}]}
        for i in range(4000)
    ]
    deltas[0]["tool_calls"][0].update(id="call_1", function={"name": "f", "arguments": "{"})
    chunks = [_chunk(i, [{"index": 0, "delta": delta}]) for i, delta in enumerate(deltas)]
    for start in range(0, len(chunks), 64):
        handler.on_chunks(chunks[start : start + 64])
    handler._fold_pending()
    acc = handler.choices[0]
    text, args = "".join(acc.text), "".join(acc.tools[0][2])
    # The cap, 3,000: "{" + "x" + "yy" + ... until the piece that reaches it, which is kept whole.
    assert acc.text_len == len(text) + len(args) == 3001
    assert set(text) == {"x"} and args.startswith("{yy") and set(args[1:]) == {"y"}
    assert len(acc.text) <= len(chunks) // 64 + 1 and len(acc.tools[0][2]) <= len(chunks) // 64 + 1
    assert acc.tools[0][:2] == ["call_1", "f"]


# -- tail mode: only the last chunks are kept ----------------------------------------------------
def _single_choice(n: int, with_usage: bool) -> list[ChatCompletionChunk]:
    """``n`` chunks of one choice (the role, texts, a finish reason), then optionally usage; every
    chunk carries the ``usage`` field (null until the last), as OpenAI's do with include_usage."""
    out = [_chunk(0, [{"index": 0, "delta": {"role": "assistant", "content": ""}}])]
    out += [_chunk(i, [{"index": 0, "delta": {"content": f"w{i} "}}]) for i in range(1, n - 1)]
    out.append(_chunk(n - 1, [{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    if with_usage:
        out.append(_chunk(n, [], {"prompt_tokens": 9, "completion_tokens": n - 2, "total_tokens": 7 + n}))
    return out


class Tail(ChatStreamHandler):
    """The handler as shipped, recording what tail() answered."""

    __slots__ = ("kept",)

    def tail(self, chunk: Any, call: Any) -> str | None:
        self.kept = super().tail(chunk, call)
        return self.kept


@pytest.mark.parametrize("n", [2, 5, openai_stream._FOLD_EVERY + 1, 150])
def test_tail_mode_gives_the_span_of_the_full_fold(telemetry: Telemetry, n: int) -> None:
    chunks = _single_choice(n, with_usage=True)
    full, _ = _run(telemetry, chunks, FullFold(MESSAGES, 1))
    handler = Tail(MESSAGES, 1, include_usage=True)
    tail, state = _run(telemetry, chunks, handler)
    assert handler.kept == "usage" and state.tail and state.pulled == len(chunks)
    assert state.last is None and state.buffer == []  # nothing held once the span ended
    assert tail == full
    assert tail[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert tail[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == n - 2
    assert semconv.OTEL_LLM_USAGE_ESTIMATED not in tail


def test_tail_mode_cut_before_usage_estimates_one_token_per_chunk(telemetry: Telemetry) -> None:
    chunks = _single_choice(10, with_usage=True)
    attrs, state = _run(telemetry, chunks, Tail(MESSAGES, 1, include_usage=True), take=4)
    assert state.tail and state.pulled == 4
    # the role chunk carries no token; "Say hello" is 3 tokens by chars/4
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 3
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 3
    assert attrs[semconv.OTEL_LLM_USAGE_ESTIMATED] is True
    assert attrs[semconv.OTEL_LLM_USAGE_ESTIMATE_METHOD] == "heuristic:chars/4+chunks"
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fold"
    assert semconv.GEN_AI_RESPONSE_FINISH_REASONS not in attrs
    # cut after the finish chunk, before usage: that chunk carries no token either
    attrs, _ = _run(telemetry, chunks[:-1], Tail(MESSAGES, 1, include_usage=True), take=10)
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 8
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]


@pytest.mark.parametrize(
    ("include_usage", "choice_count", "capture", "usage_field", "kept"),
    [
        (True, 1, False, True, "usage"),
        (False, 1, False, True, None),  # the request did not ask for usage
        (True, 2, False, True, None),  # n=2: a choice's finish reason may be far from the end
        (True, None, False, True, None),  # n unknown
        (True, 1, True, True, None),  # content capture needs every text
        (True, 1, False, False, None),  # the server did not confirm it will send usage
    ],
)
def test_tail_mode_only_when_the_last_chunks_hold_everything(
    telemetry: Telemetry,
    include_usage: bool,
    choice_count: int | None,
    capture: bool,
    usage_field: bool,
    kept: str | None,
) -> None:
    call = _chat_call(telemetry, capture)
    first = _single_choice(3, with_usage=False)[0]
    if not usage_field:
        first = ChatCompletionChunk.model_validate(first.model_dump(exclude={"usage"}))
    handler = ChatStreamHandler(MESSAGES, choice_count, include_usage=include_usage)
    assert handler.tail(first, call) == kept
    call.end()


@pytest.mark.parametrize("tail", [False, True], ids=["full_fold", "tail_mode"])
def test_azure_first_chunk_with_empty_id_and_model(telemetry: Telemetry, tail: bool) -> None:
    # Azure OpenAI opens a stream with its prompt filter results: id and model are "".
    # (built unvalidated, as the SDK builds stream chunks: "object" is "" too)
    prompt_filter = ChatCompletionChunk.model_construct(
        **{
            "id": "",
            "object": "",
            "created": 0,
            "model": "",
            "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
            "usage": None,
        }
    )
    chunks = [prompt_filter, *_single_choice(4, with_usage=True)]
    handler = Tail(MESSAGES, 1, include_usage=tail)
    attrs, state = _run(telemetry, chunks, handler)
    assert state.tail is tail
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fold"
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 2


@pytest.mark.parametrize("where", ["after_usage", "between_finish_and_usage"])
def test_tail_mode_gives_way_for_a_server_sending_chunks_after_usage(
    telemetry: Telemetry, where: str
) -> None:
    # Chunks after the usage chunk (or between the finish chunk and usage), as a content filter
    # might send: the last chunks then lack what the span needs. That stream's span lacks it too
    # (tokens become a marked estimate, never a wrong count presented as reported), and the
    # server's later streams fold every chunk: exact again.
    body = _single_choice(6, with_usage=True)
    notes = [_chunk(100 + i, []) for i in range(_TAIL_EXTRA)]
    chunks = body + notes if where == "after_usage" else body[:-1] + notes + body[-1:]
    openai_stream._FULL_FOLD.clear()
    try:
        first, state = _run(telemetry, chunks, Tail(MESSAGES, 1, include_usage=True))
        assert state.tail
        if where == "after_usage":  # the usage chunk left the tail: an estimate, marked
            assert first[semconv.OTEL_LLM_USAGE_ESTIMATED] is True
            assert first[semconv.OTEL_LLM_USAGE_ESTIMATE_METHOD] == "heuristic:chars/4+chunks"
        else:  # the finish chunk left it: reported usage, no finish reason
            assert first[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
            assert semconv.GEN_AI_RESPONSE_FINISH_REASONS not in first
        assert (None, None) in openai_stream._FULL_FOLD
        handler = Tail(MESSAGES, 1, include_usage=True)
        second, state = _run(telemetry, chunks, handler)
        assert handler.kept is None and not state.tail
        assert second[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 9
        assert second[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
        assert second[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
        assert semconv.OTEL_LLM_USAGE_ESTIMATED not in second
    finally:
        openai_stream._FULL_FOLD.clear()


def test_tail_mode_stays_after_streams_the_app_cut(telemetry: Telemetry) -> None:
    # A stream the app closed early lacks its usage chunk too, but that says nothing of the server.
    openai_stream._FULL_FOLD.clear()
    chunks = _single_choice(10, with_usage=True)
    _run(telemetry, chunks, Tail(MESSAGES, 1, include_usage=True), take=3)
    assert not openai_stream._FULL_FOLD
    handler = Tail(MESSAGES, 1, include_usage=True)
    _run(telemetry, chunks, handler)
    assert handler.kept == "usage" and not openai_stream._FULL_FOLD


_TAIL_EXTRA = 2


class TailEnd(Tail):
    """Tail, recording whether the end read the last chunks directly (``_finish_tail``)."""

    __slots__ = ("direct",)

    def _finish_tail(self, call: Any) -> bool:
        self.direct = super()._finish_tail(call)
        return self.direct


class _Partial:
    """A chunk of another shape: a ChatCompletionChunk's fields but no ``service_tier``."""

    def __init__(self, chunk: ChatCompletionChunk) -> None:
        self.id, self.model, self.usage = chunk.id, chunk.model, chunk.usage
        self.choices, self.system_fingerprint = chunk.choices, chunk.system_fingerprint
        self.model_fields_set = chunk.model_fields_set


def _other_choice(chunks: list[ChatCompletionChunk], index: int) -> list[ChatCompletionChunk]:
    finish = chunks[-2].model_dump()
    finish["choices"] = [{**finish["choices"][0], "index": index}]
    return [*chunks[:-2], ChatCompletionChunk.model_validate(finish), chunks[-1]]


def _two_choices(chunks: list[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
    finish = chunks[-2].model_dump()
    finish["choices"] = [
        finish["choices"][0],
        {**finish["choices"][0], "index": 1, "finish_reason": "length"},
    ]
    return [*chunks[:-2], ChatCompletionChunk.model_validate(finish), chunks[-1]]


def _usage_on_finish(chunks: list[ChatCompletionChunk]) -> list[ChatCompletionChunk]:
    # usage on the finish chunk itself, with no chunk after it
    finish = chunks[-2].model_dump()
    finish["usage"] = chunks[-1].usage.model_dump() if chunks[-1].usage else None
    return [*chunks[:-2], ChatCompletionChunk.model_validate(finish)]


@pytest.mark.parametrize(
    ("shape", "direct", "reasons"),
    [
        ("openai", True, ["stop"]),
        ("usage_on_finish_chunk", True, ["stop"]),
        ("other_shape", False, ["stop"]),
        ("choice_index_1", False, ["stop"]),
        ("two_choices", False, ["stop", "length"]),
        ("usage_on_every_chunk", False, ["stop"]),
    ],
)
def test_tail_end_reads_the_last_chunks_as_the_full_fold_would(
    telemetry: Telemetry, shape: str, direct: bool, reasons: list[str]
) -> None:
    chunks: list[Any] = _single_choice(8, with_usage=True)
    if shape == "usage_on_finish_chunk":
        chunks = _usage_on_finish(chunks)
    elif shape == "other_shape":
        chunks = [chunks[0], *(_Partial(c) for c in chunks[1:])]
    elif shape == "choice_index_1":
        chunks = _other_choice(chunks, 1)
    elif shape == "two_choices":
        chunks = _two_choices(chunks)
    elif shape == "usage_on_every_chunk":  # as vLLM's continuous usage stats: a mark on every chunk
        usage = chunks[-1].usage
        chunks = [c.model_copy(update={"usage": usage}) for c in chunks[:-1]] + chunks[-1:]
    openai_stream._FULL_FOLD.clear()
    try:
        full, _ = _run(telemetry, chunks, FullFold(MESSAGES, 1))
        handler = TailEnd(MESSAGES, 1, include_usage=True)
        tail, state = _run(telemetry, chunks, handler)
        assert state.tail and handler.direct is direct
        assert tail == full
        assert tail[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == reasons
        assert tail[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 9
        assert tail[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 6
        assert tail[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fold"
        assert semconv.OTEL_LLM_USAGE_ESTIMATED not in tail
        assert not openai_stream._FULL_FOLD  # everything was in the tail
    finally:
        openai_stream._FULL_FOLD.clear()


def _with(chunk: ChatCompletionChunk, **fields: Any) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate({**chunk.model_dump(), **fields})


def test_tail_mode_learns_from_a_stream_the_app_stops_reading_at_usage(telemetry: Telemetry) -> None:
    # A chunk between the finish and usage chunks, and an app that stops at usage (close(): the
    # stream never runs to its end): the usage chunk arriving is enough to learn the server.
    body = _single_choice(6, with_usage=True)
    chunks = [*body[:-1], _chunk(100, []), body[-1]]
    openai_stream._FULL_FOLD.clear()
    try:
        first, state = _run(telemetry, chunks, Tail(MESSAGES, 1, include_usage=True), take=len(chunks))
        assert state.tail and not state.exhausted
        assert semconv.GEN_AI_RESPONSE_FINISH_REASONS not in first
        assert (None, None) in openai_stream._FULL_FOLD
        handler = Tail(MESSAGES, 1, include_usage=True)
        second, state = _run(telemetry, chunks, handler, take=len(chunks))
        assert handler.kept is None and second[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    finally:
        openai_stream._FULL_FOLD.clear()


@pytest.mark.parametrize("missing", ["id_model", "fingerprint_tier"])
def test_tail_mode_takes_from_the_first_chunk_what_the_last_two_lack(
    telemetry: Telemetry, missing: str
) -> None:
    body = _single_choice(8, with_usage=True)
    body = [_with(c, system_fingerprint="fp_s", service_tier="flex") for c in body]
    if missing == "id_model":
        body[-2:] = [_with(c, id="", model="") for c in body[-2:]]
    else:
        body[-2:] = [_with(c, system_fingerprint=None, service_tier=None) for c in body[-2:]]
    openai_stream._FULL_FOLD.clear()
    try:
        full, _ = _run(telemetry, body, FullFold(MESSAGES, 1))
        tail, state = _run(telemetry, body, Tail(MESSAGES, 1, include_usage=True))
        assert state.tail and tail == full
        assert tail[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-fold"
        assert tail[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
        assert tail[semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] == "fp_s"
        assert tail[semconv.OPENAI_RESPONSE_SERVICE_TIER] == "flex"
        # the id and model are the first chunk's in the full fold too; a fingerprint or tier
        # missing from the last two may have changed in between: the server folds from now on
        assert bool(openai_stream._FULL_FOLD) is (missing == "fingerprint_tier")
    finally:
        openai_stream._FULL_FOLD.clear()


@pytest.mark.parametrize("shape", ["choice_index_1", "two_choices", "other_shape"])
def test_tail_end_of_another_shape_learns_as_the_direct_end_does(telemetry: Telemetry, shape: str) -> None:
    # The fallback end (the last chunks not of the one-choice shape) takes a fingerprint and tier
    # missing from the last two from the first chunk, as the direct end does, and then folds this
    # server's later streams too: a chunk in between may have changed them.
    body = _single_choice(8, with_usage=True)
    body = [_with(c, system_fingerprint="fp_s", service_tier="flex") for c in body]
    body[-2:] = [_with(c, system_fingerprint=None, service_tier=None) for c in body[-2:]]
    chunks: list[Any] = body
    if shape == "choice_index_1":
        chunks = _other_choice(body, 1)
    elif shape == "two_choices":
        chunks = _two_choices(body)
    else:
        chunks = [body[0], *(_Partial(c) for c in body[1:])]
    openai_stream._FULL_FOLD.clear()
    try:
        full, _ = _run(telemetry, chunks, FullFold(MESSAGES, 1))
        handler = TailEnd(MESSAGES, 1, include_usage=True)
        tail, state = _run(telemetry, chunks, handler)
        assert state.tail and handler.direct is False
        assert tail == full
        assert tail[semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] == "fp_s"
        assert (None, None) in openai_stream._FULL_FOLD
        handler = TailEnd(MESSAGES, 1, include_usage=True)
        again, state = _run(telemetry, chunks, handler)
        assert handler.kept is None and not state.tail and again == full
    finally:
        openai_stream._FULL_FOLD.clear()
