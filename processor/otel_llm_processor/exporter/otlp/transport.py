"""The two ways to reach an OTLP backend, each with one ``send(item) -> rejected`` coroutine.

Errors are mapped once, here, to :class:`SendRetryableError` (with the server's throttling hint)
or :class:`SendPermanentError`, per the OTLP specification:

- gRPC: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, CANCELLED, DATA_LOSS are retryable;
  RESOURCE_EXHAUSTED only when the status carries ``google.rpc.RetryInfo``; everything else is
  permanent. ``RetryInfo.retry_delay`` is the throttling hint.
- HTTP: 429, 502, 503, 504 are retryable with ``Retry-After`` (seconds or an HTTP date) honoured;
  every other non-2xx is permanent; connection failures and timeouts are retryable.

Request bodies are sent as they are (traces keep the bytes they arrived as): the gRPC methods are
registered with an identity serializer. A ``partial_success`` in the response gives the rejected
count, which the sender counts as dropped (the OTLP spec forbids retrying it).

The HTTP client ignores proxy environment variables (``trust_env=False``): a backend is reached
directly, as configured, and loopback traffic is never sent to a proxy by accident.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import ssl
import time
from typing import Any, Protocol

import grpc
import grpc.aio
import httpx
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_llm_processor.component import Signal
from otel_llm_processor.exporter.otlp.config import Config
from otel_llm_processor.exporterhelper import QueueItem, SendPermanentError, SendRetryableError

__all__ = ["GrpcTransport", "HttpTransport", "Transport", "parse_retry_after", "rejected_count"]

_GRPC_PATHS = {
    Signal.TRACES: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    Signal.METRICS: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    Signal.LOGS: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
_HTTP_PATHS = {Signal.TRACES: "/v1/traces", Signal.METRICS: "/v1/metrics", Signal.LOGS: "/v1/logs"}
_RESPONSES: dict[Signal, Any] = {
    Signal.TRACES: ExportTraceServiceResponse,
    Signal.METRICS: ExportMetricsServiceResponse,
    Signal.LOGS: ExportLogsServiceResponse,
}
_GRPC_RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DATA_LOSS,
    }
)
_HTTP_RETRYABLE = frozenset({429, 502, 503, 504})
_GZIP_IN_THREAD = 64 * 1024  # compress larger bodies off the event loop (zlib releases the GIL)


class Transport(Protocol):
    async def start(self) -> None: ...

    async def send(self, item: QueueItem) -> int: ...

    async def close(self) -> None: ...


def rejected_count(signal: Signal, response: Any) -> int:
    """Items a backend rejected in an OTLP ``partial_success`` (0 when unset)."""
    if response is None or not response.HasField("partial_success"):
        return 0
    partial = response.partial_success
    if signal is Signal.TRACES:
        return int(partial.rejected_spans)
    if signal is Signal.METRICS:
        return int(partial.rejected_data_points)
    return int(partial.rejected_log_records)


def _split_endpoint(endpoint: str, insecure: bool) -> tuple[str, bool]:
    """``(host:port, secure)`` from ``host:port``, ``http://host:port`` or ``https://host:port``."""
    if endpoint.startswith("http://"):
        return endpoint[len("http://") :].rstrip("/"), False
    if endpoint.startswith("https://"):
        return endpoint[len("https://") :].rstrip("/"), not insecure
    return endpoint.rstrip("/"), not insecure


def _read_ca(config: Config) -> bytes | None:
    if config.tls.ca_file is None:
        return None
    with open(config.tls.ca_file, "rb") as fh:
        return fh.read()


# --------------------------------------------------------------------------------------------
# gRPC
# --------------------------------------------------------------------------------------------
def _grpc_retry_delay(err: grpc.aio.AioRpcError) -> float | None:
    """``RetryInfo.retry_delay`` from the status details in the trailers, if any."""
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except Exception:
            return None
        for detail in status.details:
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


def map_grpc_error(err: grpc.aio.AioRpcError) -> SendPermanentError | SendRetryableError:
    code = err.code()
    reason = code.name.lower()
    message = f"gRPC {code.name}: {err.details()}"
    delay = _grpc_retry_delay(err)
    if code in _GRPC_RETRYABLE:
        return SendRetryableError(message, reason, delay)
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED and delay is not None:
        return SendRetryableError(message, reason, delay)
    return SendPermanentError(message, reason)


