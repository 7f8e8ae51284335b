"""A scripted HTTP server on 127.0.0.1 for notifier tests (Slack, PagerDuty, webhooks).

It records every request and answers from a script of ``(status, headers, body)`` replies, then
with ``default`` once the script is used up; ``down()`` closes the port (connection refused)
and ``up()`` reopens it on the same port.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["HttpStub", "StubRequest"]


@dataclass(frozen=True)
class StubRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpStub:
    default: tuple[int, dict[str, str], bytes] = (200, {}, b"ok")
    requests: list[StubRequest] = field(default_factory=list)
    port: int = 0
    _script: deque[tuple[int, dict[str, str], bytes]] = field(default_factory=deque)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Queue one scripted reply."""
        self._script.append((status, headers or {}, body))

    def _next_reply(self) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def up(self) -> HttpStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                status, headers, reply = stub._next_reply()
                with stub._lock:
                    stub.requests.append(
                        StubRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    async def wait_requests(self, count: int, timeout: float = 20.0) -> list[StubRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            await asyncio.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
