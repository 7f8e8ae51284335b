"""The ``gen_ai.client.inference.operation.details`` event: one log record per LLM call (and our
``otel_llm.retrieval.details`` event: one per manual retrieval step).

Built only when the content mode is ``EVENT_ONLY`` or ``SPAN_AND_EVENT``: :func:`resolve_settings`
then creates one :class:`EventEmitter` (a logger of the OpenTelemetry Logs API from the given or
the global LoggerProvider) and ``start_call`` returns the event-emitting twin of ``LlmCall``.
Without an SDK LoggerProvider the API logger is a no-op and nothing is built per call.

The record: event name ``gen_ai.client.inference.operation.details``, severity DEBUG (5),
timestamp = the call's end (also the span's end time), the span's trace and span id (the record
is emitted in the span's context), attributes = the call's span attributes plus the content ones
(``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.system_instructions``,
``gen_ai.tool.definitions``), which in ``EVENT_ONLY`` mode are on the event only. The event is
emitted whether or not the span is sampled: logs are sampled by the logs pipeline.

A manual ``retrieval`` step (``otel_llm.manual``) emits its own event through the same emitter,
with the same severity, timestamp and ids: event name ``otel_llm.retrieval.details`` (ours; the
semantic conventions define no retrieval event), attributes = the step's span attributes plus
``gen_ai.retrieval.query.text`` and ``gen_ai.retrieval.documents``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import Logger, LoggerProvider, LogRecord, SeverityNumber, get_logger
from opentelemetry.trace import Span

from otel_llm import semconv

__all__ = ["CONTENT_KEYS", "EventEmitter", "create_emitter"]

_log = logging.getLogger(__name__)

# The opt-in content attributes: on the event always, on the span only in SPAN_AND_EVENT mode.
CONTENT_KEYS = frozenset(
    (
        semconv.GEN_AI_INPUT_MESSAGES,
        semconv.GEN_AI_OUTPUT_MESSAGES,
        semconv.GEN_AI_SYSTEM_INSTRUCTIONS,
        semconv.GEN_AI_TOOL_DEFINITIONS,
    )
)


def _structured(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``attributes`` with the content ones (JSON strings, as on spans) in structured form: the
    semantic conventions require lists and maps for them on events (a log record's attributes
    carry any value; on spans, only a JSON string fits)."""
    out = dict(attributes)
    for key in CONTENT_KEYS.intersection(out):
        value = out[key]
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                out[key] = json.loads(value, parse_int=_int64)
    return out


def _int64(text: str) -> int | str:
    """An integer of the content as a number when OTLP can carry it (int64), else as its digits
    (an out-of-range int would make the exporter drop the whole attribute)."""
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 63) else text


def _modern_log_record() -> bool:
    """True when the API's LogRecord takes ``context`` and ``event_name`` (opentelemetry-api >= 1.35)."""
    try:
        params = inspect.signature(LogRecord.__init__).parameters
    except (TypeError, ValueError):
        return False
    return "event_name" in params and "context" in params


_MODERN = _modern_log_record()


class EventEmitter:
    """Emits the details event of one call or retrieval step; never raises."""

    __slots__ = ("_enabled", "_logger", "_modern")

    def __init__(self, logger: Logger, modern: bool = _MODERN) -> None:
        self._logger = logger
        self._modern = modern
        enabled = getattr(logger, "enabled", None)
        self._enabled = enabled if modern and callable(enabled) else None

    def emit(
        self,
        span: Span,
        attributes: Mapping[str, Any],
        timestamp: int,
        name: str = semconv.EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS,
    ) -> None:
        """Emit the record ``name`` in ``span``'s context (trace and span id), at ``timestamp`` (ns)."""
        try:
            ctx = trace.set_span_in_context(span)
            if self._enabled is not None and not self._enabled(
                context=ctx, severity_number=SeverityNumber.DEBUG, event_name=name
            ):
                return
            if self._modern:
                record = LogRecord(
                    timestamp=timestamp,
                    context=ctx,
                    severity_number=SeverityNumber.DEBUG,
                    attributes=_structured(attributes),
                    event_name=name,
                )
            else:  # opentelemetry-api < 1.35: ids given explicitly, the name as ``event.name``
                span_context = span.get_span_context()
                record = LogRecord(
                    timestamp=timestamp,
                    trace_id=span_context.trace_id,
                    span_id=span_context.span_id,
                    trace_flags=span_context.trace_flags,
                    severity_number=SeverityNumber.DEBUG,
                    attributes={**attributes, semconv.EVENT_NAME: name},
                )
            self._logger.emit(record)
        except Exception:
            _log.debug("otel_llm: emitting the GenAI event failed", exc_info=True)


def create_emitter(
    instrumenting_module: str, version: str, logger_provider: LoggerProvider | None
) -> EventEmitter:
    """An emitter on ``logger_provider`` (None: the global LoggerProvider, resolved lazily by the API)."""
    logger = get_logger(
        instrumenting_module,
        version,
        logger_provider=logger_provider,
        schema_url=semconv.SCHEMA_URL,
    )
    return EventEmitter(logger)