class GrpcTransport:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._target, self._secure = _split_endpoint(config.endpoint, config.tls.insecure)
        self._metadata = tuple((k.lower(), v) for k, v in config.headers.items())
        self._compression = (
            grpc.Compression.Gzip if config.compression == "gzip" else grpc.Compression.NoCompression
        )
        self._channel: grpc.aio.Channel | None = None
        self._calls: dict[Signal, Any] = {}

    async def start(self) -> None:
        if self._channel is not None:
            return
        retry_ms = int(min(self._config.retry_on_failure.max_interval, 5.0) * 1000)
        options = [
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", 16 * 1024 * 1024),
            # Reconnect soon after a backend comes back; our own retry loop paces the requests.
            ("grpc.initial_reconnect_backoff_ms", min(100, retry_ms)),
            ("grpc.min_reconnect_backoff_ms", min(100, retry_ms)),
            ("grpc.max_reconnect_backoff_ms", max(retry_ms, 100)),
        ]
        if self._secure:
            creds = grpc.ssl_channel_credentials(root_certificates=_read_ca(self._config))
            channel = grpc.aio.secure_channel(self._target, creds, options, self._compression)
        else:
            channel = grpc.aio.insecure_channel(self._target, options, self._compression)
        self._channel = channel
        # No request serializer: the bytes go on the wire as they are.
        self._calls = {
            signal: channel.unary_unary(
                path, request_serializer=None, response_deserializer=_RESPONSES[signal].FromString
            )
            for signal, path in _GRPC_PATHS.items()
        }

    async def send(self, item: QueueItem) -> int:
        call = self._calls.get(item.signal)
        if call is None:
            raise SendRetryableError("transport not started", "not_started")
        try:
            response = await call(item.data, timeout=self._config.timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as err:
            raise map_grpc_error(err) from err
        return rejected_count(item.signal, response)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        self._calls = {}
        if channel is not None:
            await channel.close()


# --------------------------------------------------------------------------------------------
# HTTP/protobuf
# --------------------------------------------------------------------------------------------
def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class HttpTransport:
    def __init__(self, config: Config) -> None:
        self._config = config
        # The URL's scheme decides; without one, ``tls.insecure`` picks plain HTTP.
        endpoint = config.endpoint.rstrip("/")
        if endpoint.startswith(("http://", "https://")):
            self._base = endpoint
        else:
            self._base = f"{'http' if config.tls.insecure else 'https'}://{endpoint}"
        secure = self._base.startswith("https://")
        self._verify: ssl.SSLContext | bool = True
        if secure and config.tls.ca_file:
            self._verify = ssl.create_default_context(cafile=config.tls.ca_file)
        self._headers = {**config.headers, "Content-Type": "application/x-protobuf"}
        if config.compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._config.timeout, verify=self._verify, headers=self._headers, trust_env=False
            )

    async def _body(self, data: bytes) -> bytes:
        if self._config.compression != "gzip":
            return data
        if len(data) >= _GZIP_IN_THREAD:
            return await asyncio.to_thread(gzip.compress, data, 6)
        return gzip.compress(data, 6)

    async def send(self, item: QueueItem) -> int:
        client = self._client
        if client is None:
            raise SendRetryableError("transport not started", "not_started")
        body = await self._body(item.data)
        try:
            response = await client.post(self._base + _HTTP_PATHS[item.signal], content=body)
        except httpx.TimeoutException as err:
            raise SendRetryableError(f"HTTP timeout: {type(err).__name__}", "timeout") from err
        except httpx.TransportError as err:
            raise SendRetryableError(f"HTTP transport error: {type(err).__name__}", "connection") from err
        status = response.status_code
        if 200 <= status < 300:
            return self._rejected(item.signal, response)
        reason = f"http_{status}"
        if status in _HTTP_RETRYABLE:
            delay = parse_retry_after(response.headers.get("retry-after"))
            raise SendRetryableError(f"HTTP {status}", reason, delay)
        raise SendPermanentError(f"HTTP {status}", reason)

    @staticmethod
    def _rejected(signal: Signal, response: httpx.Response) -> int:
        if not response.content or "protobuf" not in response.headers.get("content-type", ""):
            return 0
        message = _RESPONSES[signal]()
        try:
            message.ParseFromString(response.content)
        except Exception:
            return 0
        return rejected_count(signal, message)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
