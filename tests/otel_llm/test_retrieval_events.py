"""The manual retrieval step in each content mode: which attributes are on the span and on our
``otel_llm.retrieval.details`` event (a log record through the real SDK LoggerProvider), the event's
name, severity, timestamp, ids and exact attributes and types; redaction and the size limit,
failures inside the step, sampling, suppression, and emitter failures that never reach the app."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber, get_logger
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from otel_llm import manual, semconv
from otel_llm._core.events import EventEmitter
from otel_llm._core.settings import ContentMode
from otel_llm.context import llm_context
from otel_llm.manual import llm_call, retrieval
from otel_llm.testing import Telemetry, attributes_of

EVENT = semconv.EVENT_OTEL_LLM_RETRIEVAL_DETAILS
QUERY = "what is otel?"
CONTENT_KEYS = {semconv.GEN_AI_RETRIEVAL_QUERY_TEXT, semconv.GEN_AI_RETRIEVAL_DOCUMENTS}
# The span's attributes without content, for the step run by _run_step().
BASE = {
    semconv.GEN_AI_OPERATION_NAME: "retrieval",
    semconv.GEN_AI_PROVIDER_NAME: "pgvector",
    semconv.GEN_AI_DATA_SOURCE_ID: "kb",
    semconv.USER_ID: "u-1",
    semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_IDS: ["d1", "2"],
    semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_SCORES: [0.9, 0.5],
}
DOCUMENTS = [
    {"id": "d1", "score": 0.9, "content": "doc one"},
    {"id": "2", "score": 0.5, "content": "doc two"},
]


@pytest.fixture
def configure(telemetry: Telemetry) -> Iterator[Any]:
    """``configure(mode, **kwargs)``: the manual API on the telemetry's tracer and logger providers."""

    def _configure(mode: ContentMode, **kwargs: Any) -> None:
        params: dict[str, Any] = {
            "tracer_provider": telemetry.tracer_provider,
            "logger_provider": telemetry.logger_provider,
            "capture_content": mode,
        }
        params.update(kwargs)
        manual.configure(**params)

    yield _configure
    manual._settings = None


def _run_step() -> None:
    with llm_context(user_id="u-1"), retrieval(query=QUERY, data_source="kb", provider="pgvector") as step:
        step.record(["d1", 2], [0.9, 0.5], contents=["doc one", "doc two"])  # type: ignore[list-item]


def _event(telemetry: Telemetry) -> ReadableLogRecord:
    logs = telemetry.logs()
    assert len(logs) == 1, f"expected exactly one event, got {len(logs)}"
    return logs[0]


def _check_event(record: ReadableLogRecord, span: ReadableSpan) -> dict[str, Any]:
    """Name, severity, timestamp, ids, body and scope of the event of ``span``; its attributes as a
    plain dict (sequences as lists) after checking their exact types."""
    log = record.log_record
    assert log.event_name == EVENT
    assert log.severity_number is SeverityNumber.DEBUG
    assert log.timestamp == span.end_time
    assert log.trace_id == span.context.trace_id
    assert log.span_id == span.context.span_id
    assert log.trace_flags == span.context.trace_flags
    assert log.body is None
    assert record.instrumentation_scope is not None
    assert record.instrumentation_scope.name == "otel_llm.manual"
    attrs: dict[str, Any] = {}
    for key, value in (log.attributes or {}).items():
        if key == semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_IDS:
            assert type(value) is tuple and all(type(v) is str for v in value)
        elif key == semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_SCORES:
            assert type(value) is tuple and all(type(v) is float for v in value)
        else:
            assert type(value) is str, key
        attrs[key] = list(value) if isinstance(value, tuple) else value
    return attrs


# -- the four modes ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", list(ContentMode))
def test_each_mode(mode: ContentMode, telemetry: Telemetry, configure: Any) -> None:
    configure(mode)
    _run_step()
    span = telemetry.span()
    assert span.name == "retrieval kb" and span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    span_attrs = attributes_of(span)
    with_content = {
        **BASE,
        semconv.GEN_AI_RETRIEVAL_QUERY_TEXT: QUERY,
        semconv.GEN_AI_RETRIEVAL_DOCUMENTS: json.dumps(DOCUMENTS, ensure_ascii=False),
    }
    on_span = mode in (ContentMode.SPAN_ONLY, ContentMode.SPAN_AND_EVENT)
    assert span_attrs == (with_content if on_span else BASE)
    if mode in (ContentMode.NO_CONTENT, ContentMode.SPAN_ONLY):
        assert telemetry.logs() == []
        return
    event_attrs = _check_event(_event(telemetry), span)
    assert event_attrs == with_content
    assert json.loads(event_attrs[semconv.GEN_AI_RETRIEVAL_DOCUMENTS]) == DOCUMENTS
    if mode is ContentMode.SPAN_AND_EVENT:
        assert event_attrs == span_attrs


