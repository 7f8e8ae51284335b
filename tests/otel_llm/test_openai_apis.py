"""Responses API and embeddings (sync and async, success and error), and instrumentor lifecycle."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
import wrapt
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm import semconv
from otel_llm.openai import TARGETS, OpenAIInstrumentor
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_openai import Reply, StubOpenAI, ToolCall

API_KEY = "sk-test-0000"


def port_of(stub: StubOpenAI) -> int:
    return int(stub.url.rsplit(":", 1)[1].split("/")[0])


def responses_expected(stub: StubOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: port_of(stub),
        semconv.GEN_AI_RESPONSE_ID: "resp_stub",
        semconv.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        semconv.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 6,
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 0,
        semconv.OTEL_LLM_COST_USD: pytest.approx((12 * 0.15 + 6 * 0.6) / 1e6),
        semconv.OTEL_LLM_COST_SOURCE: "genai-prices 0.2.3",
        **extra,
    }


def test_responses_create_sync(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        out = client.responses.create(model="gpt-4o-mini", input="hi", max_output_tokens=50, temperature=0.2)
    assert out.output_text == "Hello from the stub."
    span = telemetry.span()
    assert span.name == "chat gpt-4o-mini" and span.kind is SpanKind.CLIENT
    assert attributes_of(span) == responses_expected(
        stub, **{semconv.GEN_AI_REQUEST_MAX_TOKENS: 50, semconv.GEN_AI_REQUEST_TEMPERATURE: 0.2}
    )


@pytest.mark.parametrize("conversation", ["conv_68d2", {"id": "conv_68d2"}], ids=["id", "object"])
def test_responses_conversation_id(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any, conversation: Any
) -> None:
    from otel_llm.context import llm_context

    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.responses.create(model="gpt-4o-mini", input="hi", conversation=conversation)
        with llm_context(conversation_id="app-thread-7"):  # the app's own scope wins
            client.responses.create(model="gpt-4o-mini", input="hi", conversation=conversation)
    assert stub.requests[0].body["conversation"] == conversation
    first, second = telemetry.spans()
    assert attributes_of(first) == responses_expected(stub, **{semconv.GEN_AI_CONVERSATION_ID: "conv_68d2"})
    assert attributes_of(second)[semconv.GEN_AI_CONVERSATION_ID] == "app-thread-7"


async def test_responses_create_async(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        await client.responses.create(model="gpt-4o-mini", input="hi")
    assert attributes_of(telemetry.span()) == responses_expected(stub)


def test_responses_tool_call_and_content(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai(capture_content=True)
    stub.enqueue(Reply(text="", tool_calls=(ToolCall("call_9", "lookup", '{"q":1}'),)))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.responses.create(model="gpt-4o-mini", input="find it", instructions="Be exact.")
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_calls"]
    # ``instructions`` is no chat history: it goes to gen_ai.system_instructions.
    assert json.loads(attrs[semconv.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "find it"}]},
    ]
    assert json.loads(attrs[semconv.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be exact."}]
    assert json.loads(attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_9", "name": "lookup", "arguments": '{"q":1}'}],
            "finish_reason": "tool_calls",
        }
    ]


def test_responses_parse(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        text: str

    instrument_openai()
    stub.enqueue(Reply(text='{"text": "ok"}'))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        parsed = client.responses.parse(model="gpt-4o-mini", input="hi", text_format=Answer)
    assert parsed.output_parsed == Answer(text="ok")
    assert attributes_of(telemetry.span()) == responses_expected(stub, **{semconv.GEN_AI_OUTPUT_TYPE: "json"})


async def test_responses_error_async(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        with pytest.raises(openai.InternalServerError):
            await client.responses.create(model="stub-error-500", input="hi")
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert attributes_of(span)[semconv.ERROR_TYPE] == "openai.InternalServerError"


def _no_output(status: str, **fields: Any) -> Reply:
    """A Responses body with ``status`` and no output or usage (failed, queued, ...)."""
    return Reply(override={"status": status, "output": [], "usage": None, **fields})


@pytest.mark.parametrize(
    ("error", "error_type", "description"),
    [
        (
            {"code": "server_error", "message": "The model failed, key sk-proj-abcdEFGH12345678"},
            "server_error",
            "The model failed, key [REDACTED]",
        ),
        ({"code": None, "message": "Something broke"}, "response.failed", "Something broke"),
        (None, "response.failed", "response.failed"),
    ],
)
def test_responses_failed_status_is_an_error(
    stub: StubOpenAI,
    telemetry: Telemetry,
    instrument_openai: Any,
    error: dict[str, Any] | None,
    error_type: str,
    description: str,
) -> None:
    """``status: "failed"`` comes back as a Response, not raised: error.type is the error's code
    (``response.failed`` without one), no finish reason, as in a stream ending in response.failed."""
    instrument_openai()
    stub.enqueue(_no_output("failed", error=error))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        out = client.responses.create(model="gpt-4o-mini", input="hi")
    assert out.status == "failed"
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == description
    expected = responses_expected(stub, **{semconv.ERROR_TYPE: error_type})
    for key in (
        semconv.GEN_AI_RESPONSE_FINISH_REASONS,
        semconv.GEN_AI_USAGE_INPUT_TOKENS,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
        semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        semconv.OTEL_LLM_COST_USD,
        semconv.OTEL_LLM_COST_SOURCE,
    ):
        del expected[key]
    assert attributes_of(span) == expected
    duration = telemetry.points(semconv.METRIC_CLIENT_OPERATION_DURATION)
    assert [a.get(semconv.ERROR_TYPE) for a, _ in duration] == [error_type]


async def test_responses_failed_status_async(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    stub.enqueue(_no_output("failed", error={"code": "rate_limit_exceeded", "message": "Slow down"}))
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        await client.responses.create(model="gpt-4o-mini", input="hi")
    span = telemetry.span()
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "Slow down")
    attrs = attributes_of(span)
    assert attrs[semconv.ERROR_TYPE] == "rate_limit_exceeded"
    assert semconv.GEN_AI_RESPONSE_FINISH_REASONS not in attrs


@pytest.mark.parametrize(
    ("status", "reasons"), [("queued", None), ("in_progress", None), ("cancelled", ["cancelled"])]
)
def test_responses_background_statuses(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any, status: str, reasons: list[str] | None
) -> None:
    """``background=True`` answers ``queued`` (or ``in_progress``): nothing finished yet, so no
    finish reason; ``cancelled`` did end (cut short at the app's request): a reason, no error."""
    instrument_openai()
    stub.enqueue(_no_output(status))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        out = client.responses.create(model="gpt-4o-mini", input="hi", background=True)
    assert out.status == status
    span = telemetry.span()
    assert span.status.status_code is StatusCode.UNSET
    attrs = attributes_of(span)
    assert semconv.ERROR_TYPE not in attrs
    assert attrs.get(semconv.GEN_AI_RESPONSE_FINISH_REASONS) == reasons


_MESSAGE = {
    "type": "message",
    "id": "msg_1",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Working on it.", "annotations": []}],
}


def test_responses_custom_tool_call(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai(capture_content=True)
    item = {
        "type": "custom_tool_call",
        "id": "ctc_1",
        "call_id": "call_c",
        "name": "run",
        "input": "print(1)",
    }
    stub.enqueue(Reply(override={"output": [item]}))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.responses.create(model="gpt-4o-mini", input="hi", tools=[{"type": "custom", "name": "run"}])
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_calls"]
    assert json.loads(attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_c", "name": "run", "arguments": "print(1)"}],
            "finish_reason": "tool_calls",
        }
    ]


async def test_responses_client_side_tool_calls_async(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    """Computer, local shell, shell, apply_patch and client tool-search calls wait on the app: tool
    calls. Server-run items (a web search, a shell call answered in the same output, a
    server tool search) are not."""
    instrument_openai(capture_content=True)
    computer = {
        "type": "computer_call",
        "id": "cu_1",
        "call_id": "call_cu",
        "action": {"type": "click", "button": "left", "x": 1, "y": 2},
        "pending_safety_checks": [],
        "status": "completed",
    }
    local_shell = {
        "type": "local_shell_call",
        "id": "ls_1",
        "call_id": "call_ls",
        "action": {"type": "exec", "command": ["ls"], "env": {}},
        "status": "completed",
    }
    shell = {
        "type": "shell_call",
        "id": "sh_1",
        "call_id": "call_sh",
        "action": {"commands": ["pwd"]},
        "status": "completed",
    }
    hosted_shell = dict(shell, id="sh_2", call_id="call_hosted")
    hosted_output = {
        "type": "shell_call_output",
        "id": "sho_2",
        "call_id": "call_hosted",
        "output": [],
        "status": "completed",
    }
    patch = {
        "type": "apply_patch_call",
        "id": "ap_1",
        "call_id": "call_ap",
        "operation": {"type": "delete_file", "path": "a.txt"},
        "status": "completed",
    }
    search = {
        "type": "web_search_call",
        "id": "ws_1",
        "status": "completed",
        "action": {"type": "search", "query": "q"},
    }
    tool_search = {
        "type": "tool_search_call",
        "id": "ts_1",
        "call_id": "call_ts",
        "arguments": {"query": "weather"},
        "execution": "client",
        "status": "completed",
    }
    server_search = dict(tool_search, id="ts_2", call_id="call_ts2", execution="server")
    output = [
        search,
        server_search,
        hosted_shell,
        hosted_output,
        _MESSAGE,
        computer,
        local_shell,
        shell,
        patch,
    ]
    stub.enqueue(Reply(override={"output": [*output, tool_search]}))
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        await client.responses.create(model="gpt-4o-mini", input="hi")
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["tool_calls"]
    assert json.loads(attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Working on it."},
                {
                    "type": "tool_call",
                    "id": "call_cu",
                    "name": "computer",
                    "arguments": {"type": "click", "button": "left", "x": 1, "y": 2},
                },
                {
                    "type": "tool_call",
                    "id": "call_ls",
                    "name": "local_shell",
                    "arguments": {"type": "exec", "command": ["ls"], "env": {}},
                },
                {"type": "tool_call", "id": "call_sh", "name": "shell", "arguments": {"commands": ["pwd"]}},
                {
                    "type": "tool_call",
                    "id": "call_ap",
                    "name": "apply_patch",
                    "arguments": {"type": "delete_file", "path": "a.txt"},
                },
                {
                    "type": "tool_call",
                    "id": "call_ts",
                    "name": "tool_search",
                    "arguments": {"query": "weather"},
                },
            ],
            "finish_reason": "tool_calls",
        }
    ]
    # Only server-run items and a message: the turn is over.
    telemetry.clear()
    stub.enqueue(Reply(override={"output": [search, server_search, hosted_shell, hosted_output, _MESSAGE]}))
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        await client.responses.create(model="gpt-4o-mini", input="hi")
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert json.loads(attrs[semconv.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Working on it."}],
            "finish_reason": "stop",
        }
    ]


