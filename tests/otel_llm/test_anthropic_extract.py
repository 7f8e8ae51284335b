"""extract.py: pure functions from Anthropic requests/responses to attributes and content."""

from __future__ import annotations

import httpx2
from anthropic.types import Message, MessageDeltaUsage, Usage

from otel_llm._core import Usage as CoreUsage
from otel_llm.anthropic import extract

MODEL = "claude-haiku-4-5"


def _message(**overrides: object) -> Message:
    data: dict[str, object] = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
        },
    }
    data.update(overrides)
    return Message.model_validate(data)


def test_request_attributes_all_parameters() -> None:
    attrs = extract.request_attributes(
        {
            "model": MODEL,
            "max_tokens": 256,
            "temperature": 1,
            "top_p": 0.5,
            "top_k": 40,
            "stop_sequences": ["\n\nHuman:", "END"],
            "messages": [],
        },
        stream=False,
    )
    assert attrs == {  # the operation and provider are start_call's
        "gen_ai.request.model": MODEL,
        "gen_ai.request.max_tokens": 256,
        "gen_ai.request.temperature": 1.0,
        "gen_ai.request.top_p": 0.5,
        "gen_ai.request.top_k": 40,
        "gen_ai.request.stop_sequences": ("\n\nHuman:", "END"),
    }
    assert type(attrs["gen_ai.request.temperature"]) is float


def test_request_attributes_minimal_and_bad_types_are_left_out() -> None:
    attrs = extract.request_attributes(
        {"model": 3, "max_tokens": True, "temperature": "hot", "top_k": 1.5, "stop_sequences": ["a", 1]},
        stream=True,
    )
    assert attrs == {"gen_ai.request.stream": True}


def test_request_parameters_from_extra_body() -> None:
    # The SDK merges extra_body into the JSON body last: its values are the ones sent.
    attrs = extract.request_attributes(
        {"model": MODEL, "temperature": 0.5, "extra_body": {"temperature": 1.0, "top_k": 3}}, stream=False
    )
    assert attrs["gen_ai.request.temperature"] == 1.0
    assert attrs["gen_ai.request.top_k"] == 3
    assert (
        extract.request_model({"model": MODEL, "extra_body": {"model": "claude-opus-4-1"}})
        == "claude-opus-4-1"
    )


def test_request_attributes_json_output() -> None:
    attrs = extract.request_attributes(
        {"model": MODEL, "output_config": {"format": {"type": "json_schema", "schema": {}}}}, stream=False
    )
    assert attrs["gen_ai.output.type"] == "json"


def test_server_attributes_from_base_url() -> None:
    assert extract.server_attributes(httpx2.URL("http://127.0.0.1:8123/")) == {
        "server.address": "127.0.0.1",
        "server.port": 8123,
    }
    assert extract.server_attributes(httpx2.URL("https://api.anthropic.com")) == {
        "server.address": "api.anthropic.com",
        "server.port": 443,
    }
    assert extract.server_attributes(httpx2.URL("http://proxy.local/anthropic/")) == {
        "server.address": "proxy.local",
        "server.port": 80,
    }
    assert extract.server_attributes(None) == {}


def test_usage_input_includes_cache_tokens() -> None:
    usage = extract.usage_of(
        Usage(input_tokens=10, output_tokens=5, cache_read_input_tokens=100, cache_creation_input_tokens=20)
    )
    assert usage == CoreUsage(
        input_tokens=130, output_tokens=5, cache_read_tokens=100, cache_creation_tokens=20
    )


def test_usage_without_cache_and_delta_usage() -> None:
    assert extract.usage_of(Usage(input_tokens=7, output_tokens=2)) == CoreUsage(7, 2)
    # A message_delta usage may carry output tokens only.
    assert extract.usage_of(MessageDeltaUsage(output_tokens=9)) == CoreUsage(None, 9)
    assert extract.usage_of(None) is None
    assert extract.usage_of(
        {"input_tokens": 1, "output_tokens": 1, "cache_read_input_tokens": 3}
    ) == CoreUsage(4, 1, cache_read_tokens=3)


def test_response_fields() -> None:
    assert extract.response_fields(_message()) == {
        "response_id": "msg_01",
        "response_model": "claude-haiku-4-5-20251001",
        "finish_reasons": ["tool_use"],
    }
    # stop_reason is null before message_delta: no finish reasons rather than a wrong one.
    assert extract.response_fields(_message(stop_reason=None))["finish_reasons"] is None
    assert extract.response_fields({}) == {
        "response_id": None,
        "response_model": None,
        "finish_reasons": None,
    }


def test_input_messages_with_tool_use_and_results() -> None:
    kwargs = {
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                    },
                ],
            },
        ]
    }
    assert extract.input_messages(kwargs) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "toolu_1", "name": "weather", "arguments": {"city": "Paris"}}
            ],
        },
        {
            "role": "user",
            "parts": [
                {"type": "tool_call_response", "id": "toolu_1", "response": "18C"},
                {"type": "image"},
            ],
        },
    ]
    assert extract.input_messages({}) == []


def test_system_and_tool_definitions() -> None:
    kwargs = {
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "tools": [
            {"name": "weather", "description": "Get weather", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
    }
    assert extract.system_instructions(kwargs) == [{"type": "text", "content": "Be brief."}]
    assert extract.system_instructions({"system": "Plain."}) == [{"type": "text", "content": "Plain."}]
    assert extract.system_instructions({}) == []
    assert extract.tool_definitions(kwargs) == [
        {
            "type": "function",
            "name": "weather",
            "description": "Get weather",
            "parameters": {"type": "object"},
        },
        {"type": "web_search_20250305", "name": "web_search"},
    ]


def test_output_messages() -> None:
    assert extract.output_messages(_message()) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Let me check."},
                {"type": "tool_call", "id": "toolu_1", "name": "weather", "arguments": {"city": "Paris"}},
            ],
            "finish_reason": "tool_use",
        }
    ]
    assert extract.output_messages(None) == []


def test_content_is_read_as_sent_with_extra_body() -> None:
    kwargs = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "kwargs text"}],
        "system": "kwargs system",
        "tools": [{"name": "kw_tool", "input_schema": {"type": "object"}}],
        "extra_body": {
            "messages": [{"role": "user", "content": "sent text"}],
            "system": "sent system",
            "tools": [{"name": "sent_tool", "input_schema": {"type": "object"}}],
        },
    }
    assert extract.input_messages(kwargs)[0]["parts"][0]["content"] == "sent text"
    assert extract.system_instructions(kwargs)[0]["content"] == "sent system"
    assert extract.tool_definitions(kwargs)[0]["name"] == "sent_tool"
