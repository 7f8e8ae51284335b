"""Raw responses whose body the app reads later (with_streaming_response, with_raw_response of a
stream), through the real openai SDK against the stub server: the app gets the SDK's objects and
chunks unchanged, and the span is filled from the body and ends exactly once, when the app has it."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from opentelemetry.trace import StatusCode

from otel_llm import semconv
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_openai import StubOpenAI

API_KEY = "sk-test-0000"
MESSAGES = [{"role": "user", "content": "Say hello"}]
USAGE = {"include_usage": True}
COST = (12 * 0.15 + 6 * 0.6) / 1e6


@pytest.fixture(autouse=True)
def no_double_end(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="opentelemetry.sdk.trace")
    yield
    assert "Calling end() on an ended span." not in caplog.text


def request_attrs(stub: StubOpenAI, stream: bool = False) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: int(stub.url.rsplit(":", 1)[1].split("/")[0]),
    }
    if stream:
        attrs[semconv.GEN_AI_REQUEST_STREAM] = True
    return attrs


def full_attrs(stub: StubOpenAI, stream: bool = False) -> dict[str, Any]:
    return {
        **request_attrs(stub, stream),
        semconv.GEN_AI_RESPONSE_ID: "chatcmpl-stub",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
        semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_stub",
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 6,
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
        semconv.OTEL_LLM_COST_USD: pytest.approx(COST),
        semconv.OTEL_LLM_COST_SOURCE: "genai-prices 0.2.3",
    }


def without_ttfc(attrs: dict[str, Any]) -> dict[str, Any]:
    ttfc = attrs.pop(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    assert type(ttfc) is float and ttfc > 0
    return attrs


def uninstrumented_chunks(stub: StubOpenAI) -> list[str]:
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        )
        return [c.model_dump_json(exclude={"created"}) for c in stream]


def test_streaming_response_parse_fills_the_span_when_the_app_parses(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with (
        openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client,
        client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES
        ) as response,
    ):
        assert isinstance(response, openai._response.APIResponse)
        assert response.headers["x-request-id"] == "req_stub"
        assert telemetry.spans() == []  # the body is not read yet: the span is still open
        completion = response.parse()
        assert completion.choices[0].message.content == "Hello from the stub."
        assert response.parse() is completion  # the SDK's cache, unchanged
        assert len(telemetry.spans()) == 1
    assert attributes_of(telemetry.span()) == full_attrs(stub)


def test_streaming_response_read_by_the_app_ends_the_span_at_close(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES
        ) as response:
            body = b"".join(response.iter_bytes())
            assert b"Hello from the stub." in body
            assert telemetry.spans() == []
        assert len(telemetry.spans()) == 1  # leaving the block closed the response
    assert attributes_of(telemetry.span()) == request_attrs(stub)


def test_streaming_response_of_a_stream_ends_with_the_stream(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    expected_chunks = uninstrumented_chunks(stub)
    instrument_openai()
    with (
        openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client,
        client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        ) as response,
    ):
        stream = response.parse()
        assert isinstance(stream, openai.Stream)
        assert response.parse() is stream
        chunks = [c.model_dump_json(exclude={"created"}) for c in stream]
        assert len(telemetry.spans()) == 1
    assert chunks == expected_chunks
    assert without_ttfc(attributes_of(telemetry.span())) == full_attrs(stub, stream=True)


def test_raw_response_of_a_stream_ends_with_the_stream(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        )
        assert isinstance(raw, openai._legacy_response.LegacyAPIResponse)
        assert telemetry.spans() == []
        stream = raw.parse()
        assert isinstance(stream, openai.Stream)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello from the stub."
    assert without_ttfc(attributes_of(telemetry.span())) == full_attrs(stub, stream=True)


def test_an_abandoned_raw_response_ends_its_span_when_collected(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        )
        assert telemetry.spans() == []
        del raw
        gc.collect()
        assert len(telemetry.spans()) == 1
    assert attributes_of(telemetry.span()) == request_attrs(stub, stream=True)


def test_a_parsed_stream_outlives_its_raw_response(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        ).parse()  # the raw response is dropped at once
        gc.collect()
        assert telemetry.spans() == []  # the stream, not the raw response, ends the span
        list(stream)
    assert without_ttfc(attributes_of(telemetry.span())) == full_attrs(stub, stream=True)


async def test_async_streaming_response_parse_and_stream(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        async with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES
        ) as response:
            assert isinstance(response, openai._response.AsyncAPIResponse)
            completion = await response.parse()
            assert completion.choices[0].message.content == "Hello from the stub."
        async with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        ) as response:
            stream = await response.parse()
            assert isinstance(stream, openai.AsyncStream)
            chunks = [c async for c in stream]
            assert chunks[-1].usage is not None
        async with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES
        ) as response:
            assert b"Hello" in await response.read()
    first, second, third = telemetry.spans()
    assert attributes_of(first) == full_attrs(stub)
    assert without_ttfc(attributes_of(second)) == full_attrs(stub, stream=True)
    assert attributes_of(third) == request_attrs(stub)


def test_leaving_the_block_mid_stream_ends_the_span_at_once(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        ) as response:
            stream = response.parse()
            first, second = next(stream), next(stream)
            assert (first.choices[0].delta.role, second.choices[0].delta.content) == ("assistant", "Hello ")
            assert telemetry.spans() == []
        # The app still holds the stream, but closing the response closed its connection.
        assert len(telemetry.spans()) == 1
        with contextlib.suppress(openai.APIConnectionError, httpx.StreamClosed):
            list(stream)  # reading on after the close ends nothing again
        assert len(telemetry.spans()) == 1
    attrs = without_ttfc(attributes_of(telemetry.span()))
    assert attrs == {
        **request_attrs(stub, stream=True),
        semconv.GEN_AI_RESPONSE_ID: "chatcmpl-stub",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_stub",
        # no usage chunk came: estimated from the prompt and the chunks pulled (1 with text)
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 3,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 1,
        semconv.OTEL_LLM_USAGE_ESTIMATED: True,
        semconv.OTEL_LLM_USAGE_ESTIMATE_METHOD: "heuristic:chars/4+chunks",
        semconv.OTEL_LLM_COST_USD: pytest.approx((3 * 0.15 + 1 * 0.6) / 1e6),
        semconv.OTEL_LLM_COST_SOURCE: "genai-prices 0.2.3",
    }
    assert telemetry.span().status.status_code is StatusCode.UNSET


async def test_async_raw_response_closed_mid_stream_ends_the_span_at_once(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        async with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options=USAGE
        ) as response:
            stream = await response.parse()
            await stream.__anext__()
            assert telemetry.spans() == []
        assert len(telemetry.spans()) == 1
        del stream
    assert without_ttfc(attributes_of(telemetry.span())) == {
        **request_attrs(stub, stream=True),
        semconv.GEN_AI_RESPONSE_ID: "chatcmpl-stub",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_stub",
        # no usage chunk came: estimated from the prompt and the chunks pulled (0 with text)
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 3,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 0,
        semconv.OTEL_LLM_USAGE_ESTIMATED: True,
        semconv.OTEL_LLM_USAGE_ESTIMATE_METHOD: "heuristic:chars/4+chunks",
        semconv.OTEL_LLM_COST_USD: pytest.approx(3 * 0.15 / 1e6),
        semconv.OTEL_LLM_COST_SOURCE: "genai-prices 0.2.3",
    }
