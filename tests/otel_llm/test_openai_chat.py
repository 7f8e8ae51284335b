"""Chat completions through the real openai SDK against the stub server: exact spans and metrics."""

from __future__ import annotations

import gc
import json
from typing import Any

import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm import semconv
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_openai import Reply, StubOpenAI, ToolCall

API_KEY = "sk-test-SECRETKEY-0123456789"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]
COST_4O_MINI = (12 * 0.15 + 6 * 0.6) / 1e6  # genai-prices: $0.15 / $0.60 per MTok


def port_of(stub: StubOpenAI) -> int:
    return int(stub.url.rsplit(":", 1)[1].split("/")[0])


def expected(stub: StubOpenAI, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: model,
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: port_of(stub),
    }
    attrs.update(extra)
    return attrs


def success(stub: StubOpenAI, model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return expected(
        stub,
        model,
        **{
            semconv.GEN_AI_RESPONSE_ID: "chatcmpl-stub",
            semconv.GEN_AI_RESPONSE_MODEL: model,
            semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
            semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_stub",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 6,
            semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
            semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
            semconv.OTEL_LLM_COST_USD: pytest.approx(COST_4O_MINI),
            semconv.OTEL_LLM_COST_SOURCE: "genai-prices 0.2.3",
            **extra,
        },
    )


def no_secrets(telemetry: Telemetry) -> None:
    for span in telemetry.spans():
        for value in attributes_of(span).values():
            assert "SECRETKEY" not in str(value)
        assert "SECRETKEY" not in (span.status.description or "")


def test_chat_sync_success(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            temperature=0.5,
            top_p=1,
            max_tokens=64,
            seed=7,
            stop="END",
            n=2,
            presence_penalty=0.1,
            frequency_penalty=0.2,
            response_format={"type": "json_object"},
            service_tier="default",
        )
    span = telemetry.span()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert attributes_of(span) == success(
        stub,
        **{
            semconv.GEN_AI_REQUEST_TEMPERATURE: 0.5,
            semconv.GEN_AI_REQUEST_TOP_P: 1.0,
            semconv.GEN_AI_REQUEST_MAX_TOKENS: 64,
            semconv.GEN_AI_REQUEST_SEED: 7,
            semconv.GEN_AI_REQUEST_STOP_SEQUENCES: ["END"],
            semconv.GEN_AI_REQUEST_CHOICE_COUNT: 2,
            semconv.GEN_AI_REQUEST_PRESENCE_PENALTY: 0.1,
            semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.2,
            semconv.GEN_AI_OUTPUT_TYPE: "json",
            semconv.OPENAI_REQUEST_SERVICE_TIER: "default",
        },
    )
    attrs = attributes_of(span)
    assert type(attrs[semconv.GEN_AI_REQUEST_TOP_P]) is float
    assert type(attrs[semconv.SERVER_PORT]) is int
    assert type(attrs[semconv.OTEL_LLM_COST_USD]) is float
    no_secrets(telemetry)


async def test_chat_async_success(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.span()
    assert span.name == "chat gpt-4o-mini"
    assert attributes_of(span) == success(stub)


def test_chat_metrics(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    common = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: port_of(stub),
    }
    duration = telemetry.points(semconv.METRIC_CLIENT_OPERATION_DURATION)
    assert [attrs for attrs, _ in duration] == [common]
    point = duration[0][1]
    assert point.count == 1
    assert list(point.explicit_bounds) == list(semconv.DURATION_BUCKETS)
    tokens = sorted(
        (
            (attrs[semconv.GEN_AI_TOKEN_TYPE], p.sum, p.count)
            for attrs, p in telemetry.points(semconv.METRIC_CLIENT_TOKEN_USAGE)
        ),
    )
    assert tokens == [("input", 12, 1), ("output", 6, 1)]
    token_point = telemetry.points(semconv.METRIC_CLIENT_TOKEN_USAGE)[0][1]
    assert list(token_point.explicit_bounds) == list(semconv.TOKEN_BUCKETS)


@pytest.mark.parametrize(
    ("model", "error_type", "status"),
    [("stub-error-429", "openai.RateLimitError", 429), ("stub-error-500", "openai.InternalServerError", 500)],
)
def test_chat_sync_http_errors(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any, model: str, error_type: str, status: int
) -> None:
    instrument_openai()
    with (
        openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client,
        pytest.raises(openai.APIStatusError),
    ):
        client.chat.completions.create(model=model, messages=MESSAGES)
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is not None and span.status.description.startswith(
        error_type.split(".")[1]
    )
    assert attributes_of(span) == expected(
        stub, model, **{semconv.ERROR_TYPE: error_type, semconv.HTTP_RESPONSE_STATUS_CODE: status}
    )
    duration = telemetry.points(semconv.METRIC_CLIENT_OPERATION_DURATION)
    assert [a[semconv.ERROR_TYPE] for a, _ in duration] == [error_type]
    assert telemetry.points(semconv.METRIC_CLIENT_TOKEN_USAGE) == []


async def test_chat_async_http_error(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model="stub-error-429", messages=MESSAGES)
    assert attributes_of(telemetry.span())[semconv.ERROR_TYPE] == "openai.RateLimitError"


def test_retries_are_one_span(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    stub.enqueue(Reply(status=429, retry_after="0", error_message="slow down"))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=1) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(stub.requests) == 2
    assert attributes_of(telemetry.span()) == success(stub)


@pytest.mark.parametrize(
    "key",
    [
        API_KEY,
        "gsk_8Jd7Hs62KdLq0PzXw3Nc5VbT1yR4uE9iOa2Sd6Fg",  # Groq-style
        "AIzaSyD3x9Kq2Lm8Np4Rs7Tu1Vw5Xy0Za6Bc3De",  # Google-style
        "hf_AbCdEfGhIjKlMnOpQrStUvWx12345",  # Hugging Face-style
    ],
)
def test_error_description_scrubs_api_keys(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any, key: str
) -> None:
    """A compatible server that echoes the key in its error: the key never reaches the span."""
    instrument_openai()
    stub.enqueue(Reply(status=401, error_message=f"Incorrect API key provided: {key}."))
    with (
        openai.OpenAI(base_url=stub.url, api_key=key, max_retries=0) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    span = telemetry.span()
    assert "Incorrect API key provided: [REDACTED]" in (span.status.description or "")
    assert key not in repr(span.to_json())
    no_secrets(telemetry)


@pytest.mark.parametrize(
    "text",
    [
        "The model `Llama-3-70B-Instruct-Turbo` does not exist",
        "request req_0a1b2c3d4e5f60718293a4b5c6d7e8f9 failed",
        "trace 123e4567-e89b-12d3-a456-426614174000",
        "max_tokens is too large: 9000. This model supports at most 4096 completion tokens",
    ],
)
def test_error_description_keeps_what_is_no_secret(text: str) -> None:
    from otel_llm._core.span import scrub

    assert scrub(text) == text


def test_tool_calls_and_cache_tokens(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai(capture_content=True)
    stub.enqueue(
        Reply(
            text="",
            tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),),
            prompt_tokens=2000,
            cached_tokens=1536,
            completion_tokens=30,
            reasoning_tokens=10,
        )
    )
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=tools)
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_calls"]
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 2000
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1536
    assert attrs[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 10
    # cached input is priced at the cache-read rate ($0.075 / MTok for gpt-4o-mini)
    assert attrs[semconv.OTEL_LLM_COST_USD] == pytest.approx((464 * 0.15 + 1536 * 0.075 + 30 * 0.6) / 1e6)
    assert json.loads(attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}
            ],
            "finish_reason": "tool_calls",
        }
    ]