def test_step_without_query_and_record(telemetry: Telemetry, configure: Any) -> None:
    """No retrieval.record(), no query, no data source: the event carries what the span carries."""
    configure(ContentMode.EVENT_ONLY)
    with retrieval():
        pass
    span = telemetry.span()
    assert span.name == "retrieval"
    assert attributes_of(span) == {semconv.GEN_AI_OPERATION_NAME: "retrieval"}
    assert _check_event(_event(telemetry), span) == {semconv.GEN_AI_OPERATION_NAME: "retrieval"}


def test_record_without_scores_or_contents(telemetry: Telemetry, configure: Any) -> None:
    configure(ContentMode.SPAN_AND_EVENT)
    with retrieval(query="q") as step:
        step.record(["a", "b"])
    span = telemetry.span()
    expected = {
        semconv.GEN_AI_OPERATION_NAME: "retrieval",
        semconv.GEN_AI_RETRIEVAL_QUERY_TEXT: "q",
        semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_IDS: ["a", "b"],
    }
    assert attributes_of(span) == expected
    assert _check_event(_event(telemetry), span) == expected


# -- redaction and size limit ----------------------------------------------------------------------
def _redact(text: str) -> str:
    return text.replace("secret", "***")


def test_redaction_and_size_limit_on_event(telemetry: Telemetry, configure: Any) -> None:
    """EVENT_ONLY: the hook and the limit apply to the event's content, which is exactly what
    SPAN_AND_EVENT puts on the span."""
    values: list[dict[str, Any]] = []
    for mode in (ContentMode.EVENT_ONLY, ContentMode.SPAN_AND_EVENT):
        telemetry.clear()
        configure(mode, redact=_redact, max_content_length=12)
        with retrieval(query="my secret question", data_source="kb") as step:
            step.record(["d1", "d2"], [1.0, 0.25], contents=["a secret", "a long document text"])
        span = telemetry.span()
        event_attrs = _check_event(_event(telemetry), span)
        assert event_attrs[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] == "my *** quest...[truncated]"
        assert json.loads(event_attrs[semconv.GEN_AI_RETRIEVAL_DOCUMENTS]) == [
            {"id": "d1", "score": 1.0, "content": "a ***"},
            {"id": "d2", "score": 0.25, "content": "a long docum...[truncated]"},
        ]
        span_attrs = attributes_of(span)
        if mode is ContentMode.EVENT_ONLY:
            assert CONTENT_KEYS.isdisjoint(span_attrs)
        else:
            assert event_attrs == span_attrs
        values.append(event_attrs)
    assert values[0] == values[1]


def test_failing_redaction_hook(telemetry: Telemetry, configure: Any) -> None:
    def broken(text: str) -> str:
        raise ValueError(text)

    configure(ContentMode.EVENT_ONLY, redact=broken)
    with retrieval(query="q") as step:
        step.record(["d1"], contents=["text"])
    event_attrs = _check_event(_event(telemetry), telemetry.span())
    assert event_attrs[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] == "[redaction failed]"
    assert json.loads(event_attrs[semconv.GEN_AI_RETRIEVAL_DOCUMENTS]) == [
        {"id": "d1", "content": "[redaction failed]"}
    ]


# -- failures, decorators, sampling, suppression ---------------------------------------------------
def test_step_that_raises_emits_event_with_error_type(telemetry: Telemetry, configure: Any) -> None:
    configure(ContentMode.EVENT_ONLY)
    with pytest.raises(KeyError, match="index down"), retrieval(query="q", data_source="kb"):
        raise KeyError("index down")
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "KeyError"
    span_attrs = attributes_of(span)
    assert span_attrs == {
        semconv.GEN_AI_OPERATION_NAME: "retrieval",
        semconv.GEN_AI_DATA_SOURCE_ID: "kb",
        semconv.ERROR_TYPE: "KeyError",
    }
    assert _check_event(_event(telemetry), span) == {**span_attrs, semconv.GEN_AI_RETRIEVAL_QUERY_TEXT: "q"}


async def test_decorator_one_event_per_call(telemetry: Telemetry, configure: Any) -> None:
    configure(ContentMode.SPAN_AND_EVENT)

    @retrieval(query="q", data_source="kb")
    def search() -> str:
        return "hits"

    @retrieval(query="q", data_source="kb")
    async def asearch() -> str:
        return "async hits"

    retrieval(query="never entered")
    assert telemetry.logs() == [] and telemetry.spans() == []  # no retrieval happened yet
    assert search() == "hits"
    assert await asearch() == "async hits"
    spans = telemetry.spans()
    logs = telemetry.logs()
    assert len(spans) == 2 and len(logs) == 2
    for span, record in zip(spans, logs, strict=True):
        assert _check_event(record, span) == attributes_of(span)
    assert spans[0].context.span_id != spans[1].context.span_id


def test_event_when_span_is_sampled_out(telemetry: Telemetry, configure: Any) -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(telemetry.exporter))
    configure(ContentMode.EVENT_ONLY, tracer_provider=provider)
    try:
        _run_step()
    finally:
        provider.shutdown()
    assert telemetry.spans() == []
    log = _event(telemetry).log_record
    assert log.event_name == EVENT
    assert log.trace_id != 0 and log.span_id != 0
    assert dict(log.attributes or {}) == {
        **BASE,
        semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_IDS: ("d1", "2"),
        semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_SCORES: (0.9, 0.5),
        semconv.GEN_AI_RETRIEVAL_QUERY_TEXT: QUERY,
        semconv.GEN_AI_RETRIEVAL_DOCUMENTS: json.dumps(DOCUMENTS, ensure_ascii=False),
    }


