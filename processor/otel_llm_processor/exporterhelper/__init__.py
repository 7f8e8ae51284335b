"""Queue and retry helpers shared by every exporter (the Collector's exporterhelper analogue).

An exporter encodes each batch into a :class:`QueueItem`, hands it to a :class:`QueueSender`
(``offer``) and supplies one coroutine that sends an item to its backend, raising
:class:`SendPermanentError` or :class:`SendRetryableError`. The sender owns the bounded memory or
persistent queue, the consumers, backoff with jitter and the self-telemetry.
"""

from __future__ import annotations

from otel_llm_processor.exporterhelper.backoff import backoff_cap, next_delay
from otel_llm_processor.exporterhelper.config import Duration, QueueConfig, RetryConfig, parse_duration
from otel_llm_processor.exporterhelper.persistent_queue import PersistentQueue
from otel_llm_processor.exporterhelper.queue import (
    Entry,
    MemoryQueue,
    QueueClosedError,
    QueueFullError,
    QueueItem,
    SendingQueue,
)
from otel_llm_processor.exporterhelper.sender import (
    QueueSender,
    SendFunc,
    SendPermanentError,
    SendRetryableError,
    make_queue,
)

__all__ = [
    "Duration",
    "Entry",
    "MemoryQueue",
    "PersistentQueue",
    "QueueClosedError",
    "QueueConfig",
    "QueueFullError",
    "QueueItem",
    "QueueSender",
    "RetryConfig",
    "SendFunc",
    "SendPermanentError",
    "SendRetryableError",
    "SendingQueue",
    "backoff_cap",
    "make_queue",
    "next_delay",
    "parse_duration",
]
