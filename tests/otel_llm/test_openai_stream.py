"""Streaming chat and Responses calls: the span ends exactly once however the stream ends, and the
app receives exactly the chunks the SDK yields."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from otel_llm import semconv
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_openai import Reply, StubOpenAI

API_KEY = "sk-test-0000"
MESSAGES = [{"role": "user", "content": "Say hello"}]
USAGE = {"include_usage": True}


@pytest.fixture(autouse=True)
def no_double_end(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="opentelemetry.sdk.trace")
    yield
    assert "Calling end() on an ended span." not in caplog.text


def stream_attrs(stub: StubOpenAI, attrs: dict[str, Any]) -> None:
    ttfc = attrs.pop(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    assert type(ttfc) is float and ttfc > 0
    assert attrs.pop(semconv.SERVER_PORT) == int(stub.url.rsplit(":", 1)[1].split("/")[0])


def test_chat_stream_with_usage_exhausted(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        )
        texts = [c.choices[0].delta.content for c in stream if c.choices]
    assert "".join(t or "" for t in texts) == "Hello from the stub."
    span = telemetry.span()
    assert span.name == "chat gpt-4o-mini"
    attrs = attributes_of(span)
    stream_attrs(stub, attrs)
    assert attrs == {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_REQUEST_STREAM: True,
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.GEN_AI_RESPONSE_ID: "chatcmpl-stub",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
        semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_stub",
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 6,
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
        semconv.OTEL_LLM_COST_USD: pytest.approx((12 * 0.15 + 6 * 0.6) / 1e6),
        semconv.OTEL_LLM_COST_SOURCE: "genai-prices 0.2.3",
    }


async def test_chat_stream_async_exhausted(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        )
        chunks = [c async for c in stream]
    assert len(chunks) == 7
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 6
    assert type(attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]) is float


def test_stream_without_usage_is_estimated(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    attrs = attributes_of(telemetry.span())
    # heuristic: ceil(len("Say hello") / 4) = 3, ceil(len("Hello from the stub.") / 4) = 5
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 3
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert attrs[semconv.OTEL_LLM_USAGE_ESTIMATED] is True
    assert attrs[semconv.OTEL_LLM_USAGE_ESTIMATE_METHOD] == "heuristic:chars/4"
    # estimates never feed the token-usage metric (provider-reported counts only)
    assert telemetry.points(semconv.METRIC_CLIENT_TOKEN_USAGE) == []


def test_stream_estimate_with_tiktoken(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    from otel_llm._core.tokens import TokenCounter

    class WordEncoding:  # stands in for a cached tiktoken encoding: one token per word
        def encode(self, text: str, disallowed_special: Any = ()) -> list[int]:
            return list(range(len(text.split())))

    counter = TokenCounter(loader=lambda name: WordEncoding() if name == "o200k_base" else None)
    assert counter.wait_ready(10)
    instrument_openai(token_counter=counter)
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 2 + 3 + 3  # words + per-message + priming
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert attrs[semconv.OTEL_LLM_USAGE_ESTIMATE_METHOD] == "tiktoken:o200k_base"


def test_stream_closed_early(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        first = next(stream)
        assert first.choices[0].delta.role == "assistant"
        assert telemetry.spans() == []
        stream.close()
        assert len(telemetry.spans()) == 1
        stream.close()
    span = telemetry.span()
    assert span.status.status_code is StatusCode.UNSET
    assert semconv.GEN_AI_RESPONSE_FINISH_REASONS not in attributes_of(span)


def test_stream_context_manager_exit(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        with client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream:
            assert isinstance(stream, openai.Stream)  # the proxy passes isinstance checks
            next(stream)
        assert len(telemetry.spans()) == 1
        # Reading after close must not end the span again. What the SDK does then depends on how
        # much of the body was buffered (nothing more, or APIConnectionError): either is fine.
        with contextlib.suppress(openai.APIConnectionError):
            list(stream)
    assert len(telemetry.spans()) == 1


async def test_async_stream_closed_early(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        async with stream:
            await stream.__anext__()
        assert len(telemetry.spans()) == 1


def test_stream_abandoned_gc(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:

        def consume_two() -> None:
            stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
            next(stream)
            next(stream)
            stream.response.close()

        consume_two()
        gc.collect()
        assert len(telemetry.spans()) == 1


def test_stream_connection_drop(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = client.chat.completions.create(model="stub-drop", messages=MESSAGES, stream=True)
        received = []
        with pytest.raises(openai.APIConnectionError):
            for chunk in stream:
                received.append(chunk)
    assert len(received) == 2  # stub-drop sends two events, then drops the connection
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    attrs = attributes_of(span)
    assert attrs[semconv.ERROR_TYPE] == "openai.APIConnectionError"
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stub"
    duration = telemetry.points(semconv.METRIC_CLIENT_OPERATION_DURATION)
    assert duration[0][0][semconv.ERROR_TYPE] == "openai.APIConnectionError"


def test_stream_with_usage_cut_early_estimates_one_token_per_chunk(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    # The request asked for usage and the server confirmed it (usage: null on every chunk): only
    # the last chunks are kept, so a stream cut before its usage chunk is estimated from the
    # count of chunks (the role chunk carries no token).
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        )
        got = []
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
            if len(got) == 3:
                break
        stream.close()
        assert got == ["", "Hello ", "from "]
        with pytest.raises(openai.APIConnectionError):
            list(
                client.chat.completions.create(
                    model="stub-drop", messages=MESSAGES, stream=True, stream_options=USAGE
                )
            )
    closed, dropped = (attributes_of(span) for span in telemetry.spans())
    assert closed[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 3  # ceil(len("Say hello") / 4)
    assert closed[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert closed[semconv.OTEL_LLM_USAGE_ESTIMATED] is True
    assert closed[semconv.OTEL_LLM_USAGE_ESTIMATE_METHOD] == "heuristic:chars/4+chunks"
    assert closed[semconv.OTEL_LLM_COST_USD] > 0
    assert dropped[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 1
    assert dropped[semconv.ERROR_TYPE] == "openai.APIConnectionError"
    assert telemetry.points(semconv.METRIC_CLIENT_TOKEN_USAGE) == []


async def test_async_stream_connection_drop(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = await client.chat.completions.create(model="stub-drop", messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIConnectionError):
            async for _ in stream:
                pass
    assert attributes_of(telemetry.span())[semconv.ERROR_TYPE] == "openai.APIConnectionError"


def test_stream_tool_call_content(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai(capture_content=True)
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        list(
            client.chat.completions.create(
                model="stub-tool", messages=MESSAGES, stream=True, stream_options=USAGE
            )
        )
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_calls"]
    assert semconv.OTEL_LLM_COST_USD not in attrs  # unknown model: no cost, never a guess
    assert json.loads(attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_stub_1",
                    "name": "get_weather",
                    "arguments": '{"city": "Paris"}',
                }
            ],
            "finish_reason": "tool_calls",
        }
    ]


def test_chat_stream_helper(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with (
        openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client,
        client.chat.completions.stream(
            model="gpt-4o-mini", messages=MESSAGES, stream_options=USAGE
        ) as stream,
    ):
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from the stub."
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]


def test_responses_stream(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        events = [e.type for e in client.responses.create(model="gpt-4o-mini", input="hi", stream=True)]
    assert events[0] == "response.created" and events[-1] == "response.completed"
    attrs = attributes_of(telemetry.span())
    stream_attrs(stub, attrs)
    assert attrs == {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_REQUEST_STREAM: True,
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.GEN_AI_RESPONSE_ID: "resp_stub",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 6,
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
        semconv.OTEL_LLM_COST_USD: pytest.approx((12 * 0.15 + 6 * 0.6) / 1e6),
        semconv.OTEL_LLM_COST_SOURCE: "genai-prices 0.2.3",
    }


async def test_responses_stream_helper_async(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    async with (
        openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client,
        client.responses.stream(model="gpt-4o-mini", input="hi") as stream,
    ):
        async for _ in stream:
            pass
        final = await stream.get_final_response()
    assert final.output_text == "Hello from the stub."
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "resp_stub"
    assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 6


def _error_event_expected(stub: StubOpenAI, error_type: str) -> dict[str, Any]:
    return {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_REQUEST_STREAM: True,
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.GEN_AI_RESPONSE_ID: "resp_stub",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        semconv.ERROR_TYPE: error_type,
    }


@pytest.mark.parametrize(
    ("code", "error_type"), [("rate_limit_exceeded", "rate_limit_exceeded"), (None, "error"), ("", "error")]
)
def test_responses_stream_error_event(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any, code: str | None, error_type: str
) -> None:
    """An in-band ``error`` event (the SDK yields it, raises nothing) fails the span: error.type is
    the event's code, ``error`` without one; the description is scrubbed of keys."""
    instrument_openai()
    message = "Rate limit reached for key sk-proj-abcdEFGH12345678"
    stub.enqueue(Reply(stream_error_after=2, error_code=code, error_message=message))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        events = [e.type for e in client.responses.create(model="gpt-4o-mini", input="hi", stream=True)]
    assert events == ["response.created", "response.in_progress", "error"]
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "Rate limit reached for key [REDACTED]"
    attrs = attributes_of(span)
    stream_attrs(stub, attrs)
    assert attrs == _error_event_expected(stub, error_type)
    duration = telemetry.points(semconv.METRIC_CLIENT_OPERATION_DURATION)
    assert [a.get(semconv.ERROR_TYPE) for a, _ in duration] == [error_type]


