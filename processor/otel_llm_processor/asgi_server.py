"""Run an ASGI app with uvicorn inside the service's event loop, on a socket we bind ourselves.

Binding first gives the real port when the endpoint says port 0 (tests) and reports "address in
use" as a start error instead of ``sys.exit``. uvicorn's own signal capture is disabled: the
service owns SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Generator
from typing import Any, Literal

import uvicorn

__all__ = ["AsgiServer", "parse_endpoint"]

_log = logging.getLogger(__name__)


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6) -> (host, port). Raises ``ValueError``."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host:
        raise ValueError(f"endpoint must be host:port, got {endpoint!r}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"endpoint port must be a number, got {port!r}") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"endpoint port out of range: {number}")
    return host, number


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class AsgiServer:
    """One uvicorn server task. ``start`` binds and begins serving; ``stop`` honours a deadline."""

    def __init__(
        self,
        app: Any,
        endpoint: str,
        *,
        name: str,
        cert_file: str | None = None,
        key_file: str | None = None,
        lifespan: Literal["auto", "on", "off"] = "off",
        h11_max_incomplete_event_size: int | None = None,
        limit_concurrency: int | None = None,
    ) -> None:
        self._app = app
        self._endpoint = endpoint
        self._name = name
        self._cert_file = cert_file
        self._key_file = key_file
        self._lifespan = lifespan
        self._h11_limit = h11_max_incomplete_event_size
        self._limit_concurrency = limit_concurrency
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    async def start(self) -> None:
        if self._task is not None:
            return
        host, port = parse_endpoint(self._endpoint)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        sock.listen(2048)
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        kwargs: dict[str, Any] = {}
        if self._h11_limit is not None:
            kwargs["h11_max_incomplete_event_size"] = self._h11_limit
        config = uvicorn.Config(
            self._app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan=self._lifespan,
            ssl_certfile=self._cert_file,
            ssl_keyfile=self._key_file,
            ssl_cert_reqs=ssl.CERT_NONE,
            timeout_graceful_shutdown=5,
            server_header=False,
            limit_concurrency=self._limit_concurrency,
            **kwargs,
        )
        self._server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[sock]), name=f"asgi:{self._name}"
        )
        while not self._server.started:
            if self._task.done():
                exc = self._task.exception() if not self._task.cancelled() else None
                raise RuntimeError(f"{self._name}: HTTP server failed to start") from exc
            await asyncio.sleep(0.005)

    async def stop(self, deadline: float) -> None:
        server, task = self._server, self._task
        if server is None or task is None:
            return
        self._server = self._task = None
        server.should_exit = True
        timeout = max(0.05, deadline - time.monotonic())
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            server.force_exit = True
            done, _ = await asyncio.wait({task}, timeout=0.5)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        elif not task.cancelled() and task.exception() is not None:
            _log.warning("%s: HTTP server ended with %r", self._name, task.exception())
        if self._sock is not None:
            self._sock.close()
            self._sock = None
