"""The ``otlp`` receiver: one intake shared by a gRPC and an HTTP server."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from otel_llm_processor.component import CreateSettings, Host, Signal
from otel_llm_processor.receiver.otlp.config import Config
from otel_llm_processor.receiver.otlp.grpc_server import GrpcServer
from otel_llm_processor.receiver.otlp.http_server import HttpServer
from otel_llm_processor.receiver.otlp.intake import Intake

__all__ = ["OtlpReceiver"]

_log = logging.getLogger(__name__)


class OtlpReceiver:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        consumers: dict[Signal, Any] = {}
        if settings.next_traces is not None:
            consumers[Signal.TRACES] = settings.next_traces
        if settings.next_metrics is not None:
            consumers[Signal.METRICS] = settings.next_metrics
        if settings.next_logs is not None:
            consumers[Signal.LOGS] = settings.next_logs
        name = self._name = str(settings.id)
        self.intake = Intake(name, settings.telemetry, config.queue, consumers)
        bearer = config.auth.bearer_token
        protocols = config.protocols
        self.grpc = GrpcServer(protocols.grpc, self.intake, bearer) if protocols.grpc else None
        self.http = HttpServer(protocols.http, self.intake, bearer, name) if protocols.http else None
        self._state = "new"

    @property
    def grpc_port(self) -> int:
        return self.grpc.port if self.grpc else 0

    @property
    def http_port(self) -> int:
        return self.http.port if self.http else 0

    async def start(self, host: Host) -> None:
        if self._state != "new":
            return
        self._state = "started"
        self.intake.start()
        if self.grpc is not None:
            await self.grpc.start()
        if self.http is not None:
            await self.http.start()
        _log.info("%s: listening on grpc port %d, http port %d", self._name, self.grpc_port, self.http_port)

    async def shutdown(self, deadline: float) -> None:
        """Stop listening, let in-flight requests finish through the pipeline, then stop the intake."""
        if self._state == "stopped":
            return
        self._state = "stopped"
        servers = [s for s in (self.grpc, self.http) if s is not None]
        await asyncio.gather(*(s.stop(deadline) for s in servers), return_exceptions=True)
        await self.intake.close(deadline)