async def test_responses_stream_error_event_async(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    stub.enqueue(Reply(stream_error_after=1, error_code="server_error", error_message="boom"))
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = await client.responses.create(model="gpt-4o-mini", input="hi", stream=True)
        events = [e.type async for e in stream]
    assert events == ["response.created", "error"]
    span = telemetry.span()
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "boom")
    attrs = attributes_of(span)
    stream_attrs(stub, attrs)
    assert attrs == _error_event_expected(stub, "server_error")


def test_responses_stream_failed_and_tool_call_final_responses(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    """The stream's final response is read as a non-streamed one: ``response.failed`` gives
    error.type from its code and no finish reason; a custom tool call gives ``tool_calls``."""
    instrument_openai()
    failed = {
        "status": "failed",
        "output": [],
        "usage": None,
        "error": {"code": "server_error", "message": "x"},
    }
    tool = {"type": "custom_tool_call", "id": "ctc_1", "call_id": "call_c", "name": "run", "input": "1"}
    stub.enqueue(Reply(text="", override=failed), Reply(text="", override={"output": [tool]}))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        first = [e.type for e in client.responses.create(model="gpt-4o-mini", input="hi", stream=True)]
        second = [e.type for e in client.responses.create(model="gpt-4o-mini", input="hi", stream=True)]
    assert (first[-1], second[-1]) == ("response.failed", "response.completed")
    failed_span, tool_span = telemetry.spans()
    assert (failed_span.status.status_code, failed_span.status.description) == (StatusCode.ERROR, "x")
    attrs = attributes_of(failed_span)
    stream_attrs(stub, attrs)
    assert attrs == _error_event_expected(stub, "server_error")
    assert attributes_of(tool_span)[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_calls"]


def test_responses_stream_drop(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    stub.enqueue(Reply(drop_after_chunks=3))
    with (
        openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client,
        pytest.raises(openai.APIConnectionError),
    ):
        list(client.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert attributes_of(span)[semconv.GEN_AI_RESPONSE_ID] == "resp_stub"


def test_stream_chunks_identical_with_and_without(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    def run() -> list[Any]:
        with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
            chat = [
                c.model_dump()
                for c in client.chat.completions.create(model="stub-tool", messages=MESSAGES, stream=True)
            ]
            resp = [
                e.model_dump() for e in client.responses.create(model="gpt-4o-mini", input="x", stream=True)
            ]
        return chat + resp

    plain = run()
    instrument_openai()
    assert run() == plain
    assert len(telemetry.spans()) == 2


def test_chat_stream_helper_left_early_ends_at_the_block_exit(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        with client.chat.completions.stream(
            model="gpt-4o-mini", messages=MESSAGES, stream_options=USAGE
        ) as stream:
            event = next(iter(stream))
            assert event.type == "chunk"
            assert telemetry.spans() == []
        # The helper closed the HTTP response: the span ends now, while `stream` is still alive.
        assert len(telemetry.spans()) == 1
        assert stream.current_completion_snapshot.id == "chatcmpl-stub"
    attrs = attributes_of(telemetry.span())
    stream_attrs(stub, attrs)
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stub"
    assert semconv.GEN_AI_RESPONSE_FINISH_REASONS not in attrs  # it saw no finish reason
    assert telemetry.span().status.status_code is StatusCode.UNSET


async def test_responses_stream_helper_left_early_ends_at_the_block_exit_async(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        async with client.responses.stream(model="gpt-4o-mini", input="hi") as stream:
            async for event in stream:
                assert event.type == "response.created"
                break
            assert telemetry.spans() == []
        assert len(telemetry.spans()) == 1
        assert stream is not None
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_RESPONSE_ID] == "resp_stub"
    assert semconv.GEN_AI_USAGE_OUTPUT_TOKENS not in attrs


def test_the_stream_response_is_the_sdks_and_closing_it_ends_the_span_once(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        )
        response = stream.response
        assert response is stream.response  # one object per stream
        assert isinstance(response, type(stream.__wrapped__.response))  # the SDK's HTTP response
        assert response.status_code == 200 and response.headers["x-request-id"] == "req_stub"
        next(stream)
        assert telemetry.spans() == []
        response.close()
        response.close()
        stream.close()
        assert len(telemetry.spans()) == 1
        assert stream.response is response  # the same object after the stream ended, as the SDK's


def test_time_to_first_chunk_metric(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # no stream: no point
        assert telemetry.points(semconv.METRIC_CLIENT_TIME_TO_FIRST_CHUNK) == []
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    ((attrs, point),) = telemetry.points(semconv.METRIC_CLIENT_TIME_TO_FIRST_CHUNK)
    assert attrs == {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: int(stub.url.rsplit(":", 1)[1].split("/")[0]),
    }
    assert point.count == 1
    assert list(point.explicit_bounds) == list(semconv.DURATION_BUCKETS)
    ttfc = attributes_of(telemetry.spans()[-1])[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert point.sum == pytest.approx(ttfc)
