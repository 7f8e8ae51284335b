"""Recorded OpenAI chat-completion bytes served by an in-process ``httpx2`` transport.

The benchmark gives the real ``openai`` SDK client ``http_client=httpx2.Client(transport=
RecordedTransport())``: no socket, no loopback, so the per-call time is the SDK's own work plus
the instrumentation's, and differences of a few µs are resolvable. The bytes below have the shape
of api.openai.com responses (``gpt-4o-mini``): a JSON completion with ``usage`` (incl. the
``*_tokens_details`` objects) and an SSE stream of 20 content chunks, a finish chunk and the
``stream_options.include_usage`` usage chunk, then ``data: [DONE]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2

__all__ = [
    "MODEL",
    "RESPONSE_MODEL",
    "STREAM_WORDS",
    "USAGE",
    "RecordedTransport",
    "chat_json",
    "chat_sse",
    "make_client",
]

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
USAGE = {"prompt_tokens": 26, "completion_tokens": 20, "total_tokens": 46}
STREAM_WORDS = 20
_ID = "chatcmpl-BenchRecorded0000000000001"
_CREATED = 1_732_380_000
_FINGERPRINT = "fp_0ba0d124f1"
_TEXT = " ".join(f"word{i}" for i in range(STREAM_WORDS))


def _usage() -> dict[str, Any]:
    return {
        **USAGE,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_json() -> bytes:
    """The recorded non-streaming ``/v1/chat/completions`` body."""
    body = {
        "id": _ID,
        "object": "chat.completion",
        "created": _CREATED,
        "model": RESPONSE_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _TEXT, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(),
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _chunk(delta: dict[str, Any], finish: str | None, usage: Any = None, choices: bool = True) -> bytes:
    body: dict[str, Any] = {
        "id": _ID,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": RESPONSE_MODEL,
        "service_tier": "default",
        "system_fingerprint": _FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if choices
        else [],
        "usage": usage,
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def chat_sse() -> list[bytes]:
    """The recorded streaming body, one element per SSE event (as the network delivers them)."""
    events = [_chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    words = _TEXT.split(" ")
    for i, word in enumerate(words):
        events.append(_chunk({"content": word if i == 0 else " " + word}, None))
    events.append(_chunk({}, "stop"))
    events.append(_chunk({}, None, usage=_usage(), choices=False))
    events.append(b"data: [DONE]\n\n")
    return events


class _Events(httpx2.SyncByteStream):
    def __init__(self, events: list[bytes]) -> None:
        self._events = events

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._events)


class RecordedTransport(httpx2.BaseTransport):
    """Answers every request with the recorded JSON, or the recorded SSE when the body streams."""

    def __init__(self) -> None:
        self._json = chat_json()
        self._sse = chat_sse()
        self.requests = 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.read()
        self.requests += 1
        headers = {"x-request-id": "req_bench", "openai-processing-ms": "120"}
        if b'"stream":true' in body.replace(b" ", b""):
            headers["content-type"] = "text/event-stream; charset=utf-8"
            return httpx2.Response(200, headers=headers, stream=_Events(self._sse), request=request)
        headers["content-type"] = "application/json"
        return httpx2.Response(200, headers=headers, content=self._json, request=request)


def make_client(transport: RecordedTransport | None = None) -> Any:
    """A real ``openai.OpenAI`` client whose HTTP goes to :class:`RecordedTransport`."""
    import openai

    http = httpx2.Client(transport=transport or RecordedTransport())
    return openai.OpenAI(
        api_key="sk-bench-not-a-real-key",
        base_url="https://api.openai.com/v1",
        http_client=http,
        max_retries=0,
    )
