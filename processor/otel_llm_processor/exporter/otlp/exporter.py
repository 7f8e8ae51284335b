"""The ``otlp`` exporter: encode each batch once, queue it, send it with retries.

Traces whose ``raw`` bytes are still set go out exactly as they were received (lossless, no
re-serialisation); anything else is serialised once at ``consume_*``. ``consume_*`` only enqueues:
a full queue raises :class:`RetryableError` so the receiver answers UNAVAILABLE / 503.
"""

from __future__ import annotations

import os

from otel_llm_processor.component import (
    CreateSettings,
    Host,
    LogsBatch,
    MetricsBatch,
    RetryableError,
    Signal,
    TracesBatch,
)
from otel_llm_processor.exporter.otlp.config import Config
from otel_llm_processor.exporter.otlp.transport import GrpcTransport, HttpTransport, Transport
from otel_llm_processor.exporterhelper import QueueItem, QueueSender, make_queue

__all__ = ["OtlpExporter", "queue_directory"]


def queue_directory(data_dir: str, component_id: str) -> str:
    """Where ``storage: file`` keeps the queue: ``<data_dir>/queues/<component id>/``."""
    return os.path.join(data_dir, "queues", *component_id.split("/"))


class OtlpExporter:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        self._id = str(settings.id)
        self._telemetry = settings.telemetry
        self._config = config
        self._transport: Transport = (
            GrpcTransport(config) if config.protocol == "grpc" else HttpTransport(config)
        )
        self._sender: QueueSender | None = None
        self._stopped = False

    @property
    def sender(self) -> QueueSender | None:
        return self._sender

    async def start(self, host: Host) -> None:
        if self._sender is not None or self._stopped:
            return
        queue_config = self._config.sending_queue
        queue = None
        if queue_config.enabled:
            queue = make_queue(queue_config, queue_directory(host.data_dir, self._id))
        await self._transport.start()
        sender = QueueSender(
            component=self._id,
            telemetry=self._telemetry,
            send=self._transport.send,
            queue=queue,
            num_consumers=queue_config.num_consumers,
            retry=self._config.retry_on_failure,
        )
        await sender.start()
        self._sender = sender

    async def shutdown(self, deadline: float) -> None:
        if self._stopped:
            return
        self._stopped = True
        sender, self._sender = self._sender, None
        if sender is not None:
            await sender.shutdown(deadline)
        await self._transport.close()

    async def _offer(self, item: QueueItem) -> None:
        sender = self._sender
        if sender is None:
            raise RetryableError(f"exporter {self._id} is not running", retry_after=1.0)
        await sender.offer(item)

    async def consume_traces(self, batch: TracesBatch) -> None:
        data = batch.raw if batch.raw is not None else batch.request.SerializeToString()
        count = batch.span_count or sum(
            len(ss.spans) for rs in batch.request.resource_spans for ss in rs.scope_spans
        )
        await self._offer(QueueItem(Signal.TRACES, data, count))

    async def consume_metrics(self, batch: MetricsBatch) -> None:
        data = batch.raw if batch.raw is not None else batch.request.SerializeToString()
        count = batch.point_count or _count_points(batch)
        await self._offer(QueueItem(Signal.METRICS, data, count))

    async def consume_logs(self, batch: LogsBatch) -> None:
        data = batch.raw if batch.raw is not None else batch.request.SerializeToString()
        count = batch.record_count or sum(
            len(sl.log_records) for rl in batch.request.resource_logs for sl in rl.scope_logs
        )
        await self._offer(QueueItem(Signal.LOGS, data, count))


def _count_points(batch: MetricsBatch) -> int:
    total = 0
    for rm in batch.request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(metric, kind).data_points)
    return total
