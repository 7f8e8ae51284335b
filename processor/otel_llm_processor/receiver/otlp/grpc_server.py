"""OTLP/gRPC: TraceService, MetricsService and LogsService ``Export`` on grpc.aio.

The methods are registered with no request deserializer, so a handler gets the bytes as they
arrived: they are parsed once here (a truncated message gives INVALID_ARGUMENT, not grpc's
INTERNAL) and kept as ``TracesBatch.raw`` for lossless, re-serialisation-free re-export.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from otel_llm_processor.component import Signal
from otel_llm_processor.receiver.otlp.config import GrpcConfig
from otel_llm_processor.receiver.otlp.intake import Intake, Refused, check_bearer

__all__ = ["GrpcServer"]

_log = logging.getLogger(__name__)
_MIB = 1024 * 1024
_TRANSPORT = "grpc"
_CODES = {
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "downstream_permanent": grpc.StatusCode.INVALID_ARGUMENT,
    "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
    "queue_full": grpc.StatusCode.UNAVAILABLE,
    "shutting_down": grpc.StatusCode.UNAVAILABLE,
    "downstream_retryable": grpc.StatusCode.UNAVAILABLE,
    "unimplemented": grpc.StatusCode.UNIMPLEMENTED,
    "internal": grpc.StatusCode.INTERNAL,
}


def _retry_trailers(code: grpc.StatusCode, message: str, delay: float) -> tuple[tuple[str, bytes], ...]:
    info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=int(delay), nanos=int((delay % 1) * 1e9))
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
    return (
        ("google.rpc.retryinfo-bin", info.SerializeToString()),
        ("grpc-status-details-bin", status.SerializeToString()),
    )


class _Handler:
    """One ``Export`` method for one signal."""

    def __init__(self, signal: Signal, intake: Intake, bearer: str | None) -> None:
        self._signal = signal
        self._intake = intake
        self._bearer = bearer

    async def export(self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        intake, signal = self._intake, self._signal
        try:
            if self._bearer is not None and not check_bearer(self._bearer, _authorization(context)):
                raise intake.refuse(
                    signal, _TRANSPORT, Refused("unauthenticated", "missing or invalid bearer token")
                )
            request = intake.parse(signal, data, _TRANSPORT)
            return await intake.export(signal, request, data, _TRANSPORT)
        except Refused as refused:
            code = _CODES.get(refused.reason, grpc.StatusCode.INTERNAL)
            trailers: tuple[tuple[str, bytes], ...] = ()
            if refused.retry_after is not None:
                trailers = _retry_trailers(code, str(refused), refused.retry_after)
            await context.abort(code, str(refused), trailing_metadata=trailers)


def _authorization(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


# The generated servicers name the services; ours take raw bytes (see the module docstring).
class TraceServicer(trace_service_pb2_grpc.TraceServiceServicer):
    SERVICE = trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name


class MetricsServicer(metrics_service_pb2_grpc.MetricsServiceServicer):
    SERVICE = metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name


class LogsServicer(logs_service_pb2_grpc.LogsServiceServicer):
    SERVICE = logs_service_pb2.DESCRIPTOR.services_by_name["LogsService"].full_name


_SERVICES: dict[Signal, type[TraceServicer | MetricsServicer | LogsServicer]] = {
    Signal.TRACES: TraceServicer,
    Signal.METRICS: MetricsServicer,
    Signal.LOGS: LogsServicer,
}


class GrpcServer:
    def __init__(self, cfg: GrpcConfig, intake: Intake, bearer: str | None) -> None:
        self._cfg = cfg
        self._intake = intake
        self._bearer = bearer
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        if self._server is not None:
            return
        limit = self._cfg.max_recv_msg_size_mib * _MIB
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.so_reuseport", 0),
            ]
        )
        handlers = []
        for signal, servicer in _SERVICES.items():
            if not self._intake.accepts(signal):
                continue
            handler = grpc.unary_unary_rpc_method_handler(
                _Handler(signal, self._intake, self._bearer).export,
                request_deserializer=None,
                response_serializer=lambda message: message.SerializeToString(),
            )
            handlers.append(grpc.method_handlers_generic_handler(servicer.SERVICE, {"Export": handler}))
        server.add_generic_rpc_handlers(tuple(handlers))
        tls = self._cfg.tls
        if tls is not None:
            with open(tls.key_file, "rb") as key, open(tls.cert_file, "rb") as cert:
                credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
            port = server.add_secure_port(self._cfg.endpoint, credentials)
        else:
            port = server.add_insecure_port(self._cfg.endpoint)
        if not port:
            raise OSError(f"cannot listen on {self._cfg.endpoint}")
        await server.start()
        self._server = server
        self.port = port

    async def stop(self, deadline: float) -> None:
        """Stop taking new RPCs; in-flight ones may finish until ``deadline``."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace=max(0.0, deadline - time.monotonic()))
