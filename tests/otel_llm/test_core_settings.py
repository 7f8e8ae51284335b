"""Settings, content encoding (redaction, size limit) and token estimates."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from otel_llm._core import content, tokens
from otel_llm._core.settings import ContentMode, parse_content_mode, resolve_settings


@pytest.mark.parametrize(
    ("raw", "mode"),
    [
        (None, ContentMode.NO_CONTENT),
        ("", ContentMode.NO_CONTENT),
        ("SPAN_ONLY", ContentMode.SPAN_ONLY),
        ("span_and_event", ContentMode.SPAN_AND_EVENT),
        ("Event_Only", ContentMode.EVENT_ONLY),
        ("no_content", ContentMode.NO_CONTENT),
        ("true", ContentMode.SPAN_ONLY),
        ("False", ContentMode.NO_CONTENT),
        ("bogus", ContentMode.NO_CONTENT),
    ],
)
def test_content_mode_values(raw: str | None, mode: ContentMode) -> None:
    assert parse_content_mode(raw) is mode


def test_settings_from_env() -> None:
    env = {
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_AND_EVENT",
        "OTEL_LLM_CONTENT_MAX_LENGTH": "100",
    }
    s = resolve_settings("t", "0", {}, environ=env)
    assert s.capture_content is True
    assert s.max_content_length == 100
    assert s.instruments is None  # no MeterProvider configured: no metrics
    assert resolve_settings("t", "0", {}, environ={}).capture_content is False
    assert (
        resolve_settings(
            "t", "0", {}, environ={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY"}
        ).capture_content
        is False
    )
    assert resolve_settings("t", "0", {"capture_content": True}, environ={}).capture_content is True
    assert (
        resolve_settings("t", "0", {}, environ={"OTEL_LLM_CONTENT_MAX_LENGTH": "x"}).max_content_length
        == 8192
    )
    # a negative value is a mistake, not "no limit" (0), as the max_content_length option says
    assert (
        resolve_settings("t", "0", {}, environ={"OTEL_LLM_CONTENT_MAX_LENGTH": "-1"}).max_content_length
        == 8192
    )


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("span_only", ContentMode.SPAN_ONLY),
        ("SPAN_AND_EVENT", ContentMode.SPAN_AND_EVENT),
        (" Event_Only ", ContentMode.EVENT_ONLY),
        ("true", ContentMode.SPAN_ONLY),
        ("false", ContentMode.NO_CONTENT),
        (ContentMode.EVENT_ONLY, ContentMode.EVENT_ONLY),
        (False, ContentMode.NO_CONTENT),
    ],
)
def test_capture_content_option_values(value: object, mode: ContentMode) -> None:
    env = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_only"}
    assert resolve_settings("t", "0", {"capture_content": value}, environ=env).content_mode is mode


@pytest.mark.parametrize(
    ("kwargs", "warning"),
    [
        ({"capture_content": "everything"}, "capture_content='everything' is not a ContentMode"),
        ({"capture_content": 1}, "capture_content=1 is not a ContentMode"),
        ({"max_content_length": "4k"}, "max_content_length='4k' is not an int >= 0"),
        ({"max_content_length": -5}, "max_content_length=-5 is not an int >= 0"),
        ({"max_content_length": True}, "max_content_length=True is not an int >= 0"),
    ],
)
def test_bad_options_warn_and_fall_back_to_the_environment(
    kwargs: dict[str, object], warning: str, caplog: pytest.LogCaptureFixture
) -> None:
    env = {
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "event_only",
        "OTEL_LLM_CONTENT_MAX_LENGTH": "77",
    }
    with caplog.at_level("WARNING", logger="otel_llm._core.settings"):
        s = resolve_settings("t", "0", kwargs, environ=env)
    assert warning in caplog.text
    assert s.content_mode is ContentMode.EVENT_ONLY
    assert s.max_content_length == 77


def test_bad_option_never_raises_through_the_instrumentor(caplog: pytest.LogCaptureFixture) -> None:
    """``instrument(max_content_length="4k")`` instruments with the default and a warning."""
    import otel_llm
    from otel_llm.openai import OpenAIInstrumentor

    inst = OpenAIInstrumentor()
    try:
        with caplog.at_level("WARNING"):
            inst.instrument(max_content_length="4k")
        assert inst.is_instrumented_by_opentelemetry
        assert "max_content_length='4k'" in caplog.text
    finally:
        inst.uninstrument()
    try:
        assert "OpenAIInstrumentor" in otel_llm.instrument(max_content_length="4k")
    finally:
        otel_llm.uninstrument()


def test_tool_definitions_are_redacted_and_cut_except_types_and_names() -> None:
    settings = resolve_settings(
        "t",
        "0",
        {"redact": lambda s: s.replace("alice@example.com", "[email]"), "max_content_length": 32},
        environ={},
    )
    tools = [
        {
            "type": "function",
            "name": "lookup_alice@example.com",
            "description": "Find a customer, e.g. alice@example.com",
            "parameters": {
                "type": "object",
                "properties": {"email": {"type": "string", "enum": ["alice@example.com"], "maxLength": 80}},
            },
        }
    ]
    encoded = content.encode_tool_definitions(settings, tools)
    assert encoded is not None
    assert json.loads(encoded) == [
        {
            "type": "function",
            "name": "lookup_alice@example.com",  # names and types are kept as they are
            "description": "Find a customer, e.g. [email]",  # 29 characters of the 32
            "parameters": {
                "type": "object",
                # nothing is added after the cut
                "properties": {"email": {"type": "string", "enum": ["[em...[truncated]"]}},
            },
        }
    ]


def test_encode_redacts_every_string_and_truncates() -> None:
    s = resolve_settings("t", "0", {"redact": lambda t: t.upper(), "max_content_length": 10}, environ={})
    msgs = [
        content.message("user", [content.text_part("hello world")]),
        content.message("assistant", [content.tool_call_part("c1", "fn", '{"a":1}')], "tool_calls"),
    ]
    # Nothing is added after the one cut string: the attribute holds at most one marker.
    assert json.loads(content.encode(s, msgs) or "") == [
        {"role": "user", "parts": [{"type": "text", "content": "HELLO WORL...[truncated]"}]},
    ]
    # A budget spent exactly, with more to follow, says so with one marker part.
    exact = [content.message("user", [content.text_part("0123456789"), content.text_part("more")])]
    assert json.loads(content.encode(s, exact) or "") == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "0123456789"},
                {"type": "text", "content": "...[truncated]"},
            ],
        },
    ]


def test_content_limit_is_a_total_however_many_messages_and_keys() -> None:
    # Before: every string after the budget ran out became its own marker (2,000 messages gave
    # ~137k characters for a limit of 100), and dict keys of tool arguments skipped the hook.
    s = resolve_settings(
        "t",
        "0",
        {"redact": lambda t: t.replace("alice@example.com", "[email]"), "max_content_length": 100},
        environ={},
    )
    many = [content.message("user", [content.text_part(f"message number {i}")]) for i in range(2000)]
    encoded = content.encode(s, many) or ""
    assert len(encoded) < 600 and encoded.count("...[truncated]") == 1
    args = {"alice@example.com": "x", **{f"k{i}" * 20: "v" * 50 for i in range(100)}}
    call = [content.message("assistant", [content.tool_call_part("c1", "fn", args)], "tool_calls")]
    encoded = content.encode(s, call) or ""
    assert "alice@example.com" not in encoded and '"[email]":"x"' in encoded
    assert len(encoded) < 400 and encoded.count("...[truncated]") == 1
    tools = [{"type": "function", "name": f"t{i}", "description": "d" * 50} for i in range(500)]
    encoded = content.encode_tool_definitions(s, tools) or ""
    assert len(encoded) < 400 and encoded.count("...[truncated]") == 1


def test_failing_redaction_hook_never_leaks_content() -> None:
    def boom(text: str) -> str:
        raise RuntimeError("nope")

    s = resolve_settings("t", "0", {"redact": boom}, environ={})
    out = json.loads(content.encode(s, [content.message("user", [content.text_part("secret")])]) or "")
    assert out[0]["parts"][0]["content"] == content.REDACTION_FAILED
    assert content.encode_text(s, "secret") == content.REDACTION_FAILED


def test_unlimited_when_max_length_not_positive() -> None:
    s = resolve_settings("t", "0", {"max_content_length": 0}, environ={})
    assert content.encode_text(s, "x" * 20000) == "x" * 20000


def test_heuristic_counter() -> None:
    counter = tokens.TokenCounter(loader=None)
    assert counter.count("gpt-4o", ["abcd", "abcde", None, ""]) == (3, tokens.HEURISTIC_METHOD)


def test_cached_tiktoken_file_requires_matching_checksum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    assert tokens.cached_tiktoken_file("o200k_base") is None
    key = hashlib.sha1(
        b"https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
    ).hexdigest()
    (tmp_path / key).write_bytes(b"not the real file")
    assert tokens.cached_tiktoken_file("o200k_base") is None  # tiktoken would re-download it: never use
    counter = tokens.TokenCounter()  # default loader: finds nothing, never touches the network
    assert counter.wait_ready(30)
    assert counter.method_for("gpt-4o") == tokens.HEURISTIC_METHOD


def test_numbers_count_toward_the_limit_and_keys_redacted_alike_stay_apart() -> None:
    s = resolve_settings(
        "t",
        "0",
        {"redact": lambda t: "[email]" if "@" in t else t, "max_content_length": 40},
        environ={},
    )
    # a tool result of many numbers is content too: it stops at the limit, with one marker
    numbers = [content.message("tool", [content.tool_call_response_part("c1", list(range(1000)))])]
    encoded = content.encode(s, numbers) or ""
    assert len(encoded) < 200 and encoded.count("...[truncated]") == 1
    # two keys the hook turns into the same string keep both values
    args = [
        content.message("assistant", [content.tool_call_part("c1", "fn", {"a@x.com": "A", "b@y.com": "B"})])
    ]
    assert json.loads(content.encode(s, args) or "")[0]["parts"][0]["arguments"] == {
        "[email]": "A",
        "[email]#2": "B",
    }


def test_event_content_keeps_integers_otlp_cannot_carry_as_digits() -> None:
    from otel_llm import semconv
    from otel_llm._core.events import _structured

    value = (
        '[{"role":"user","parts":[{"type":"tool_call","arguments":{"id":12345678901234567890123,"n":5}}]}]'
    )
    out = _structured({semconv.GEN_AI_INPUT_MESSAGES: value, "other": "[1]"})
    assert out[semconv.GEN_AI_INPUT_MESSAGES][0]["parts"][0]["arguments"] == {
        "id": "12345678901234567890123",
        "n": 5,
    }
    assert out["other"] == "[1]"  # only the content attributes are structured
