"""The legacy text completions API (``client.completions.create``), still served by OpenAI for
``gpt-3.5-turbo-instruct`` and by most OpenAI-compatible servers (vLLM, llama.cpp, Ollama...):
one span ``text_completion {model}`` per call, plain and streamed, sync and async, through the
real SDK against the stub; the app's objects are unchanged."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm import semconv
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_openai import Reply, StubOpenAI

API_KEY = "sk-test-0000"
MODEL = "gpt-3.5-turbo-instruct"
PROMPT = "Say hello"
# gpt-3.5-turbo-instruct: $1.50 / MTok input, $2.00 output
COST = (12 * 1.5 + 6 * 2.0) / 1e6


def _port(stub: StubOpenAI) -> int:
    return int(stub.url.rsplit(":", 1)[1].split("/")[0])


def _expected(stub: StubOpenAI, *, stream: bool = False, **extra: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: "text_completion",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: MODEL,
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: _port(stub),
        semconv.GEN_AI_REQUEST_MAX_TOKENS: 16,
        semconv.GEN_AI_REQUEST_TEMPERATURE: 0.5,
    }
    if stream:
        attrs[semconv.GEN_AI_REQUEST_STREAM] = True
    attrs.update(
        {
            semconv.GEN_AI_RESPONSE_ID: "cmpl-stub",
            semconv.GEN_AI_RESPONSE_MODEL: MODEL,
            semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
            semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_stub",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 6,
            semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
            semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
            semconv.OTEL_LLM_COST_USD: pytest.approx(COST),
            semconv.OTEL_LLM_COST_SOURCE: "genai-prices 0.2.3",
        }
    )
    attrs.update(extra)
    return attrs


def _request(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "prompt": PROMPT, "max_tokens": 16, "temperature": 0.5, **extra}


def _without_ttfc(span: Any) -> dict[str, Any]:
    attrs = attributes_of(span)
    ttfc = attrs.pop(semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
    assert type(ttfc) is float and ttfc > 0
    return attrs


def _calls(stub: StubOpenAI) -> list[Any]:
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        plain = client.completions.create(**_request()).model_dump(exclude={"created"})
        chunks = [
            c.model_dump(exclude={"created"})
            for c in client.completions.create(
                **_request(stream=True, stream_options={"include_usage": True})
            )
        ]
    return [plain, chunks]


def test_create_sync_and_the_app_gets_the_same_objects(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    plain = _calls(stub)
    instrument_openai()
    traced = _calls(stub)
    assert traced == plain
    assert plain[0]["choices"][0]["text"] == "Hello from the stub."
    first, second = telemetry.spans()
    assert (first.name, first.kind) == (f"text_completion {MODEL}", SpanKind.CLIENT)
    assert attributes_of(first) == _expected(stub)
    assert first.status.status_code is StatusCode.UNSET
    assert second.name == f"text_completion {MODEL}"
    assert _without_ttfc(second) == _expected(stub, stream=True)


def test_stream_without_usage_is_estimated_locally(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        text = "".join(c.choices[0].text for c in client.completions.create(**_request(stream=True)))
    assert text == "Hello from the stub."
    assert "stream_options" not in stub.requests[-1].body  # the request was not changed
    # chars/4 (the heuristic counter of the tests): the prompt (9 chars) -> 3, the text (20) -> 5;
    # no chat framing is added for a plain prompt. An estimate has no cache or reasoning counts.
    expected = _expected(
        stub,
        stream=True,
        **{
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 3,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
            semconv.OTEL_LLM_USAGE_ESTIMATED: True,
            semconv.OTEL_LLM_USAGE_ESTIMATE_METHOD: "heuristic:chars/4",
            semconv.OTEL_LLM_COST_USD: pytest.approx((3 * 1.5 + 5 * 2.0) / 1e6),
        },
    )
    del expected[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS]
    del expected[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS]
    assert _without_ttfc(telemetry.span()) == expected


async def test_create_async_plain_stream_and_error(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        completion = await client.completions.create(**_request())
        assert completion.choices[0].finish_reason == "stop"
        stream = await client.completions.create(
            **_request(stream=True, stream_options={"include_usage": True})
        )
        assert isinstance(stream, openai.AsyncStream)
        chunks = [c async for c in stream]
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
        stub.enqueue(Reply(status=429, error_message="Rate limit reached", error_code="rate_limit_exceeded"))
        with pytest.raises(openai.RateLimitError):
            await client.completions.create(**_request())
    plain, streamed, failed = telemetry.spans()
    assert attributes_of(plain) == _expected(stub)
    assert _without_ttfc(streamed) == _expected(stub, stream=True)
    assert attributes_of(failed) == {
        **{k: v for k, v in _expected(stub).items() if k in _REQUEST_KEYS},
        semconv.ERROR_TYPE: "openai.RateLimitError",
        semconv.HTTP_RESPONSE_STATUS_CODE: 429,
    }
    assert failed.status.status_code is StatusCode.ERROR


_REQUEST_KEYS = {
    semconv.GEN_AI_OPERATION_NAME,
    semconv.GEN_AI_PROVIDER_NAME,
    semconv.GEN_AI_REQUEST_MODEL,
    semconv.SERVER_ADDRESS,
    semconv.SERVER_PORT,
    semconv.GEN_AI_REQUEST_MAX_TOKENS,
    semconv.GEN_AI_REQUEST_TEMPERATURE,
}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_content_capture(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any, stream: bool
) -> None:
    instrument_openai(capture_content=True)
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        result = client.completions.create(**_request(prompt=[PROMPT, "And goodbye"], stream=stream))
        if stream:
            list(result)
    attrs = attributes_of(telemetry.span())
    assert json.loads(attrs[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]},
        {"role": "user", "parts": [{"type": "text", "content": "And goodbye"}]},
    ]
    assert json.loads(attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello from the stub."}],
            "finish_reason": "stop",
        }
    ]


def test_raw_responses(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        raw = client.completions.with_raw_response.create(**_request())
        assert raw.headers["x-request-id"] == "req_stub"
        assert raw.parse().choices[0].text == "Hello from the stub."
        usage = {"include_usage": True}
        with client.completions.with_streaming_response.create(
            **_request(stream=True, stream_options=usage)
        ) as response:
            assert len(telemetry.spans()) == 1  # the stream's span waits for its body
            text = "".join(c.choices[0].text for c in response.parse() if c.choices)
    assert text == "Hello from the stub."
    plain, streamed = telemetry.spans()
    assert attributes_of(plain) == _expected(stub)
    assert _without_ttfc(streamed) == _expected(stub, stream=True)
