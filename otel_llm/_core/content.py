"""Opt-in capture of messages in the GenAI semantic-convention JSON shape.

Messages are ``{"role": ..., "parts": [...], "finish_reason": ...}`` with parts of type ``text``
(``content``), ``tool_call`` (``id``, ``name``, ``arguments``) and ``tool_call_response`` (``id``,
``response``). :func:`encode` applies the redaction hook to every string a user wrote or a model
produced, bounds the total by the size limit (cut strings end with :data:`TRUNCATED_MARKER`), and
returns the JSON string for ``gen_ai.input.messages`` / ``gen_ai.output.messages``;
:func:`encode_parts` does the same for ``gen_ai.system_instructions`` and
:func:`encode_tool_definitions` for ``gen_ai.tool.definitions``. Only message bodies, system
instructions and tool definitions are captured: API keys, headers and client options never reach
this module.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from otel_llm._core.settings import Settings

__all__ = [
    "REDACTION_FAILED",
    "TRUNCATED_MARKER",
    "encode",
    "encode_parts",
    "encode_text",
    "encode_tool_definitions",
    "message",
    "text_part",
    "tool_call_part",
    "tool_call_response_part",
]

_log = logging.getLogger(__name__)

TRUNCATED_MARKER = "...[truncated]"
REDACTION_FAILED = "[redaction failed]"

# Part keys whose string values are content (subject to redaction and the size limit).
_CONTENT_KEYS = ("content", "arguments", "response")


def text_part(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def tool_call_part(call_id: str | None, name: str | None, arguments: Any) -> dict[str, Any]:
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}


def tool_call_response_part(call_id: str | None, response: Any) -> dict[str, Any]:
    return {"type": "tool_call_response", "id": call_id, "response": response}


def message(role: str, parts: list[dict[str, Any]], finish_reason: str | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": role, "parts": parts}
    if finish_reason is not None:
        msg["finish_reason"] = finish_reason
    return msg


class _Budget:
    """The characters of content an attribute may still take. Content strings are cut to it (the
    cut string ends with :data:`TRUNCATED_MARKER`); once one is cut nothing more is added, so an
    attribute holds at most one marker and stays near the limit however many messages, parts,
    items or keys follow. Strings that only name things (roles, tool names and call ids, the keys
    and names of tool definitions) are kept and not counted."""

    __slots__ = ("cut", "left")

    def __init__(self, limit: int) -> None:
        self.left = limit if limit > 0 else -1  # -1: unlimited
        self.cut = False  # a string was cut (the marker is in the output)

    def take(self, text: str) -> str:
        if self._fits(len(text)):
            return text
        kept = text[: self.left]
        self._cut()
        return kept + TRUNCATED_MARKER

    def number(self, value: float) -> Any:
        """A number of tool arguments or results, counted by its printed length (a long array of
        numbers is content too); past the limit, the marker in its place."""
        if self._fits(len(repr(value))):
            return value
        self._cut()
        return TRUNCATED_MARKER

    def _fits(self, size: int) -> bool:
        """Whether ``size`` more characters fit (then they are counted)."""
        if self.left < 0:
            return True
        if size <= self.left:
            self.left -= size
            return True
        return False

    def _cut(self) -> None:
        self.left = 0
        self.cut = True

    @property
    def spent(self) -> bool:
        """Nothing more may be added (the limit is reached)."""
        return self.left == 0


def _until_cut(values: Any, budget: _Budget, clean: Callable[[Any], Any]) -> list[Any]:
    """``clean`` of each of ``values`` until the budget cuts a string (nothing after it)."""
    items = []
    for value in values:
        if budget.cut:
            break
        items.append(clean(value))
    return items


def _redacted(settings: Settings, value: str) -> str:
    if settings.redact is None:
        return value
    try:
        value = settings.redact(value)
    except Exception:
        _log.debug("otel_llm: redaction hook raised", exc_info=True)
        return REDACTION_FAILED
    return value if isinstance(value, str) else REDACTION_FAILED


def _clean(settings: Settings, value: Any, budget: _Budget) -> Any:
    if isinstance(value, str):
        redacted = _redacted(settings, value)
        return redacted if redacted is REDACTION_FAILED else budget.take(redacted)
    if isinstance(value, dict):
        # Keys of tool arguments and results are data too: redacted and counted like values.
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if budget.cut:
                break
            if isinstance(key, str):
                key = _clean(settings, key, budget)
                if key in out:  # two keys redacted alike: keep both values
                    key = _unique(key, out)
                if budget.cut:  # the key itself was cut: nothing of its value fits
                    out[key] = None
                    break
            out[key] = _clean(settings, item, budget)
        return out
    if isinstance(value, (list, tuple)):
        return _until_cut(value, budget, lambda item: _clean(settings, item, budget))
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return budget.number(value)
    return _clean(settings, str(value), budget)


def _unique(key: str, taken: dict[Any, Any]) -> str:
    """``key#2``, ``key#3``... the first not in ``taken``."""
    n = 2
    while f"{key}#{n}" in taken:
        n += 1
    return f"{key}#{n}"


