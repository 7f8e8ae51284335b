"""Accumulates Anthropic's raw stream events into the call's response, usage and (opt-in) output.

The core's stream proxies (``SyncStreamProxy``/``AsyncStreamProxy``) pass every event through
unchanged, record the first one's arrival and end the span once; this handler only reads events.
Events: ``message_start`` (id, model, input and cache usage), ``content_block_start``/``_delta``
(text, tool input JSON, thinking), ``message_delta`` (stop reason, cumulative usage), ``message_stop``.
"""

from __future__ import annotations

import json
from typing import Any

from otel_llm import semconv
from otel_llm._core import content
from otel_llm._core.span import LlmCall
from otel_llm.anthropic import extract

__all__ = ["MessageStreamHandler"]


def _get(obj: Any, name: str) -> Any:
    return getattr(obj, name, None)


class MessageStreamHandler:
    """A ``StreamHandler`` for ``RawMessageStreamEvent``s; content is kept only when ``capture``."""

    __slots__ = ("_blocks", "_capture", "_id", "_model", "_stop_reason", "_usage")

    def __init__(self, capture: bool) -> None:
        self._capture = capture
        self._id: str | None = None
        self._model: str | None = None
        self._stop_reason: str | None = None
        # Anthropic's own usage fields, merged as events arrive (message_delta's are cumulative).
        self._usage: dict[str, int] = {}
        # index -> [type, text or tool name, tool id, tool input JSON text]
        self._blocks: dict[int, list[Any]] = {}

    def _merge_usage(self, usage: Any) -> None:
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ):
            value = _get(usage, name)
            if isinstance(value, int) and not isinstance(value, bool):
                self._usage[name] = value

    def on_chunk(self, chunk: Any) -> None:
        kind = _get(chunk, "type")
        if kind == "content_block_delta":
            if self._capture:
                self._delta(chunk)
        elif kind == "message_start":
            message = _get(chunk, "message")
            self._id = _get(message, "id")
            self._model = _get(message, "model")
            self._merge_usage(_get(message, "usage"))
        elif kind == "message_delta":
            stop_reason = _get(_get(chunk, "delta"), "stop_reason")
            if isinstance(stop_reason, str):
                self._stop_reason = stop_reason
            self._merge_usage(_get(chunk, "usage"))
        elif kind == "content_block_start" and self._capture:
            block = _get(chunk, "content_block")
            block_type = _get(block, "type")
            if block_type == "text":
                entry = ["text", _get(block, "text") or "", None, ""]
            elif block_type in ("tool_use", "server_tool_use"):
                entry = ["tool_use", _get(block, "name"), _get(block, "id"), ""]
            elif block_type == "thinking":
                entry = ["thinking", _get(block, "thinking") or "", None, ""]
            else:
                entry = [str(block_type), "", None, ""]
            index = _get(chunk, "index")
            if isinstance(index, int):
                self._blocks[index] = entry

    def _delta(self, chunk: Any) -> None:
        entry = self._blocks.get(_get(chunk, "index"))
        if entry is None:
            return
        delta = _get(chunk, "delta")
        delta_type = _get(delta, "type")
        if delta_type == "text_delta":
            entry[1] += _get(delta, "text") or ""
        elif delta_type == "input_json_delta":
            entry[3] += _get(delta, "partial_json") or ""
        elif delta_type == "thinking_delta":
            entry[1] += _get(delta, "thinking") or ""

    def on_finish(self, call: LlmCall) -> None:
        call.set_response(
            response_id=self._id,
            response_model=self._model,
            finish_reasons=[self._stop_reason] if self._stop_reason is not None else None,
        )
        if self._usage:
            call.set_usage(extract.usage_of(self._usage))
        if self._capture and self._blocks:
            call.set_messages(
                semconv.GEN_AI_OUTPUT_MESSAGES,
                [content.message("assistant", self._parts(), self._stop_reason)],
            )

    def _parts(self) -> list[dict[str, Any]]:
        parts: list[dict[str, Any]] = []
        for index in sorted(self._blocks):
            kind, text, tool_id, raw_input = self._blocks[index]
            if kind == "text":
                parts.append(content.text_part(text))
            elif kind == "tool_use":
                try:
                    arguments: Any = json.loads(raw_input) if raw_input else {}
                except ValueError:  # the stream stopped mid-way: keep what arrived
                    arguments = raw_input
                parts.append(content.tool_call_part(tool_id, text, arguments))
            elif kind == "thinking":
                parts.append({"type": "reasoning", "content": text})
            else:
                parts.append({"type": kind})
        return parts
