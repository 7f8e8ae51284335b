"""A small real HTTP server speaking OpenAI's wire format, for tests, benchmarks and the demo.

    with StubOpenAI() as stub:                       # 127.0.0.1, ephemeral port
        client = openai.OpenAI(base_url=stub.url, api_key="sk-test", max_retries=0)
        stub.enqueue(Reply(text="Hi", prompt_tokens=9))   # next request gets this behaviour
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])

Endpoints: ``POST /v1/chat/completions`` (JSON, or SSE with ``data: ...`` lines and ``data:
[DONE]``, plus a usage chunk when ``stream_options.include_usage``), ``POST /v1/completions`` (the
legacy text completions, JSON or SSE, the same way), ``POST /v1/responses`` (JSON,
or the SSE event sequence ``response.created`` ... ``response.completed``, or an in-band ``error``
event with ``Reply.stream_error_after``), ``POST /v1/embeddings`` (float or base64). Behaviour
per request: the next queued :class:`Reply`, else magic model names (``stub-error-429``,
``stub-error-500``, ``stub-drop``, ``stub-tool``), else the default reply. Every request is recorded in :attr:`StubOpenAI.requests`.

CLI (demo): ``python -m otel_llm.testing.stub_openai --port 8001 --latency 0.05 --error-rate 0.05``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import random
import socket
import struct
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["RecordedRequest", "Reply", "StubOpenAI", "ToolCall", "main"]

CREATED = 1_700_000_000
FINGERPRINT = "fp_stub"


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Reply:
    """What the stub answers to one request."""

    text: str = "Hello from the stub."
    tool_calls: tuple[ToolCall, ...] = ()
    prompt_tokens: int = 12
    completion_tokens: int = 6
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    finish_reason: str | None = None  # default: "tool_calls" with tool calls, else "stop"
    model: str | None = None  # response model; default: the request's
    response_id: str | None = None
    status: int = 200  # != 200: an OpenAI-style error body
    error_message: str = "stub error"
    error_code: str | None = None
    retry_after: str | None = None
    drop_after_chunks: int | None = None  # streams: close the connection after N events
    # Responses streams: after N events, an in-band ``error`` event (``error_code``,
    # ``error_message``) ends the stream (HTTP status stays 200).
    stream_error_after: int | None = None
    chunk_delay: float = 0.0  # seconds between stream events
    latency: float = 0.0  # seconds before answering
    dimensions: int = 8  # embeddings
    # Top-level fields replaced in a non-streamed JSON body (e.g. values of unexpected types), and
    # in a Responses stream's final response (sent as response.failed / response.incomplete when
    # its status says so).
    override: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _magic(model: str) -> Reply | None:
    if model == "stub-error-429":
        return Reply(
            status=429, error_message="Rate limit reached", error_code="rate_limit_exceeded", retry_after="0"
        )
    if model == "stub-error-500":
        return Reply(status=500, error_message="The server had an error", error_code="server_error")
    if model == "stub-drop":
        return Reply(drop_after_chunks=2)
    if model == "stub-tool":
        return Reply(text="", tool_calls=(ToolCall("call_stub_1", "get_weather", '{"city": "Paris"}'),))
    return None


def _words(text: str) -> list[str]:
    pieces = text.split(" ")
    return [p if i == len(pieces) - 1 else p + " " for i, p in enumerate(pieces) if p or i == 0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        stub = self.server.stub
        path = self.path.split("?", 1)[0]
        stub._record(RecordedRequest(path, {k.lower(): v for k, v in self.headers.items()}, body))
        reply = stub._next_reply(str(body.get("model", "")))
        if reply.latency:
            time.sleep(reply.latency)
        if reply.status != 200:
            self._error(reply)
            return
        model = reply.model or str(body.get("model", "stub-model"))
        stream = body.get("stream") is True
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if path.endswith("/chat/completions"):
            if stream:
                self._sse(_chat_chunks(reply, model, include_usage), reply, named=False)
            else:
                self._json(_chat_completion(reply, model), reply)
        elif path.endswith("/completions"):  # the legacy text completions API
            if stream:
                self._sse(_text_chunks(reply, model, include_usage), reply, named=False)
            else:
                self._json(_text_completion(reply, model), reply)
        elif path.endswith("/responses"):
            if stream:
                self._sse(_response_events(reply, model), reply, named=True)
            else:
                self._json(_response(reply, model, "completed"), reply)
        elif path.endswith("/embeddings"):
            self._json(_embeddings(reply, model, body), reply)
        else:
            self._send(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})

    # -- writers -------------------------------------------------------------------------------
    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req_stub")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, payload: dict[str, Any], reply: Reply | None = None) -> None:
        if reply is not None and reply.override:
            payload = {**payload, **reply.override}
        self._send(200, payload)

    def _error(self, reply: Reply) -> None:
        headers = {"retry-after": reply.retry_after} if reply.retry_after is not None else {}
        body = {
            "error": {
                "message": reply.error_message,
                "type": "requests" if reply.status == 429 else "server_error",
                "param": None,
                "code": reply.error_code,
            }
        }
        self._send(reply.status, body, headers)

    def _sse(self, events: list[tuple[str | None, dict[str, Any] | str]], reply: Reply, named: bool) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", "req_stub")
        self.end_headers()
        for i, (event, data) in enumerate(events):
            if reply.drop_after_chunks is not None and i >= reply.drop_after_chunks:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            text = data if isinstance(data, str) else json.dumps(data)
            block = (f"event: {event}\n" if named and event else "") + f"data: {text}\n\n"
            payload = block.encode()
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()
            if reply.chunk_delay:
                time.sleep(reply.chunk_delay)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


# -- payloads ----------------------------------------------------------------------------------
def _chat_usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens, "audio_tokens": 0},
    }


def _finish(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _head(reply: Reply, model: str, kind: str, default_id: str) -> dict[str, Any]:
    """The fields a chat or text completion (and each of its chunks) opens with."""
    return {
        "id": reply.response_id or default_id,
        "object": kind,
        "created": CREATED,
        "model": model,
        "system_fingerprint": FINGERPRINT,
    }


def _chat_completion(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
            for t in reply.tool_calls
        ]
    return {
        **_head(reply, model, "chat.completion", "chatcmpl-stub"),
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(reply), "logprobs": None}],
        "usage": _chat_usage(reply),
    }


def _chat_chunks(
    reply: Reply, model: str, include_usage: bool
) -> list[tuple[str | None, dict[str, Any] | str]]:
    base = _head(reply, model, "chat.completion.chunk", "chatcmpl-stub")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        out = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}])
        if include_usage:
            out["usage"] = None
        return out

    events: list[tuple[str | None, dict[str, Any] | str]] = [
        (None, chunk({"role": "assistant", "content": ""}))
    ]
    if reply.text:
        events.extend((None, chunk({"content": w})) for w in _words(reply.text))
    for i, tool in enumerate(reply.tool_calls):
        head = {
            "index": i,
            "id": tool.id,
            "type": "function",
            "function": {"name": tool.name, "arguments": ""},
        }
        events.append((None, chunk({"tool_calls": [head]})))
        half = len(tool.arguments) // 2
        for piece in (tool.arguments[:half], tool.arguments[half:]):
            events.append((None, chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})))
    events.append((None, chunk({}, _finish(reply))))
    if include_usage:
        events.append((None, dict(base, choices=[], usage=_chat_usage(reply))))
    events.append((None, "[DONE]"))
    return events


def _text_completion(reply: Reply, model: str) -> dict[str, Any]:
    return {
        **_head(reply, model, "text_completion", "cmpl-stub"),
        "choices": [{"index": 0, "text": reply.text, "finish_reason": _finish(reply), "logprobs": None}],
        "usage": _chat_usage(reply),
    }


def _text_chunks(
    reply: Reply, model: str, include_usage: bool
) -> list[tuple[str | None, dict[str, Any] | str]]:
    base = _head(reply, model, "text_completion", "cmpl-stub")

    def chunk(text: str, finish: str | None = None) -> dict[str, Any]:
        out = dict(base, choices=[{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}])
        if include_usage:
            out["usage"] = None
        return out

    events: list[tuple[str | None, dict[str, Any] | str]] = [
        (None, chunk(w)) for w in _words(reply.text) if reply.text
    ]
    events.append((None, chunk("", _finish(reply))))
    if include_usage:
        events.append((None, dict(base, choices=[], usage=_chat_usage(reply))))
    events.append((None, "[DONE]"))
    return events


def _response_output(reply: Reply) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    if reply.text:
        output.append(
            {
                "type": "message",
                "id": "msg_stub",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}],
            }
        )
    for tool in reply.tool_calls:
        output.append(
            {
                "type": "function_call",
                "id": f"fc_{tool.id}",
                "call_id": tool.id,
                "name": tool.name,
                "arguments": tool.arguments,
                "status": "completed",
            }
        )
    return output


def _response(reply: Reply, model: str, status: str) -> dict[str, Any]:
    done = status == "completed"
    return {
        "id": reply.response_id or "resp_stub",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": model,
        "output": _response_output(reply) if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "temperature": 1.0,
        "top_p": 1.0,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "text": {"format": {"type": "text"}},
        "usage": {
            "input_tokens": reply.prompt_tokens,
            "input_tokens_details": {"cached_tokens": reply.cached_tokens},
            "output_tokens": reply.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }
        if done
        else None,
    }


# A Responses stream's last event, by the final response's status.
_FINAL_EVENTS = {"failed": "response.failed", "incomplete": "response.incomplete"}


def _response_events(reply: Reply, model: str) -> list[tuple[str | None, dict[str, Any] | str]]:
    seq = iter(range(1_000_000))
    events: list[tuple[str | None, dict[str, Any] | str]] = []

    def add(kind: str, **fields: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": next(seq), **fields}))

    add("response.created", response=_response(reply, model, "in_progress"))
    add("response.in_progress", response=_response(reply, model, "in_progress"))
    for index, item in enumerate(_response_output(reply)):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            add(
                "response.output_item.added",
                output_index=index,
                item=dict(item, status="in_progress", content=[]),
            )
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            add(
                "response.content_part.added",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=part,
            )
            for word in _words(text):
                add(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    delta=word,
                    logprobs=[],
                )
            add(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            )
            add(
                "response.content_part.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                part=dict(part, text=text),
            )
        else:
            add(
                "response.output_item.added",
                output_index=index,
                item=dict(item, status="in_progress", arguments=""),
            )
            add(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=index,
                delta=item["arguments"],
            )
            add(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                arguments=item["arguments"],
                name=item["name"],
            )
        add("response.output_item.done", output_index=index, item=item)
    final = {**_response(reply, model, "completed"), **(reply.override or {})}
    add(_FINAL_EVENTS.get(final["status"], "response.completed"), response=final)
    if reply.stream_error_after is not None:
        events = events[: reply.stream_error_after]
        error = {"code": reply.error_code, "message": reply.error_message, "param": None}
        events.append(("error", {"type": "error", "sequence_number": len(events), **error}))
    return events


def _embeddings(reply: Reply, model: str, body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
    data = []
    for i in range(count):
        vector = [round((i + 1) * 0.125 * (d + 1), 6) for d in range(reply.dimensions)]
        embedding: Any = vector
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": reply.prompt_tokens, "total_tokens": reply.prompt_tokens},
    }


# -- server ------------------------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    stub: StubOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # clients dropping connections (tests abandon streams on purpose) are not errors


@dataclass
class StubOpenAI:
    """The stub server; a context manager. ``default`` answers requests with nothing queued."""

    host: str = "127.0.0.1"
    port: int = 0
    default: Reply = field(default_factory=Reply)
    latency: float = 0.0
    error_rate: float = 0.0
    seed: int | None = None
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: collections.deque[Reply] = collections.deque()
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -----------------------------------------------------------------------------
    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def _next_reply(self, model: str) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            injected = self.error_rate > 0 and self._rng.random() < self.error_rate
        reply = _magic(model) or self.default
        if injected:
            reply = Reply(status=500, error_message="injected failure", error_code="server_error")
        if self.latency and not reply.latency:
            reply = replace(reply, latency=self.latency)
        return reply

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            if len(self.requests) < 10_000:
                self.requests.append(request)

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.server_address[1]}/v1"

    def start(self) -> StubOpenAI:
        if self._server is None:
            server = _Server((self.host, self.port), _Handler)
            server.stub = self
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, name="stub-openai", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StubOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible stub server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream events")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests answered 500")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    stub = StubOpenAI(
        host=args.host,
        port=args.port,
        default=Reply(chunk_delay=args.chunk_delay),
        latency=args.latency,
        error_rate=args.error_rate,
        seed=args.seed,
    ).start()
    print(f"stub OpenAI listening on {stub.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
