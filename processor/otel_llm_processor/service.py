"""The running service: host, storage, pipelines, API server, signals and an orderly shutdown.

Start: data directory, storage (``host.services["storage"]``), pipelines (downstream-first), API.
Stop (SIGTERM/SIGINT or :meth:`Service.shutdown`): API and receivers stop taking data, queued data
flows through, exporters flush, storage closes, all within ``service.shutdown_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import time
from typing import Any

from otel_llm_processor.asgi_server import AsgiServer
from otel_llm_processor.component import Host
from otel_llm_processor.config import Config
from otel_llm_processor.pipeline import Pipelines, StartError, build_pipelines
from otel_llm_processor.selftel import SelfTelemetry

__all__ = ["Service", "StartError"]

_log = logging.getLogger(__name__)


def _optional(module: str) -> Any | None:
    """Import ``module`` if it is installed; other import errors propagate."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (exc.name == module or module.startswith(f"{exc.name}.")):
            return None
        raise


class Service:
    def __init__(self, config: Config, telemetry: SelfTelemetry | None = None) -> None:
        self.config = config
        self.telemetry = telemetry if telemetry is not None else SelfTelemetry()
        self.host = Host(self.telemetry, config.service.data_dir)
        self.pipelines: Pipelines | None = None
        self.api: AsgiServer | None = None
        self._storage: Any = None
        self._rollups: Any = None
        self._state = "new"
        self.host.services["lifecycle"] = self

    @property
    def ready(self) -> bool:
        """For ``/ready``: started and not shutting down."""
        return self._state == "started"

    @property
    def api_port(self) -> int:
        return self.api.port if self.api is not None else 0

    async def start(self) -> None:
        """Raises :class:`StartError` (with everything already started shut down again)."""
        if self._state != "new":
            return
        self._state = "starting"
        try:
            await self._start()
        except BaseException:
            await self.shutdown(timeout=5.0)
            raise
        self._state = "started"

    async def _start(self) -> None:
        data_dir = self.config.service.data_dir
        try:
            os.makedirs(data_dir, exist_ok=True)
        except OSError as exc:
            raise StartError(f"service.data_dir: cannot create {data_dir!r}: {exc.strerror}") from exc
        if self.config.storage is not None:
            storage_mod = _optional("otel_llm_processor.storage")
            if storage_mod is not None:
                try:
                    self._storage = await storage_mod.open_storage(self.config.storage, data_dir)
                except Exception as exc:
                    raise StartError(f"service.storage: cannot open: {exc}") from exc
                self.host.services["storage"] = self._storage
                from otel_llm_processor.storage.rollup_writer import RollupWriter

                self._rollups = RollupWriter(self._storage, self.telemetry)
                self.host.on_service("llm_metrics", lambda view: view.subscribe(self._rollups.on_updates))
                self._rollups.start()
        self.pipelines = build_pipelines(self.config, self.telemetry)
        await self.pipelines.start(self.host)
        api_cfg = self.config.service.api
        if api_cfg.enabled:
            app_mod = _optional("otel_llm_processor.api.app")
            if app_mod is not None:
                app = app_mod.create_app(self.host, api_cfg)
                self.api = AsgiServer(app, api_cfg.endpoint, name="api", lifespan="auto")
                try:
                    await self.api.start()
                except OSError as exc:
                    raise StartError(
                        f"service.api.endpoint: cannot listen on {api_cfg.endpoint}: {exc}"
                    ) from exc
                _log.info("api: listening on port %d", self.api.port)

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop intake, flush, close storage; returns within ``timeout`` (default from config)."""
        if self._state == "stopped":
            return
        self._state = "stopped"
        timeout = self.config.service.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        if self.api is not None:
            await self.api.stop(min(deadline, time.monotonic() + 2.0))
        if self.pipelines is not None:
            await self.pipelines.shutdown(deadline)
        if self._rollups is not None:
            try:
                await asyncio.wait_for(self._rollups.stop(), timeout=max(0.1, deadline - time.monotonic()))
            except Exception:
                _log.warning("rollups were not all written at shutdown", exc_info=True)
        if self._storage is not None:
            try:
                await asyncio.wait_for(self._storage.close(), timeout=max(0.1, deadline - time.monotonic()))
            except Exception:
                _log.warning("storage did not close cleanly", exc_info=True)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Start, serve until SIGTERM/SIGINT (or ``stop`` is set), then shut down."""
        stop = stop if stop is not None else asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
        try:
            await self.start()
            _log.info("otel-llm-processor started (%s)", self.config.source)
            await stop.wait()
            _log.info("shutting down")
        finally:
            await self.shutdown()
            for sig in installed:
                loop.remove_signal_handler(sig)
