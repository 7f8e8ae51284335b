"""LlmCall.from_span: each dialect's names and values, precedence, skipping, normalisation."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otel_llm import semconv as sc
from otel_llm_processor.model.llm_call import LlmCall, calls_from_request, parse_span
from otel_llm_processor.model.otlp_json import load_otlp_json

OTLP_DIR = Path(__file__).resolve().parent.parent / "testdata" / "otlp"
TRACE = bytes(range(16))
SPAN = bytes(range(8))


def make_span(attrs: dict[str, Any], name: str = "span", error: bool = False) -> Span:
    span = Span(
        trace_id=TRACE,
        span_id=SPAN,
        parent_span_id=b"\x09" * 8,
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_000_000_000,
        end_time_unix_nano=3_500_000_000,
    )
    if error:
        span.status.code = Status.STATUS_CODE_ERROR
    for key, value in attrs.items():
        kv = span.attributes.add(key=key)
        if isinstance(value, bool):
            kv.value.bool_value = value
        elif isinstance(value, int):
            kv.value.int_value = value
        elif isinstance(value, float):
            kv.value.double_value = value
        elif isinstance(value, (list, tuple)):
            for item in value:
                kv.value.array_value.values.add(string_value=item)
        else:
            kv.value.string_value = value
    return span


def resource(service: str | None) -> Resource:
    res = Resource()
    if service is not None:
        res.attributes.add(key=sc.SERVICE_NAME).value.string_value = service
    return res


def call_of(attrs: dict[str, Any], **kw: Any) -> LlmCall | None:
    return LlmCall.from_span(make_span(attrs, **kw), resource("svc"))


def test_current_semconv_and_our_own_attributes_map_every_field() -> None:
    call = call_of(
        {
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.GEN_AI_PROVIDER_NAME: "anthropic",
            sc.GEN_AI_REQUEST_MODEL: "claude-sonnet-4",
            sc.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-20250514",
            sc.GEN_AI_RESPONSE_ID: "msg_1",
            sc.GEN_AI_USAGE_INPUT_TOKENS: 1200,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: 300,
            sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1000,
            sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 100,
            sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 50,
            sc.OTEL_LLM_COST_USD: 0.0123,
            sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.25,
            sc.GEN_AI_REQUEST_STREAM: True,
            sc.GEN_AI_RESPONSE_FINISH_REASONS: ["end_turn"],
            sc.USER_ID: "u-1",
            sc.SESSION_ID: "s-1",
            sc.GEN_AI_CONVERSATION_ID: "c-1",
            sc.OTEL_LLM_TENANT_ID: "t-1",
            sc.SERVER_ADDRESS: "api.anthropic.com",
        }
    )
    assert call == LlmCall(
        trace_id=TRACE,
        span_id=SPAN,
        parent_span_id=b"\x09" * 8,
        start_ns=1_000_000_000,
        end_ns=3_500_000_000,
        service="svc",
        provider="anthropic",
        operation="chat",
        request_model="claude-sonnet-4",
        response_model="claude-sonnet-4-20250514",
        error_type="",
        input_tokens=1200,
        output_tokens=300,
        cache_read_tokens=1000,
        cache_creation_tokens=100,
        reasoning_tokens=50,
        cost_usd=0.0123,
        ttft_s=0.25,
        streaming=True,
        user_id="u-1",
        session_id="s-1",
        conversation_id="c-1",
        tenant_id="t-1",
        finish_reasons=("end_turn",),
        dialect="otel",
        response_id="msg_1",
    )
    assert call is not None and call.model == "claude-sonnet-4-20250514" and call.duration_s == 2.5


@pytest.mark.parametrize(
    ("raw", "provider"),
    [
        ("vertex_ai", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("az.ai.inference", "azure.ai.inference"),
        ("az.ai.openai", "azure.ai.openai"),
        ("xai", "x_ai"),
        ("OpenAI", "openai"),
        ("Anthropic", "anthropic"),
        ("together_ai", "together_ai"),
    ],
)
def test_legacy_gen_ai_system_values_are_renamed(raw: str, provider: str) -> None:
    call = call_of(
        {
            sc.GEN_AI_SYSTEM: raw,
            sc.GEN_AI_REQUEST_MODEL: "m",
            sc.GEN_AI_USAGE_PROMPT_TOKENS: 7,
            sc.GEN_AI_USAGE_COMPLETION_TOKENS: 3,
        },
        name="chat m",
    )
    assert call is not None
    assert (call.provider, call.dialect, call.operation) == (provider, "otel_legacy", "chat")
    assert (call.input_tokens, call.output_tokens) == (7, 3)


@pytest.mark.parametrize(
    ("raw", "provider"),
    [("aws", "aws.bedrock"), ("google", "gcp.gen_ai"), ("mistralai", "mistral_ai"), ("xai", "x_ai")],
)
def test_openinference_providers_are_mapped(raw: str, provider: str) -> None:
    call = call_of(
        {
            sc.OPENINFERENCE_SPAN_KIND: "LLM",
            sc.OPENINFERENCE_LLM_PROVIDER: raw,
            sc.OPENINFERENCE_LLM_MODEL_NAME: "m",
        }
    )
    assert call is not None and (call.provider, call.dialect, call.operation) == (
        provider,
        "openinference",
        "chat",
    )


def test_openinference_provider_wins_over_system_and_session_user_are_read() -> None:
    call = call_of(
        {
            sc.OPENINFERENCE_SPAN_KIND: "LLM",
            sc.OPENINFERENCE_LLM_SYSTEM: "openai",
            sc.OPENINFERENCE_LLM_PROVIDER: "azure",
            sc.OPENINFERENCE_LLM_MODEL_NAME: "gpt-4o",
            sc.OPENINFERENCE_TOKEN_COUNT_PROMPT: 100,
            sc.OPENINFERENCE_TOKEN_COUNT_COMPLETION: 20,
            sc.OPENINFERENCE_TOKEN_COUNT_CACHE_WRITE: 30,
            sc.OPENINFERENCE_COST_TOTAL: 0.5,
            sc.SESSION_ID: "s",
            sc.USER_ID: "u",
        }
    )
    assert call is not None
    assert (call.provider, call.response_model, call.input_tokens, call.output_tokens) == (
        "azure.ai.openai",
        "gpt-4o",
        100,
        20,
    )
    assert (call.cache_creation_tokens, call.cost_usd, call.session_id, call.user_id) == (30, 0.5, "s", "u")


@pytest.mark.parametrize("kind", ["CHAIN", "TOOL", "AGENT", "RETRIEVER", "RERANKER", "UNKNOWN"])
def test_openinference_non_llm_kinds_are_skipped(kind: str) -> None:
    assert call_of({sc.OPENINFERENCE_SPAN_KIND: kind, sc.OPENINFERENCE_LLM_MODEL_NAME: "m"}) is None


@pytest.mark.parametrize(
    ("request_type", "operation"),
    [
        ("chat", "chat"),
        ("completion", "text_completion"),
        ("embedding", "embeddings"),
        ("rerank", "rerank"),
        ("unknown", "chat"),
    ],
)
def test_openllmetry_request_type_gives_the_operation(request_type: str, operation: str) -> None:
    call = call_of(
        {
            sc.TRACELOOP_REQUEST_TYPE: request_type,
            sc.GEN_AI_SYSTEM: "OpenAI",
            sc.GEN_AI_REQUEST_MODEL: "m",
            sc.GEN_AI_USAGE_PROMPT_TOKENS: 10,
            sc.TRACELOOP_USAGE_TOTAL_TOKENS: 14,
            sc.TRACELOOP_CACHE_READ_INPUT_TOKENS: 4,
            sc.TRACELOOP_CACHE_CREATION_INPUT_TOKENS: 2,
            sc.TRACELOOP_REASONING_TOKENS: 1,
            sc.TRACELOOP_IS_STREAMING: False,
            sc.TRACELOOP_ASSOCIATION_USER_ID: "tu",
            sc.TRACELOOP_ASSOCIATION_SESSION_ID: "ts",
        },
        name="openai.chat",
    )
    assert call is not None
    assert (call.operation, call.dialect, call.provider) == (operation, "openllmetry", "openai")
    # output derived from the total only for non-embedding calls; cache tokens are not added (inclusive)
    expected_output = None if operation == "embeddings" else 4
    assert (call.input_tokens, call.output_tokens, call.cache_read_tokens, call.cache_creation_tokens) == (
        10,
        expected_output,
        4,
        2,
    )
    assert (call.reasoning_tokens, call.streaming, call.user_id, call.session_id) == (1, False, "tu", "ts")


@pytest.mark.parametrize("kind", ["workflow", "task", "agent", "tool"])
def test_openllmetry_framework_spans_are_skipped(kind: str) -> None:
    assert (
        call_of({sc.TRACELOOP_SPAN_KIND: kind, sc.GEN_AI_SYSTEM: "openai", sc.GEN_AI_REQUEST_MODEL: "m"})
        is None
    )


def test_openlit_anthropic_input_tokens_are_made_inclusive_of_cache() -> None:
    attrs = {
        sc.OPENLIT_TELEMETRY_SDK_NAME: "openlit",
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "anthropic",
        sc.GEN_AI_REQUEST_MODEL: "claude",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 500,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 100,
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 50,
        sc.OPENLIT_USAGE_COST: 0.002,
        sc.OPENLIT_REQUEST_IS_STREAM: False,
        sc.OPENLIT_SERVER_TTFT: 1.5,
    }
    call = call_of(attrs)
    assert call is not None
    assert (call.dialect, call.input_tokens, call.cost_usd, call.streaming) == ("openlit", 650, 0.002, False)
    assert call.ttft_s is None  # OpenLIT's value is the whole latency for a non-streamed call
    streamed = call_of({**attrs, sc.OPENLIT_REQUEST_IS_STREAM: True})
    assert streamed is not None and streamed.ttft_s == 1.5
    openai = call_of({**attrs, sc.GEN_AI_PROVIDER_NAME: "openai"})
    assert openai is not None and openai.input_tokens == 500  # OpenAI counts are inclusive already


def test_input_smaller_than_cache_cannot_be_inclusive_and_gets_the_cache_added() -> None:
    call = call_of(
        {
            sc.GEN_AI_PROVIDER_NAME: "anthropic",
            sc.GEN_AI_REQUEST_MODEL: "claude",
            sc.GEN_AI_USAGE_INPUT_TOKENS: 3,
            sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 2000,
        }
    )
    assert call is not None and call.input_tokens == 2003


def test_newest_key_wins_and_duplicates_are_never_summed() -> None:
    call = call_of(
        {
            sc.GEN_AI_USAGE_PROMPT_TOKENS: 11,
            sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_SYSTEM: "anthropic",
            sc.GEN_AI_REQUEST_MODEL: "m",
            sc.GEN_AI_USAGE_INPUT_TOKENS: 10,
            sc.OPENINFERENCE_TOKEN_COUNT_PROMPT: 12,
            sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 3,
            sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 2,
            sc.OPENLIT_USAGE_COST: 9.0,
            sc.OTEL_LLM_COST_USD: 1.0,
        }
    )
    assert call is not None
    assert (call.provider, call.input_tokens, call.cache_creation_tokens, call.cost_usd) == (
        "openai",
        10,
        2,
        1.0,
    )
    assert call.dialect == "openlit"  # gen_ai.usage.cost is OpenLIT's


def test_cache_write_name_of_util_genai_is_read() -> None:
    call = call_of(
        {
            sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_REQUEST_MODEL: "m",
            sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 3,
        }
    )
    assert call is not None and call.cache_creation_tokens == 3


def test_values_of_unexpected_types_are_tolerated() -> None:
    span = make_span(
        {sc.GEN_AI_PROVIDER_NAME: "openai", sc.GEN_AI_REQUEST_MODEL: "m", sc.GEN_AI_REQUEST_STREAM: "true"}
    )
    span.attributes.add(key=sc.GEN_AI_USAGE_INPUT_TOKENS).value.string_value = "42"
    span.attributes.add(key=sc.GEN_AI_USAGE_OUTPUT_TOKENS).value.double_value = 7.0
    span.attributes.add(key=sc.OTEL_LLM_COST_USD).value.int_value = 2
    span.attributes.add(key=sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS).value.string_value = "n/a"
    span.attributes.add(key=sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS).value.int_value = 0
    call = LlmCall.from_span(span)
    assert call is not None
    assert (call.input_tokens, call.output_tokens, call.cost_usd, call.streaming) == (42, 7, 2.0, True)
    assert (call.reasoning_tokens, call.cache_read_tokens, call.service) == (None, 0, "unknown_service")


def test_error_type_from_attribute_or_status() -> None:
    base = {sc.GEN_AI_PROVIDER_NAME: "openai", sc.GEN_AI_REQUEST_MODEL: "m"}
    recorded = call_of({**base, sc.ERROR_TYPE: "RateLimitError"}, error=True)
    status_only = call_of(base, error=True)
    ok = call_of(base)
    assert recorded is not None and recorded.error_type == "RateLimitError" and recorded.is_error
    assert status_only is not None and status_only.error_type == "_OTHER"
    assert ok is not None and ok.error_type == "" and not ok.is_error


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"http.request.method": "GET", "url.full": "http://x/"},
        {sc.GEN_AI_OPERATION_NAME: "chat"},  # no provider, no model
        {
            sc.GEN_AI_OPERATION_NAME: "execute_tool",
            sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_REQUEST_MODEL: "m",
        },
        {
            sc.GEN_AI_OPERATION_NAME: "invoke_agent",
            sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_REQUEST_MODEL: "m",
        },
        {sc.GEN_AI_OPERATION_NAME: "retrieval", sc.GEN_AI_PROVIDER_NAME: "openai"},
    ],
)
def test_non_llm_spans_give_none(attrs: dict[str, Any]) -> None:
    assert call_of(attrs) is None


def test_operation_from_span_name_when_no_attribute_says() -> None:
    call = call_of({sc.GEN_AI_SYSTEM: "openai", sc.GEN_AI_REQUEST_MODEL: "e"}, name="embeddings e")
    assert call is not None and call.operation == "embeddings"


def test_service_name_from_resource_or_default() -> None:
    span = make_span({sc.GEN_AI_PROVIDER_NAME: "openai", sc.GEN_AI_REQUEST_MODEL: "m"})
    assert LlmCall.from_span(span, resource("checkout")).service == "checkout"  # type: ignore[union-attr]
    assert LlmCall.from_span(span, resource(None)).service == "unknown_service"  # type: ignore[union-attr]
    assert LlmCall.from_span(span, None).service == "unknown_service"  # type: ignore[union-attr]


def test_calls_from_request_walks_every_resource_and_scope_in_order() -> None:
    request = ExportTraceServiceRequest()
    for service in ("a", "b"):
        rs = request.resource_spans.add()
        rs.resource.CopyFrom(resource(service))
        for model in ("m1", "m2"):
            ss = rs.scope_spans.add()
            ss.spans.append(make_span({sc.GEN_AI_PROVIDER_NAME: "openai", sc.GEN_AI_REQUEST_MODEL: model}))
            ss.spans.append(make_span({"http.request.method": "GET"}))
    calls = calls_from_request(request)
    assert [(c.service, c.request_model) for c in calls] == [
        ("a", "m1"),
        ("a", "m2"),
        ("b", "m1"),
        ("b", "m2"),
    ]


def test_fast_construction_equals_the_dataclass_constructor() -> None:
    call = call_of(
        {sc.GEN_AI_PROVIDER_NAME: "openai", sc.GEN_AI_REQUEST_MODEL: "m", sc.GEN_AI_USAGE_INPUT_TOKENS: 1}
    )
    assert call is not None
    rebuilt = LlmCall(**{f.name: getattr(call, f.name) for f in dataclasses.fields(LlmCall)})
    assert rebuilt == call and hash(rebuilt) == hash(call)
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.provider = "x"  # type: ignore[misc]
    assert parse_span(make_span({}), "svc") is None


# --------------------------------------------------------------------------------------------
# Spans written by otel_llm's own tests (fixtures from the instrumentation half)
# --------------------------------------------------------------------------------------------
OWN_FIXTURES = sorted(OTLP_DIR.glob("otel_llm_*.json"))


@pytest.mark.parametrize("path", OWN_FIXTURES, ids=[p.name for p in OWN_FIXTURES])
def test_otel_llm_fixture_invariants(path: Path) -> None:
    request = load_otlp_json(path)
    calls = calls_from_request(request)
    assert calls, f"{path.name}: no LLM call read"
    for call in calls:
        assert call.dialect == "otel"
        assert call.provider and call.operation and call.model
        assert isinstance(call.service, str) and call.service
        for tokens in (
            call.input_tokens,
            call.output_tokens,
            call.cache_read_tokens,
            call.cache_creation_tokens,
        ):
            assert tokens is None or (isinstance(tokens, int) and tokens >= 0)
        if not call.is_error and call.operation != "embeddings":
            assert call.input_tokens is not None and call.output_tokens is not None
        assert call.cost_usd is None or (isinstance(call.cost_usd, float) and call.cost_usd >= 0)
        assert call.ttft_s is None or (isinstance(call.ttft_s, float) and 0 <= call.ttft_s <= call.duration_s)
        assert len(call.trace_id) == 16 and len(call.span_id) == 8


def test_otel_llm_text_completion_fixture_is_a_text_completion_call() -> None:
    (call,) = calls_from_request(load_otlp_json(OTLP_DIR / "otel_llm_openai_text_completion.json"))
    assert (call.operation, call.provider, call.model) == (
        "text_completion",
        "openai",
        "gpt-3.5-turbo-instruct",
    )
    assert (call.input_tokens, call.output_tokens, call.ttft_s) == (6, 5, 0.125)
    assert call.cost_usd == pytest.approx((6 * 1.5 + 5 * 2.0) / 1e6)
