"""A local HTTP server that speaks Anthropic's Messages wire format, for tests and the demo.

``POST /v1/messages`` answers with a JSON ``Message``, or with server-sent events when the request has
``"stream": true`` (``message_start``, ``ping``, ``content_block_start``/``_delta``/``_stop`` with
``text_delta`` and ``input_json_delta``, ``message_delta`` with usage, ``message_stop``). Each request
takes the next scripted reply, or the default one when the script is empty:

    with StubAnthropic() as stub:
        stub.script(Reply(text="hi", usage=Usage(10, 3, cache_read=4)), ErrorReply(429))
        client = anthropic.Anthropic(base_url=stub.base_url, api_key="test", max_retries=0)

Scripted failures: an HTTP error with Anthropic's error envelope (``ErrorReply``), an ``event: error``
in the middle of a stream (``Reply(stream_error=...)``) and a connection dropped mid-stream
(``Reply(drop_after=n)``: the chunked body stops without its terminating chunk). Every request is
recorded in :attr:`StubAnthropic.requests`. The same messages are served on the paths of Claude on
Vertex AI (``.../publishers/anthropic/models/{model}:rawPredict`` and ``:streamRawPredict``) and on
Amazon Bedrock (``/model/{model}/invoke``, not streamed), the model taken from the path.

``python -m otel_llm.testing.stub_anthropic --port 8081 --latency 0.2 --error-rate 0.05`` runs it
for the demo.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import socket
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "ErrorReply",
    "RecordedRequest",
    "Reply",
    "StubAnthropic",
    "ToolUse",
    "Usage",
    "error_type_for_status",
    "main",
    "message_json",
    "sse_events",
]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_type_for_status(status: int) -> str:
    """The ``error.type`` of Anthropic's error envelope for an HTTP status."""
    return _ERROR_TYPES.get(status, "api_error")


@dataclass(frozen=True)
class Usage:
    """Token usage as Anthropic reports it: ``input`` excludes the cache reads and writes."""

    input: int = 12
    output: int = 7
    cache_read: int | None = None
    cache_creation: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input,
            "output_tokens": self.output,
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cache_read,
            "service_tier": "standard",
        }


@dataclass(frozen=True)
class ToolUse:
    """A ``tool_use`` content block."""

    name: str
    input: dict[str, Any]
    id: str = "toolu_stub_01"


@dataclass(frozen=True)
class Reply:
    """A successful answer: JSON, or SSE when the request streams.

    ``text`` and ``tools`` make the content blocks (text first). ``model`` defaults to the
    request's. ``stream_error`` sends ``event: error`` of that type after ``error_after`` events;
    ``drop_after`` closes the connection after that many events without ending the body.
    """

    text: str | None = "Hello from the stub."
    tools: tuple[ToolUse, ...] = ()
    model: str | None = None
    id: str = "msg_stub_01"
    stop_reason: str = "end_turn"
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
    text_chunks: int = 3
    stream_error: str | None = None
    error_after: int = 3
    drop_after: int | None = None
    latency: float = 0.0
    chunk_delay: float = 0.0
    headers: tuple[tuple[str, str], ...] = (("request-id", "req_stub_01"),)


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error with Anthropic's error envelope; ``retry_after`` adds the header (seconds)."""

    status: int = 500
    error_type: str | None = None
    message: str = "scripted error"
    retry_after: float | None = None
    should_retry: bool | None = None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.text is not None:
        blocks.append({"type": "text", "text": reply.text})
    blocks.extend({"type": "tool_use", "id": t.id, "name": t.name, "input": t.input} for t in reply.tools)
    return blocks


def message_json(reply: Reply, model: str) -> dict[str, Any]:
    """The JSON ``Message`` that ``reply`` answers a request for ``model`` with."""
    return {
        "id": reply.id,
        "type": "message",
        "role": "assistant",
        "model": reply.model or model,
        "content": _blocks(reply),
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "usage": reply.usage.as_json(),
    }


def _split(text: str, parts: int) -> list[str]:
    if not text:
        return [""]
    size = max(1, -(-len(text) // max(1, parts)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def sse_events(reply: Reply, model: str) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of the stream that ``reply`` answers a request for ``model`` with."""
    start = message_json(reply, model)
    start["content"] = []
    start["stop_reason"] = None
    start["stop_sequence"] = None
    start["usage"] = {**reply.usage.as_json(), "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(_blocks(reply)):
        if block["type"] == "text":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            deltas = [
                {"type": "text_delta", "text": piece} for piece in _split(block["text"], reply.text_chunks)
            ]
        else:
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
                )
            )
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in _split(raw, 2)]
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    usage = reply.usage.as_json()
    del usage["service_tier"]
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence},
                "usage": usage,
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


