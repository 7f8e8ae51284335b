"""A minimal OpenAI-compatible HTTP server for the peer-instrumentation fixture tests.

Serves ``/v1/chat/completions`` (plain and SSE streaming, with usage in the last chunk when asked),
``/v1/completions`` and ``/v1/embeddings`` on 127.0.0.1 with an ephemeral port. The model
``error-model`` answers 400 (not retried by the SDK). Usage numbers are fixed so tests can assert
them exactly: chat 12 prompt (4 of them cached) + 5 completion (2 reasoning); embeddings 6.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["CHAT_USAGE", "EMBED_USAGE", "ERROR_MODEL", "StubOpenAI"]

ERROR_MODEL = "error-model"
RESPONSE_MODEL_SUFFIX = "-2024-07-18"
CHAT_USAGE: dict[str, Any] = {
    "prompt_tokens": 12,
    "completion_tokens": 5,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 2},
}
EMBED_USAGE: dict[str, Any] = {"prompt_tokens": 6, "total_tokens": 6}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(length) or b"{}")
        model = str(req.get("model", ""))
        if model == ERROR_MODEL:
            self._json(
                400,
                {
                    "error": {
                        "message": "no such model",
                        "type": "invalid_request_error",
                        "code": "model_not_found",
                    }
                },
            )
            return
        path = self.path.split("?", 1)[0]
        if path.endswith("/chat/completions"):
            if req.get("stream"):
                self._stream(model, bool((req.get("stream_options") or {}).get("include_usage")))
            else:
                self._json(200, _chat(model))
        elif path.endswith("/completions"):
            self._json(200, _completion(model))
        elif path.endswith("/embeddings"):
            self._json(
                200,
                {
                    "object": "list",
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                    "model": model,
                    "usage": EMBED_USAGE,
                },
            )
        else:
            self._json(404, {"error": {"message": "not found", "type": "not_found"}})

    def _stream(self, model: str, include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {
            "id": "chatcmpl-stub-stream",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model + RESPONSE_MODEL_SUFFIX,
        }
        chunks: list[dict[str, Any]] = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
            {**base, "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        ]
        if include_usage:
            chunks.append({**base, "choices": [], "usage": CHAT_USAGE})
        for chunk in chunks:
            self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _chat(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model + RESPONSE_MODEL_SUFFIX,
        "system_fingerprint": "fp_stub",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello"},
                "finish_reason": "stop",
            }
        ],
        "usage": CHAT_USAGE,
    }


def _completion(model: str) -> dict[str, Any]:
    return {
        "id": "cmpl-stub-1",
        "object": "text_completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "text": "Hello", "finish_reason": "length", "logprobs": None}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


class StubOpenAI:
    """``with StubOpenAI() as stub: OpenAI(base_url=stub.base_url, api_key="x")``."""

    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> StubOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