@pytest.mark.parametrize("mode", [ContentMode.EVENT_ONLY, ContentMode.SPAN_AND_EVENT])
def test_nothing_when_suppressed(mode: ContentMode, telemetry: Telemetry, configure: Any) -> None:
    configure(mode)
    with suppress_instrumentation():
        _run_step()
    assert telemetry.logs() == []
    assert telemetry.spans() == []


def test_llm_call_and_retrieval_events_side_by_side(telemetry: Telemetry, configure: Any) -> None:
    """Inside an LLM call's scope: the retrieval span is its child, each emits its own event."""
    configure(ContentMode.EVENT_ONLY)
    with llm_call(provider="vllm", model="llama") as call:
        with retrieval(query="q") as step:
            step.record(["d1"])
        call.set_input_messages([{"role": "user", "content": "hi"}])
    step_span, call_span = telemetry.spans()
    assert step_span.parent is not None and step_span.parent.span_id == call_span.context.span_id
    step_event, call_event = telemetry.logs()
    assert _check_event(step_event, step_span) == {
        semconv.GEN_AI_OPERATION_NAME: "retrieval",
        semconv.GEN_AI_RETRIEVAL_QUERY_TEXT: "q",
        semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_IDS: ["d1"],
    }
    assert call_event.log_record.event_name == semconv.EVENT_GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS
    assert call_event.log_record.span_id == call_span.context.span_id


# -- emitter failures and providers ----------------------------------------------------------------
def _raise(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("processor failed")


def test_emit_failure_never_reaches_the_app(
    telemetry: Telemetry, configure: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    processor = SimpleLogRecordProcessor(InMemoryLogRecordExporter())
    monkeypatch.setattr(processor, "on_emit", _raise)
    provider = LoggerProvider()
    provider.add_log_record_processor(processor)
    configure(ContentMode.EVENT_ONLY, logger_provider=provider)
    try:
        with retrieval(query="q", data_source="kb") as step:
            step.record(["d1"], [0.5], contents=["text"])
            result = "hits"
    finally:
        provider.shutdown()
    assert result == "hits"
    span = telemetry.span()
    assert span.end_time is not None
    assert attributes_of(span) == {
        semconv.GEN_AI_OPERATION_NAME: "retrieval",
        semconv.GEN_AI_DATA_SOURCE_ID: "kb",
        semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_IDS: ["d1"],
        semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_SCORES: [0.5],
    }
    assert telemetry.logs() == []


def test_bad_record_arguments_never_reach_the_app(telemetry: Telemetry, configure: Any) -> None:
    configure(ContentMode.SPAN_AND_EVENT)
    with retrieval(query="q") as step:
        step.record(None, contents=["text"])  # type: ignore[arg-type]
        step.record(["d1"], scores=["not a number"])  # type: ignore[list-item]
    expected = {semconv.GEN_AI_OPERATION_NAME: "retrieval", semconv.GEN_AI_RETRIEVAL_QUERY_TEXT: "q"}
    span = telemetry.span()
    assert attributes_of(span) == expected
    assert _check_event(_event(telemetry), span) == expected


def test_event_mode_without_logger_provider(telemetry: Telemetry) -> None:
    """The global (API, no SDK) LoggerProvider: a no-op logger; the step and its span are unaffected."""
    manual.configure(tracer_provider=telemetry.tracer_provider, capture_content=ContentMode.EVENT_ONLY)
    try:
        _run_step()
    finally:
        manual._settings = None
    assert attributes_of(telemetry.span()) == BASE
    assert telemetry.logs() == []


def test_old_logs_api_names_the_event_in_an_attribute(telemetry: Telemetry, configure: Any) -> None:
    """opentelemetry-api < 1.35 (no ``event_name``): the retrieval event's name as ``event.name``."""
    configure(ContentMode.EVENT_ONLY)
    logger = get_logger("otel_llm.manual", logger_provider=telemetry.logger_provider)
    assert manual._settings is not None
    manual._settings = dataclasses.replace(manual._settings, events=EventEmitter(logger, modern=False))
    with retrieval(query="q") as step:
        step.record(["d1"])
    span = telemetry.span()
    log = _event(telemetry).log_record
    assert log.trace_id == span.context.trace_id and log.span_id == span.context.span_id
    assert log.timestamp == span.end_time
    assert log.severity_number is SeverityNumber.DEBUG
    assert dict(log.attributes or {}) == {
        semconv.GEN_AI_OPERATION_NAME: "retrieval",
        semconv.GEN_AI_RETRIEVAL_QUERY_TEXT: "q",
        semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_IDS: ("d1",),
        semconv.EVENT_NAME: EVENT,
    }