def _cleaned(settings: Settings, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    budget = _Budget(settings.max_content_length)
    out = []
    for msg in messages:
        if budget.cut:
            break
        parts: list[dict[str, Any]] = []
        for part in msg.get("parts", ()):
            if budget.cut:
                break
            if budget.spent:  # the limit is reached and more would follow: say so, once
                parts.append(text_part(budget.take(" ")))
                break
            clean = dict(part)
            for key in _CONTENT_KEYS:
                if key in clean and clean[key] is not None:
                    clean[key] = _clean(settings, clean[key], budget)
            parts.append(clean)
        copy = dict(msg)
        copy["parts"] = parts
        out.append(copy)
    return out


def encode(settings: Settings, messages: list[dict[str, Any]]) -> str | None:
    """The JSON string of ``messages`` after redaction and truncation; None if it cannot be built."""
    try:
        return json.dumps(
            _cleaned(settings, messages), ensure_ascii=False, separators=(",", ":"), default=str
        )
    except Exception:
        _log.debug("otel_llm: message encoding failed", exc_info=True)
        return None


def encode_parts(settings: Settings, parts: list[dict[str, Any]]) -> str | None:
    """The JSON array of ``parts`` (``gen_ai.system_instructions``), with the redaction hook and the
    size limit applied as for messages; None if it cannot be built."""
    try:
        cleaned = _cleaned(settings, [message("system", parts)])[0]["parts"]
        return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"), default=str)
    except Exception:
        _log.debug("otel_llm: system instructions encoding failed", exc_info=True)
        return None


def encode_tool_definitions(settings: Settings, tools: list[dict[str, Any]]) -> str | None:
    """The JSON array of tool definitions (``gen_ai.tool.definitions``); None if it cannot be built.

    Their descriptions and schemas can quote anything the developer wrote (examples, enum values),
    so every string value goes through the redaction hook and the size limit, as message content
    does, except the values of ``type`` and ``name`` keys, which only name things (as a tool
    call's name and id in messages are kept)."""
    try:
        budget = _Budget(settings.max_content_length)
        cleaned = _until_cut(tools, budget, lambda tool: _clean_definition(settings, tool, budget))
        return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"), default=str)
    except Exception:
        _log.debug("otel_llm: tool definitions encoding failed", exc_info=True)
        return None


_NAMING_KEYS = frozenset(("type", "name"))


def _clean_definition(settings: Settings, value: Any, budget: _Budget) -> Any:
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if budget.cut:
                break
            if key in _NAMING_KEYS and isinstance(item, str):
                out[key] = item
            else:
                out[key] = _clean_definition(settings, item, budget)
        return out
    if isinstance(value, (list, tuple)):
        return _until_cut(value, budget, lambda item: _clean_definition(settings, item, budget))
    return _clean(settings, value, budget)


def encode_text(settings: Settings, text: str) -> str:
    """One free-text value (retrieval query, a document) after redaction and truncation."""
    cleaned = _clean(settings, text, _Budget(settings.max_content_length))
    return cleaned if isinstance(cleaned, str) else REDACTION_FAILED