def test_tool_result_messages_are_captured(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai(capture_content=True)
    messages = [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert json.loads(attributes_of(telemetry.span())[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": "{}"}],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}]},
    ]


def test_with_raw_response_returns_raw_object_and_one_span(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        assert type(raw).__name__ == "LegacyAPIResponse"
        assert raw.headers["x-request-id"] == "req_stub"
        assert raw.parse().choices[0].message.content == "Hello from the stub."
    assert attributes_of(telemetry.span()) == success(stub)


def test_parse_structured_output(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        text: str

    instrument_openai()
    stub.enqueue(Reply(text='{"text": "hi"}'))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        parsed = client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Answer)
    assert parsed.choices[0].message.parsed == Answer(text="hi")
    assert attributes_of(telemetry.span()) == success(stub, **{semconv.GEN_AI_OUTPUT_TYPE: "json"})


async def test_parse_async(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        await client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES)
    assert attributes_of(telemetry.span()) == success(stub)


def test_app_gets_identical_objects(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    def run() -> tuple[Any, list[Any]]:
        with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
            full = client.chat.completions.create(model="stub-tool", messages=MESSAGES).model_dump()
            chunks = [
                c.model_dump()
                for c in client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=MESSAGES,
                    stream=True,
                    stream_options={"include_usage": True},
                )
            ]
        return full, chunks

    plain = run()
    instrument_openai(capture_content=True)
    observed = run()
    assert observed == plain
    assert len(telemetry.spans()) == 2
    # the request the app built is sent unchanged (no stream_options injected, no extra headers)
    bodies = [r.body for r in stub.requests]
    assert bodies[:2] == bodies[2:]


def test_request_without_usage_is_not_modified(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert "stream_options" not in stub.requests[0].body


def test_content_off_by_default_and_on_by_env(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    attrs = attributes_of(telemetry.span())
    assert semconv.GEN_AI_INPUT_MESSAGES not in attrs and semconv.GEN_AI_OUTPUT_MESSAGES not in attrs
    inst.uninstrument()
    telemetry.clear()
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    attrs = attributes_of(telemetry.span())
    assert json.loads(attrs[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Say hello"}]},
    ]
    assert json.loads(attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Hello from the stub."}],
            "finish_reason": "stop",
        }
    ]


def test_redaction_hook_and_size_limit(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai(capture_content=True, redact=lambda s: s.replace("hello", "[x]"), max_content_length=12)
    stub.enqueue(Reply(text="a" * 50))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "say hello"}]
        )
    attrs = attributes_of(telemetry.span())
    assert json.loads(attrs[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "say [x]"}]}
    ]
    out = json.loads(attrs[semconv.GEN_AI_OUTPUT_MESSAGES])
    assert out[0]["parts"][0]["content"] == "a" * 12 + "...[truncated]"


def test_provider_from_base_url_host(telemetry: Telemetry, instrument_openai: Any) -> None:
    from otel_llm.openai import extract

    assert extract.provider_for_host("api.groq.com") == "groq"
    assert extract.provider_for_host("myres.openai.azure.com") == "azure.ai.openai"
    assert extract.provider_for_host("api.x.ai") == "x_ai"
    assert extract.provider_for_host("generativelanguage.googleapis.com") == "gcp.gemini"
    assert extract.provider_for_host("api.mistral.ai") == "mistral_ai"
    assert extract.provider_for_host("api.deepseek.com") == "deepseek"
    assert extract.provider_for_host("api.perplexity.ai") == "perplexity"
    assert extract.provider_for_host("localhost") == "openai"
    instrument_openai()
    client = openai.OpenAI(base_url="https://api.groq.com/openai/v1", api_key=API_KEY, max_retries=0)
    assert extract.endpoint(client.chat.completions) == ("groq", "api.groq.com", 443)
    client.close()


def test_stream_abandoned_ends_span_on_gc(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        next(stream)
        assert telemetry.spans() == []
        del stream  # (closing stream.response instead ends the span at once: test_openai_stream.py)
        gc.collect()
    span = telemetry.span()
    assert attributes_of(span)[semconv.GEN_AI_RESPONSE_ID] == "chatcmpl-stub"
    assert span.status.status_code is StatusCode.UNSET


def test_values_of_unexpected_types_are_stored_as_the_sdk_would(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    """Response fields our insert would otherwise trust: a server answering with other JSON types
    gets exactly what the SDK's own cleaning keeps, and the span still encodes to OTLP."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    odd = {
        "id": 123,
        "model": ["m-x", "m-y"],
        "system_fingerprint": 5,
        "service_tier": {"tier": "x"},
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": 7}],
        "usage": {"prompt_tokens": "12", "completion_tokens": {"n": 6}, "total_tokens": 18},
    }
    stub.enqueue(Reply(override=odd), Reply(override=odd))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        plain = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        instrument_openai()
        seen = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert seen.model_dump(warnings=False) == plain.model_dump(warnings=False)  # what it got uninstrumented
    span = telemetry.span()
    attrs = dict(span.attributes or {})
    assert attrs == {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: port_of(stub),
        semconv.GEN_AI_RESPONSE_ID: 123,  # an int is a valid attribute value: kept, as the SDK does
        semconv.GEN_AI_RESPONSE_MODEL: ("m-x", "m-y"),  # a list of str: stored as a tuple
        semconv.GEN_AI_USAGE_INPUT_TOKENS: "12",  # a str too
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: {"n": 6},  # the pinned SDK keeps a mapping (an AnyValue map)
    }
    assert [type(attrs[k]) for k in (semconv.GEN_AI_RESPONSE_ID, semconv.GEN_AI_USAGE_INPUT_TOKENS)] == [
        int,
        str,
    ]
    assert encode_spans([span]).resource_spans  # the exporter can encode it


def test_override_of_the_requested_model_prices_a_dated_answer(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    """OpenAI answers ``gpt-4o`` with ``gpt-4o-2024-08-06``: an override set for the requested name
    prices the call, not the catalogue's price of the dated name."""
    from otel_llm._core.cost import Price, PriceBook

    book = PriceBook()
    book.set_price("gpt-4o", Price(2.0, 8.0, source="override:code"))
    stub.enqueue(Reply(model="gpt-4o-2024-08-06", prompt_tokens=1_000_000, completion_tokens=1_000_000))
    instrument_openai(price_book=book)
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert attrs[semconv.OTEL_LLM_COST_USD] == 10.0
    assert attrs[semconv.OTEL_LLM_COST_SOURCE] == "override:code"
