"""Manual API: custom LLM calls, retrieval steps, context ids."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
from collections.abc import AsyncIterator, Generator, Iterator

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import INVALID_SPAN, SpanKind, StatusCode

from otel_llm import manual, semconv
from otel_llm.context import current_attributes, llm_context
from otel_llm.manual import current_llm_call, llm_call, retrieval
from otel_llm.testing import Telemetry, attributes_of


@pytest.fixture
def configured(telemetry: Telemetry) -> Iterator[Telemetry]:
    manual.configure(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    yield telemetry
    manual._settings = None


def test_llm_call_context_manager(configured: Telemetry) -> None:
    with llm_context(user_id="u", tenant_id="acme"), llm_call(provider="openai", model="gpt-4o") as call:
        call.set_response(response_id="r1", finish_reasons=["stop"])
        call.set_usage(input_tokens=1_000_000, output_tokens=0)
        call.set_input_messages([{"role": "user", "content": "hi"}])  # capture off: ignored
    span = configured.span()
    assert span.name == "chat gpt-4o" and span.kind is SpanKind.CLIENT
    assert attributes_of(span) == {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o",
        semconv.USER_ID: "u",
        semconv.OTEL_LLM_TENANT_ID: "acme",
        semconv.GEN_AI_RESPONSE_ID: "r1",
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 1_000_000,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 0,
        semconv.OTEL_LLM_COST_USD: 2.5,
        semconv.OTEL_LLM_COST_SOURCE: "genai-prices 0.2.3",
    }
    assert [
        a[semconv.GEN_AI_TOKEN_TYPE] for a, _ in configured.points(semconv.METRIC_CLIENT_TOKEN_USAGE)
    ] == [
        "input",
        "output",
    ]


def test_llm_call_decorator_sync_async_and_error(configured: Telemetry) -> None:
    @llm_call(provider="vllm", model="llama", operation="text_completion")
    def generate() -> str:
        call = current_llm_call()
        assert call is not None
        call.set_usage(input_tokens=3, output_tokens=4)
        return "ok"

    assert generate() == "ok" and generate() == "ok"
    assert current_llm_call() is None

    @llm_call(provider="vllm", model="llama")
    def broken() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        broken()
    first, second, failed = configured.spans()
    assert first.name == "text_completion llama"
    assert attributes_of(first)[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert semconv.OTEL_LLM_COST_USD not in attributes_of(first)
    assert first.context.span_id != second.context.span_id
    assert failed.status.status_code is StatusCode.ERROR
    assert attributes_of(failed)[semconv.ERROR_TYPE] == "KeyError"


async def test_llm_call_async_decorator(configured: Telemetry) -> None:
    @llm_call(provider="vllm", model="llama")
    async def agen() -> int:
        current = current_llm_call()
        assert current is not None
        current.first_chunk()
        return 1

    assert await agen() == 1
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in attributes_of(configured.span())


def test_retrieval_without_and_with_content(telemetry: Telemetry) -> None:
    manual.configure(tracer_provider=telemetry.tracer_provider)
    try:
        with retrieval(query="what is otel?", data_source="kb") as step:
            step.record(["d1", "d2"], [0.9, 0.5], contents=["doc one", "doc two"])
        span = telemetry.span()
        assert span.name == "retrieval kb"
        assert attributes_of(span) == {
            semconv.GEN_AI_OPERATION_NAME: "retrieval",
            semconv.GEN_AI_DATA_SOURCE_ID: "kb",
            semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_IDS: ["d1", "d2"],
            semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_SCORES: [0.9, 0.5],
        }
        telemetry.clear()
        manual.configure(
            tracer_provider=telemetry.tracer_provider,
            capture_content=True,
            redact=lambda s: s.replace("one", "***"),
        )
        with retrieval(query="what is otel?", data_source="kb") as step:
            step.record(["d1"], [0.9], contents=["doc one"])
        attrs = attributes_of(telemetry.span())
        assert attrs[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] == "what is otel?"
        assert json.loads(attrs[semconv.GEN_AI_RETRIEVAL_DOCUMENTS]) == [
            {"id": "d1", "score": 0.9, "content": "doc ***"}
        ]
    finally:
        manual._settings = None


def test_llm_context_nesting() -> None:
    assert current_attributes() == ()
    with llm_context(user_id="u", session_id="s"):
        with llm_context(session_id="s2", conversation_id="c"):
            assert dict(current_attributes()) == {
                semconv.USER_ID: "u",
                semconv.SESSION_ID: "s2",
                semconv.GEN_AI_CONVERSATION_ID: "c",
            }
        assert dict(current_attributes()) == {semconv.USER_ID: "u", semconv.SESSION_ID: "s"}
    assert current_attributes() == ()


def test_suppressed_llm_call_records_nothing_and_changes_nothing(configured: Telemetry) -> None:
    """Inside suppress_instrumentation(): no span, no metric point; the scope still hands out a
    working call object, returns and raises what the code does, and leaves the context alone."""
    tracer = configured.tracer_provider.get_tracer("app")

    @llm_call(provider="vllm", model="llama")
    def generate(fail: bool) -> str:
        call = current_llm_call()
        assert call is not None
        call.set_usage(input_tokens=3, output_tokens=4)
        call.set_response(response_id="r", finish_reasons=["stop"])
        call.set_attribute("app.key", "v")
        call.first_chunk()
        assert not call.span.is_recording()
        if fail:
            raise ValueError("boom")
        return "ok"

    with tracer.start_as_current_span("outer") as outer, suppress_instrumentation():
        with llm_call(provider="vllm", model="llama") as call:
            call.set_usage(input_tokens=1, output_tokens=2)
            call.set_output_messages([{"role": "assistant", "content": "hi"}])
            with tracer.start_as_current_span("inner"):
                pass
        assert generate(False) == "ok"
        with pytest.raises(ValueError, match="boom"):
            generate(True)
        assert current_llm_call() is None
    names = [(s.name, s.parent.span_id if s.parent else None) for s in configured.spans()]
    assert names == [("inner", outer.get_span_context().span_id), ("outer", None)]
    assert configured.points(semconv.METRIC_CLIENT_OPERATION_DURATION) == []
    assert configured.points(semconv.METRIC_CLIENT_TOKEN_USAGE) == []

    # Outside suppression again, a scope records as usual.
    with llm_call(provider="vllm", model="llama") as call:
        call.set_usage(input_tokens=1, output_tokens=2)
    assert configured.spans()[-1].name == "chat llama"
    assert len(configured.points(semconv.METRIC_CLIENT_OPERATION_DURATION)) == 1


def test_suppressed_retrieval_records_nothing(configured: Telemetry) -> None:
    tracer = configured.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("outer") as outer, suppress_instrumentation():
        with retrieval(query="q", data_source="kb") as step:
            step.record(["d1"], [0.5], contents=["text"])
            with tracer.start_as_current_span("inner"):
                pass
        with pytest.raises(KeyError), retrieval(query="q") as step:
            raise KeyError("x")
    names = [(s.name, s.parent.span_id if s.parent else None) for s in configured.spans()]
    assert names == [("inner", outer.get_span_context().span_id), ("outer", None)]


def _nothing_current() -> bool:
    return current_llm_call() is None and trace.get_current_span() is INVALID_SPAN


def test_llm_call_decorates_generator_functions(configured: Telemetry) -> None:
    """On a generator function the span covers the iteration, from the first next() to the end;
    the call (and its span) is current while the body runs, across yields, and never in the
    consumer between yields; sent values and the return value pass through."""
    tracer = configured.tracer_provider.get_tracer("app")
    received: list[str | None] = []

    @llm_call(provider="vllm", model="llama", stream=True)
    def tokens(n: int) -> Generator[str, str | None, str]:
        """Doc."""
        call = current_llm_call()
        assert call is not None
        for i in range(n):
            received.append((yield f"t{i}"))
            assert current_llm_call() is call
            with tracer.start_as_current_span(f"child{i}"):
                pass
        call.set_usage(input_tokens=3, output_tokens=n)
        return "done"

    assert inspect.isgeneratorfunction(tokens)
    assert (tokens.__name__, tokens.__doc__) == ("tokens", "Doc.")
    gen = tokens(2)
    assert configured.spans() == []
    assert next(gen) == "t0"
    assert _nothing_current()
    assert gen.send("a") == "t1"
    assert _nothing_current()
    with pytest.raises(StopIteration) as stopped:
        gen.send("b")
    assert stopped.value.value == "done"
    assert received == ["a", "b"] and _nothing_current()
    child0, child1, span = configured.spans()
    assert span.name == "chat llama" and span.status.status_code is StatusCode.UNSET
    assert [c.parent.span_id if c.parent else None for c in (child0, child1)] == [span.context.span_id] * 2
    assert attributes_of(span)[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 2

    @llm_call(provider="vllm", model="llama")
    def broken() -> Iterator[int]:
        yield 1
        raise KeyError("x")

    configured.clear()
    with pytest.raises(KeyError):
        list(broken())
    assert attributes_of(configured.span())[semconv.ERROR_TYPE] == "KeyError"
    assert configured.span().status.status_code is StatusCode.ERROR

    @retrieval(data_source="kb")
    def search() -> Iterator[str]:
        inside = trace.get_current_span()
        yield "d1"
        assert trace.get_current_span() is inside
        yield "d2"

    configured.clear()
    assert inspect.isgeneratorfunction(search)
    docs = search()
    assert next(docs) == "d1" and _nothing_current()
    docs.close()  # an early close ends the span, not as an error
    assert configured.span().name == "retrieval kb"
    assert configured.span().status.status_code is StatusCode.UNSET


async def test_llm_call_decorates_async_generator_functions(configured: Telemetry) -> None:
    @llm_call(provider="vllm", model="llama", stream=True)
    async def tokens() -> AsyncIterator[str]:
        call = current_llm_call()
        assert call is not None
        yield "a"
        await asyncio.sleep(0)
        assert current_llm_call() is call
        yield "b"
        call.set_usage(input_tokens=1, output_tokens=2)

    assert inspect.isasyncgenfunction(tokens) and tokens.__name__ == "tokens"
    out = []
    async for tok in tokens():
        assert _nothing_current()
        out.append(tok)
    assert out == ["a", "b"] and _nothing_current()
    assert attributes_of(configured.span())[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 2

    @llm_call(provider="vllm", model="llama")
    async def broken() -> AsyncIterator[int]:
        yield 1
        raise KeyError("x")

    configured.clear()
    with pytest.raises(KeyError):
        [x async for x in broken()]
    assert attributes_of(configured.span())[semconv.ERROR_TYPE] == "KeyError"

    @retrieval(data_source="kb")
    async def search() -> AsyncIterator[str]:
        yield "d1"
        yield "d2"

    configured.clear()
    assert inspect.isasyncgenfunction(search)
    docs = search()
    assert await docs.__anext__() == "d1" and _nothing_current()
    await docs.aclose()
    assert configured.span().status.status_code is StatusCode.UNSET


def test_scopes_exited_in_another_context(configured: Telemetry, caplog: pytest.LogCaptureFixture) -> None:
    """Each step of the generator runs in a fresh copy of the context (as Starlette's
    StreamingResponse does): the scopes raise nothing, log nothing and end their spans once."""

    def stream() -> Iterator[str]:
        with (
            llm_context(user_id="u"),
            retrieval(data_source="kb") as step,
            llm_call(provider="vllm", model="llama") as call,
        ):
            yield "a"
            step.record(["d1"])
            call.set_usage(input_tokens=1, output_tokens=1)
            yield "b"

    gen = stream()
    out = []
    with caplog.at_level(logging.DEBUG):
        while True:
            try:
                out.append(contextvars.copy_context().run(next, gen))
            except StopIteration:
                break
    assert out == ["a", "b"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    llm, step_span = configured.spans()
    assert (llm.name, step_span.name) == ("chat llama", "retrieval kb")
    assert attributes_of(llm)[semconv.USER_ID] == "u"
    assert attributes_of(step_span)[semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_IDS] == ["d1"]
    assert _nothing_current() and current_attributes() == ()


def test_generator_closed_early_is_not_an_error(configured: Telemetry) -> None:
    def tokens() -> Iterator[str]:
        with retrieval(data_source="kb"), llm_call(provider="vllm", model="llama", stream=True):
            yield "a"
            yield "b"

    for _ in tokens():
        break  # the generator is closed here: GeneratorExit goes through both scopes
    llm, step = configured.spans()
    assert [s.status.status_code for s in (llm, step)] == [StatusCode.UNSET] * 2
    assert semconv.ERROR_TYPE not in attributes_of(llm) and semconv.ERROR_TYPE not in attributes_of(step)
    points = configured.points(semconv.METRIC_CLIENT_OPERATION_DURATION)
    assert len(points) == 1 and semconv.ERROR_TYPE not in points[0][0]

    with pytest.raises(KeyboardInterrupt), llm_call(provider="vllm", model="llama"):
        raise KeyboardInterrupt  # other BaseExceptions stay failures
    assert attributes_of(configured.spans()[-1])[semconv.ERROR_TYPE] == "KeyboardInterrupt"


def test_a_single_string_is_one_item(telemetry: Telemetry) -> None:
    manual.configure(tracer_provider=telemetry.tracer_provider, capture_content=True)
    try:
        with llm_call(provider="vllm", model="llama") as call:
            call.set_response(finish_reasons="stop")
        with retrieval(data_source="kb") as step:
            step.record("d1", 0.5, contents="text")
    finally:
        manual._settings = None
    llm, step_span = telemetry.spans()
    assert attributes_of(llm)[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    attrs = attributes_of(step_span)
    assert attrs[semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_IDS] == ["d1"]
    assert attrs[semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_SCORES] == [0.5]
    assert json.loads(attrs[semconv.GEN_AI_RETRIEVAL_DOCUMENTS]) == [
        {"id": "d1", "score": 0.5, "content": "text"}
    ]


def test_exit_in_a_live_context_of_another_thread_writes_nothing_there(configured: Telemetry) -> None:
    # Entered in this thread, exited in a pool worker (executor.submit copies no context): the
    # worker's own Context, which its next job inherits, must not receive this request's values.
    from concurrent.futures import ThreadPoolExecutor

    tracer = configured.tracer_provider.get_tracer("app")

    def stream() -> Iterator[int]:
        with llm_context(user_id="user-a"), llm_call(provider="vllm", model="llama"):
            yield 1
            yield 2

    def state() -> tuple[object, object, object]:
        return current_llm_call(), trace.get_current_span(), current_attributes()

    with ThreadPoolExecutor(max_workers=1) as pool:
        with tracer.start_as_current_span("request-a"), llm_context(tenant_id="tenant-a"):
            gen = stream()
            next(gen)
            pool.submit(next, gen).result()
            with pytest.raises(StopIteration):
                pool.submit(next, gen).result()  # the with blocks exit in the worker
        assert pool.submit(state).result() == (None, INVALID_SPAN, ())

        def next_job() -> None:
            with llm_call(provider="vllm", model="job-b"):
                pass

        pool.submit(next_job).result()
    job_b = next(s for s in configured.spans() if s.name == "chat job-b")
    assert job_b.parent is None and semconv.OTEL_LLM_TENANT_ID not in attributes_of(job_b)


def test_decorated_generator_steps_see_what_the_consumer_set_since(configured: Telemetry) -> None:
    # Suppression (like baggage or llm_context ids) set by the consumer around a later step
    # reaches the body; an llm_context the body opened never reaches the consumer.
    from opentelemetry.instrumentation.utils import is_instrumentation_enabled, suppress_instrumentation

    seen: list[tuple[bool, tuple[tuple[str, str], ...]]] = []

    @llm_call(provider="vllm", model="llama")
    def body() -> Iterator[int]:
        seen.append((is_instrumentation_enabled(), current_attributes()))
        with llm_context(user_id="body-user"):
            yield 1
            seen.append((is_instrumentation_enabled(), current_attributes()))
            with retrieval(data_source="kb"):
                pass
            yield 2
            seen.append((is_instrumentation_enabled(), current_attributes()))

    gen = body()
    next(gen)
    assert current_attributes() == ()  # not leaked to the consumer
    with suppress_instrumentation():
        next(gen)
    assert current_attributes() == ()
    with llm_context(session_id="s-consumer"), pytest.raises(StopIteration):
        next(gen)
    # The body's own llm_context applies until its yield: each step runs in the consumer's ids.
    assert seen == [
        (True, ()),
        (False, ()),
        (True, ((semconv.SESSION_ID, "s-consumer"),)),
    ]
    # the retrieval step ran while the consumer suppressed instrumentation: no span
    assert [s.name for s in configured.spans()] == ["chat llama"]


@pytest.mark.parametrize("copies", [False, True], ids=["same_context", "copy_per_step"])
def test_a_scope_the_body_closed_is_not_current_in_later_steps(configured: Telemetry, copies: bool) -> None:
    # The body closes a nested call in step 2. In step 3 the decorated call is current again and
    # the consumer's latest baggage applies, whether the steps share one Context or each runs in
    # a copy (where the nested call's exit cannot undo what it set).
    from opentelemetry import baggage

    seen: list[tuple[str | None, object]] = []
    outer_calls: list[object] = []

    @llm_call(provider="vllm", model="outer")
    def body() -> Iterator[int]:
        outer_calls.append(current_llm_call())
        with llm_call(provider="vllm", model="inner"):
            yield 1
        yield 2
        call = current_llm_call()
        seen.append((getattr(trace.get_current_span(), "name", None), call is outer_calls[0]))
        seen.append((None, baggage.get_baggage("b")))
        yield 3

    gen = body()
    for step in range(3):
        ctx = otel_context.attach(baggage.set_baggage("b", str(step + 1)))
        try:
            if copies:
                contextvars.copy_context().run(next, gen)
            else:
                next(gen)
        finally:
            otel_context.detach(ctx)
    gen.close()
    assert seen == [("chat outer", True), (None, "3")]
