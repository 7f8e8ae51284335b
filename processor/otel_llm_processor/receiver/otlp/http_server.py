"""OTLP/HTTP: ``POST /v1/traces``, ``/v1/metrics``, ``/v1/logs`` as a lean ASGI app on uvicorn.

Bodies are ``application/x-protobuf`` or ``application/json``, optionally gzip-compressed; the
size limit applies while reading and again while decompressing (a gzip bomb stops at the limit).
Answers use the request's content type; errors carry a ``google.rpc.Status``.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.message import Message
from google.rpc import status_pb2

from otel_llm_processor.asgi_server import AsgiServer
from otel_llm_processor.component import Signal
from otel_llm_processor.otlpjson import OtlpJsonError, decode_logs, decode_metrics, decode_traces, to_dict
from otel_llm_processor.receiver.otlp.config import HttpConfig
from otel_llm_processor.receiver.otlp.intake import Intake, Refused, check_bearer

__all__ = ["HttpServer", "OtlpHttpApp"]

_TRANSPORT = "http"
_PATHS = {"/v1/traces": Signal.TRACES, "/v1/metrics": Signal.METRICS, "/v1/logs": Signal.LOGS}
_DECODE = {Signal.TRACES: decode_traces, Signal.METRICS: decode_metrics, Signal.LOGS: decode_logs}
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_DRAIN_LIMIT = 8 * 1024 * 1024  # bytes read and discarded after a refusal, to answer politely
# reason -> (HTTP status, google.rpc.Code)
_STATUS = {
    "invalid": (400, 3),
    "downstream_permanent": (400, 3),
    "unauthenticated": (401, 16),
    "too_large": (413, 8),
    "unsupported_media_type": (415, 3),
    "queue_full": (503, 14),
    "shutting_down": (503, 14),
    "downstream_retryable": (503, 14),
    "unimplemented": (404, 12),
    "internal": (500, 13),
}

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class OtlpHttpApp:
    """The ASGI application (usable on its own with any ASGI server or httpx's ASGITransport)."""

    def __init__(self, cfg: HttpConfig, intake: Intake, bearer: str | None) -> None:
        self._limit = cfg.max_request_body_size
        self._intake = intake
        self._bearer = bearer

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        signal = _PATHS.get(scope["path"])
        if signal is None or not self._intake.accepts(signal):
            await _plain(send, 404, b"not found\n")
            return
        if scope["method"] != "POST":
            await _plain(send, 405, b"method not allowed\n", ((b"allow", b"POST"),))
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower().decode("latin-1")
        as_json = media == _JSON
        body_read = False
        try:
            if not check_bearer(self._bearer, _str(headers.get(b"authorization"))):
                raise self._refuse(signal, "unauthenticated", "missing or invalid bearer token")
            if media not in (_PROTOBUF, _JSON):
                raise self._refuse(signal, "unsupported_media_type", f"unsupported content type {media!r}")
            encoding = headers.get(b"content-encoding", b"").strip().lower()
            if encoding not in (b"", b"identity", b"gzip"):
                raise self._refuse(
                    signal, "unsupported_media_type", f"unsupported content encoding {_str(encoding)!r}"
                )
            body = await self._read(signal, headers, receive)
            body_read = True
            if encoding == b"gzip":
                body = self._gunzip(signal, body)
            intake = self._intake
            if as_json:
                try:
                    request = _DECODE[signal](body)
                except OtlpJsonError as exc:
                    raise self._refuse(signal, "invalid", str(exc)) from None
                except RecursionError:  # absurdly deep nesting
                    raise self._refuse(signal, "invalid", "invalid JSON: nested too deeply") from None
                raw = None
            else:
                request, raw = intake.parse(signal, body, _TRANSPORT), body
            response = await intake.export(signal, request, raw, _TRANSPORT)
        except Refused as refused:
            if not body_read:
                await _drain(receive)
            await _error(send, refused, as_json)
            return
        await _respond(send, 200, response, as_json)

    def _refuse(self, signal: Signal, reason: str, message: str) -> Refused:
        return self._intake.refuse(signal, _TRANSPORT, Refused(reason, message))

    async def _read(self, signal: Signal, headers: dict[bytes, bytes], receive: Receive) -> bytes:
        limit = self._limit
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise self._refuse(signal, "too_large", f"request body larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise self._refuse(signal, "invalid", "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise self._refuse(signal, "too_large", f"request body larger than {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _gunzip(self, signal: Signal, body: bytes) -> bytes:
        limit = self._limit
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise self._refuse(signal, "invalid", f"invalid gzip body: {exc}") from None
        if len(out) > limit or inflater.unconsumed_tail:
            raise self._refuse(signal, "too_large", f"decompressed body larger than {limit} bytes")
        if not inflater.eof:
            raise self._refuse(signal, "invalid", "truncated gzip body")
        return out


def _str(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


async def _drain(receive: Receive) -> None:
    """Read what is left of a refused body (bounded), so the client sees our answer."""
    budget = _DRAIN_LIMIT
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _plain(send: Send, status: int, body: bytes, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})


async def _respond(
    send: Send, status: int, message: Message, as_json: bool, extra: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps(to_dict(message)).encode() if as_json else message.SerializeToString()
    headers = [
        (b"content-type", (_JSON if as_json else _PROTOBUF).encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, refused: Refused, as_json: bool) -> None:
    status, code = _STATUS.get(refused.reason, (500, 13))
    extra: tuple[tuple[bytes, bytes], ...] = ()
    if refused.retry_after is not None:
        extra = ((b"retry-after", str(max(1, math.ceil(refused.retry_after))).encode()),)
    if status == 401:
        extra = ((b"www-authenticate", b"Bearer"),)
    await _respond(send, status, status_pb2.Status(code=code, message=str(refused)), as_json, extra)


class HttpServer:
    def __init__(self, cfg: HttpConfig, intake: Intake, bearer: str | None, name: str) -> None:
        tls = cfg.tls
        self._server = AsgiServer(
            OtlpHttpApp(cfg, intake, bearer),
            cfg.endpoint,
            name=name,
            cert_file=tls.cert_file if tls else None,
            key_file=tls.key_file if tls else None,
            limit_concurrency=cfg.max_connections,
        )

    @property
    def port(self) -> int:
        return self._server.port

    async def start(self) -> None:
        await self._server.start()

    async def stop(self, deadline: float) -> None:
        await self._server.stop(deadline)