def embeddings_expected(stub: StubOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        semconv.GEN_AI_OPERATION_NAME: "embeddings",
        semconv.GEN_AI_PROVIDER_NAME: "openai",
        semconv.GEN_AI_REQUEST_MODEL: "text-embedding-3-small",
        semconv.SERVER_ADDRESS: "127.0.0.1",
        semconv.SERVER_PORT: port_of(stub),
        semconv.GEN_AI_RESPONSE_MODEL: "text-embedding-3-small",
        semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: 8,
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 12,
        semconv.OTEL_LLM_COST_USD: pytest.approx(12 * 0.02 / 1e6),
        semconv.OTEL_LLM_COST_SOURCE: "genai-prices 0.2.3",
        **extra,
    }


def test_embeddings_sync(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    instrument_openai()
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        out = client.embeddings.create(
            model="text-embedding-3-small", input=["a", "b"], encoding_format="float"
        )
    assert len(out.data) == 2
    span = telemetry.span()
    assert span.name == "embeddings text-embedding-3-small"
    assert attributes_of(span) == embeddings_expected(
        stub, **{semconv.GEN_AI_REQUEST_ENCODING_FORMATS: ["float"]}
    )
    tokens = telemetry.points(semconv.METRIC_CLIENT_TOKEN_USAGE)
    assert [(a[semconv.GEN_AI_TOKEN_TYPE], p.sum) for a, p in tokens] == [("input", 12)]


@pytest.mark.parametrize("dimensions", [7, 8, 9, 1536])
def test_embeddings_base64_dimension_count(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any, dimensions: int
) -> None:
    """``encoding_format="base64"``: the SDK hands the app base64 strings; the dimension count is
    their decoded length over 4 (float32), padding (``=``/``==``/none) included."""
    instrument_openai()
    stub.enqueue(Reply(dimensions=dimensions))
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        out = client.embeddings.create(model="text-embedding-3-small", input="a", encoding_format="base64")
    assert isinstance(out.data[0].embedding, str)
    assert attributes_of(telemetry.span()) == embeddings_expected(
        stub,
        **{
            semconv.GEN_AI_REQUEST_ENCODING_FORMATS: ["base64"],
            semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: dimensions,
        },
    )


async def test_embeddings_async_and_error(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    async with openai.AsyncOpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        await client.embeddings.create(model="text-embedding-3-small", input="a")
        with pytest.raises(openai.RateLimitError):
            await client.embeddings.create(model="stub-error-429", input="a")
    ok, failed = telemetry.spans()
    assert attributes_of(ok) == embeddings_expected(stub)
    assert attributes_of(failed)[semconv.ERROR_TYPE] == "openai.RateLimitError"


# -- provider ---------------------------------------------------------------------------------------
def test_azure_client_class_names_the_provider(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    """An ``AzureOpenAI`` client is Azure OpenAI whatever its host (here the stub's)."""
    from otel_llm.openai import extract

    instrument_openai()
    with openai.AzureOpenAI(
        base_url=stub.url, api_key=API_KEY, api_version="2024-10-21", max_retries=0
    ) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"
    assert (attrs[semconv.SERVER_ADDRESS], attrs[semconv.SERVER_PORT]) == ("127.0.0.1", port_of(stub))
    assert stub.requests[-1].path == "/v1/deployments/gpt-4o-mini/chat/completions"
    # Same URL through a plain OpenAI client: openai.
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as plain:
        assert extract.endpoint(plain.chat.completions)[0] == "openai"
    azure = openai.AzureOpenAI(
        azure_endpoint="https://myres.cognitiveservices.azure.com", api_key=API_KEY, api_version="2024-10-21"
    )
    assert extract.endpoint(azure.chat.completions) == (
        "azure.ai.openai",
        "myres.cognitiveservices.azure.com",
        443,
    )
    azure.close()
    assert extract.provider_for_host("myres.cognitiveservices.azure.com") == "azure.ai.openai"


async def test_async_azure_client_class_names_the_provider(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    async with openai.AsyncAzureOpenAI(
        base_url=stub.url, api_key=API_KEY, api_version="2024-10-21", max_retries=0
    ) as client:
        await client.responses.create(model="gpt-4o-mini", input="hi")
    assert attributes_of(telemetry.span())[semconv.GEN_AI_PROVIDER_NAME] == "azure.ai.openai"


# -- lifecycle ------------------------------------------------------------------------------------
def _wrapped_targets() -> list[str]:
    found = []
    for target in TARGETS:
        owner, attr = target.owner()
        if isinstance(
            owner.__dict__[attr],
            wrapt.ObjectProxy if not hasattr(wrapt, "BaseObjectProxy") else wrapt.BaseObjectProxy,
        ):
            found.append(target.key)
    return found


def test_uninstrument_removes_every_wrapper_and_reinstrument_works(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    inst = instrument_openai()
    assert len(_wrapped_targets()) == len(TARGETS) == 12
    inst.uninstrument()
    assert _wrapped_targets() == []
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        assert telemetry.spans() == []
        instrument_openai()
        assert len(_wrapped_targets()) == 12
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert len(telemetry.spans()) == 1


def test_uninstrument_also_disables_the_wrappers_the_sdk_keeps_bound(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    """``with_raw_response`` / ``with_streaming_response`` bind ``create`` once, on first read:
    after uninstrument() those bound copies of our wrapper pass straight through."""
    inst = instrument_openai()
    messages = [{"role": "user", "content": "x"}]
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response
        streaming = client.chat.completions.with_streaming_response
        raw.create(model="gpt-4o-mini", messages=messages).parse()
        assert len(telemetry.spans()) == 1
        inst.uninstrument()
        assert client.chat.completions.with_raw_response is raw  # the SDK's cached helper
        parsed = raw.create(model="gpt-4o-mini", messages=messages).parse()
        with streaming.create(model="gpt-4o-mini", messages=messages) as response:
            response.parse()
        assert parsed.choices[0].message.content == "Hello from the stub."
    assert len(telemetry.spans()) == 1


def test_uninstrument_removes_our_wrapper_under_a_later_one(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    """A wrapt wrapper installed after ours stays; ours is cut out of the chain beneath it."""
    import wrapt
    from openai.resources.chat.completions import completions

    original = vars(completions.Completions)["create"]
    inst = instrument_openai()
    ours = vars(completions.Completions)["create"]
    seen: list[str] = []

    def peer(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        seen.append("peer")
        return wrapped(*args, **kwargs)

    wrapt.wrap_function_wrapper(completions, "Completions.create", peer)
    theirs = vars(completions.Completions)["create"]
    try:
        assert theirs.__wrapped__ is ours
        inst.uninstrument()
        assert vars(completions.Completions)["create"] is theirs
        assert theirs.__wrapped__ is original
        with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        assert seen == ["peer"] and telemetry.spans() == []
    finally:
        completions.Completions.create = original  # type: ignore[method-assign]


def test_suppressed_instrumentation_makes_no_span(
    stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any
) -> None:
    instrument_openai()
    with (
        openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client,
        suppress_instrumentation(),
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert telemetry.spans() == []


def test_attach_failure_is_logged_once_and_counted(
    telemetry: Telemetry, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_llm._core import instrumentor
    from otel_llm._core.instrumentor import WrapTarget
    from otel_llm._core.settings import resolve_settings

    monkeypatch.setattr(instrumentor, "_logged_failures", set())
    settings = resolve_settings("t", "0", {"meter_provider": telemetry.meter_provider})
    bad = WrapTarget("openai.resources.embeddings", "Embeddings.no_such_method", lambda s: lambda *a: None)
    for _ in range(2):
        assert instrumentor.attach([bad], settings) == []
    assert caplog.text.count("cannot instrument openai.resources.embeddings:Embeddings.no_such_method") == 1
    points = telemetry.points(semconv.METRIC_INSTRUMENTATION_ATTACH_FAILURES)
    assert [(a, p.value) for a, p in points] == [
        (
            {
                semconv.OTEL_LLM_INSTRUMENTATION_TARGET: "openai.resources.embeddings:Embeddings.no_such_method"
            },
            2,
        )
    ]


def test_instrumentation_dependencies_and_entry_point() -> None:
    from importlib.metadata import entry_points

    assert tuple(OpenAIInstrumentor().instrumentation_dependencies()) == ("openai >= 1.0",)
    names = {ep.name: ep.value for ep in entry_points(group="opentelemetry_instrumentor")}
    assert names["otel_llm_openai"] == "otel_llm.openai:OpenAIInstrumentor"


def test_llm_context_ids_on_spans(stub: StubOpenAI, telemetry: Telemetry, instrument_openai: Any) -> None:
    from otel_llm.context import llm_context

    instrument_openai()
    with (
        openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client,
        llm_context(user_id="u1", session_id="s1", conversation_id="c1", tenant_id="t1"),
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    attrs = attributes_of(telemetry.span())
    assert attrs[semconv.USER_ID] == "u1"
    assert attrs[semconv.SESSION_ID] == "s1"
    assert attrs[semconv.GEN_AI_CONVERSATION_ID] == "c1"
    assert attrs[semconv.OTEL_LLM_TENANT_ID] == "t1"


def test_a_span_processor_that_raises_never_reaches_the_app(stub: StubOpenAI, instrument_openai: Any) -> None:
    """A broken on_end: streams still end normally and a failing call raises the SDK's own error."""
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    from otel_llm import manual

    ended: list[str] = []

    class Raising(SpanProcessor):
        def on_end(self, span: Any) -> None:
            ended.append(span.name)
            raise RuntimeError("processor bug")

    provider = TracerProvider()
    provider.add_span_processor(Raising())
    instrument_openai(tracer_provider=provider)
    messages = [{"role": "user", "content": "x"}]
    stub.enqueue(Reply(), Reply(status=429, error_message="slow down"), Reply())
    with openai.OpenAI(base_url=stub.url, api_key=API_KEY, max_retries=0) as client:
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True))
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert chunks and chunks[-1].choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content == "Hello from the stub."
    manual.configure(tracer_provider=provider)
    try:
        with manual.retrieval(query="q") as step:
            step.record(["d1"])
    finally:
        manual._settings = None
    assert ended == ["chat gpt-4o-mini"] * 3 + ["retrieval"]


def test_base64_dimension_count_ignores_whitespace() -> None:
    import base64
    import struct

    from otel_llm.openai.extract import _base64_floats

    raw = struct.pack("<20f", *range(20))
    compact = base64.b64encode(raw).decode()
    assert _base64_floats(compact) == 20
    assert _base64_floats(base64.encodebytes(raw).decode()) == 20  # wrapped at 76 columns
    assert _base64_floats(" ".join(compact[i : i + 5] for i in range(0, len(compact), 5))) == 20