# Vertex AI: .../publishers/anthropic/models/{model}:rawPredict (streamRawPredict for a stream);
# Bedrock: /model/{model}/invoke (its streams use AWS event-stream framing, not served here).
_VERTEX_PATH = re.compile(r"/publishers/anthropic/models/([^/:]+):(rawPredict|streamRawPredict)$")
_BEDROCK_PATH = re.compile(r"^/model/([^/]+)/invoke$")


def _route(path: str) -> tuple[str | None, bool | None] | None:
    """(model named by the path, stream by the path) of a route the stub serves (None: the body
    says), or None for an unknown path."""
    if path == "/v1/messages":
        return None, None
    vertex = _VERTEX_PATH.search(path)
    if vertex is not None:
        return urllib.parse.unquote(vertex.group(1)), vertex.group(2) == "streamRawPredict"
    bedrock = _BEDROCK_PATH.match(path)
    if bedrock is not None:
        return urllib.parse.unquote(bedrock.group(1)), False
    return None


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        stub = self.server.stub
        stub._record(
            RecordedRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        path = self.path.split("?")[0]
        route = _route(path)
        if route is None or not isinstance(body, dict):
            self._json(404, _error_body("not_found_error", f"no route {self.path}"))
            return
        path_model, path_stream = route
        reply = stub._next()
        if isinstance(reply, ErrorReply):
            self._error(reply)
            return
        if reply.latency:
            time.sleep(reply.latency)
        model = path_model or str(body.get("model", "claude-stub"))
        stream = body.get("stream") is True if path_stream is None else path_stream
        if stream:
            self._stream(reply, model)
        else:
            self._json(200, message_json(reply, model), reply.headers)

    def _error(self, reply: ErrorReply) -> None:
        headers: list[tuple[str, str]] = []
        if reply.retry_after is not None:
            headers.append(("retry-after", f"{reply.retry_after:g}"))
            headers.append(("retry-after-ms", f"{reply.retry_after * 1000:g}"))
        if reply.should_retry is not None:
            headers.append(("x-should-retry", "true" if reply.should_retry else "false"))
        error_type = reply.error_type or error_type_for_status(reply.status)
        self._json(reply.status, _error_body(error_type, reply.message), tuple(headers))

    def _json(self, status: int, payload: dict[str, Any], headers: tuple[tuple[str, str], ...] = ()) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, reply: Reply, model: str) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        for sent, (event, data) in enumerate(sse_events(reply, model)):
            if reply.drop_after is not None and sent >= reply.drop_after:
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.stream_error is not None and sent >= reply.error_after:
                err = json.dumps(_error_body(reply.stream_error, "scripted stream error"))
                self._chunk(f"event: error\ndata: {err}\n\n".encode())
                break
            if reply.chunk_delay and event == "content_block_delta":
                time.sleep(reply.chunk_delay)
            self._chunk(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: StubAnthropic

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: clients that drop a connection (or a scripted drop) are not the server's problem."""


class StubAnthropic:
    """The server, on ``127.0.0.1`` and an ephemeral port unless ``port`` is given.

    ``default`` answers every request that finds the script empty. Thread-safe.
    """

    def __init__(
        self, port: int = 0, default: Reply | ErrorReply | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.default: Reply | ErrorReply = default or Reply()
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply | ErrorReply] = deque()
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.stub = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply | ErrorReply) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._script.extend(replies)

    def _next(self) -> Reply | ErrorReply:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> StubAnthropic:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.05,), name="stub-anthropic", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> StubAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ChaosStub(StubAnthropic):
    """The demo's stub: every reply has the latency knobs, and a fraction of them fail."""

    def __init__(self, port: int, base: Reply, error_rate: float, seed: int | None, host: str) -> None:
        super().__init__(port, default=base, host=host)
        self._error_rate = error_rate
        self._random = random.Random(seed)

    def _next(self) -> Reply | ErrorReply:
        with self._lock:
            if self._script:
                return self._script.popleft()
            if self._random.random() < self._error_rate:
                status = self._random.choice((429, 500, 529))
                return ErrorReply(status, retry_after=1.0 if status == 429 else None)
        return self.default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otel_llm.testing.stub_anthropic", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (containers: 0.0.0.0)")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before the first byte")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between streamed deltas")
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="fraction of requests failing 429/500/529"
    )
    parser.add_argument("--output-tokens", type=int, default=7)
    parser.add_argument("--input-tokens", type=int, default=12)
    parser.add_argument("--cache-read-tokens", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    base = Reply(
        latency=args.latency,
        chunk_delay=args.chunk_delay,
        usage=Usage(args.input_tokens, args.output_tokens, cache_read=args.cache_read_tokens),
    )
    stub = _ChaosStub(args.port, base, args.error_rate, args.seed, args.host)
    with stub:
        print(f"stub anthropic listening on {stub.base_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
