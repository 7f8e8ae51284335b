"""Manual API for what auto-instrumentation cannot see.

A custom LLM call (a self-hosted model over a bespoke client, a provider we do not wrap)::

    from otel_llm.manual import llm_call, current_llm_call, retrieval

    with llm_call(provider="vllm", model="llama-3-8b") as call:
        out = my_client.generate(prompt)
        call.set_response(response_id=out.id, finish_reasons=["stop"])
        call.set_usage(input_tokens=out.prompt_tokens, output_tokens=out.completion_tokens)

    @llm_call(provider="vllm", model="llama-3-8b")       # also works on async functions
    def generate(prompt):
        ...
        current_llm_call().set_usage(input_tokens=12, output_tokens=40)

On a generator (or async generator) function the span covers the iteration: it starts at the first
``next()`` and ends when the generator is exhausted, raises or is closed. The call (and its span) is
current while the body runs, across yields, and never in the consumer between yields.

A RAG retrieval step::

    with retrieval(query=question, data_source="kb-main") as step:
        hits = index.search(question, k=4)
        step.record([h.id for h in hits], [h.score for h in hits], contents=[h.text for h in hits])

Spans get the same treatment as auto-instrumented ones: ``llm_context`` ids, cost for known
models, error status on exceptions, content (messages, query text, document contents) only when
capture is on, through the redaction hook and size limit. In the EVENT_ONLY and SPAN_AND_EVENT
content modes an ``llm_call`` emits the ``gen_ai.client.inference.operation.details`` event and a
``retrieval`` step our ``otel_llm.retrieval.details`` event (see ``otel_llm._core.events``), which
carry the content (in EVENT_ONLY, only they do).

An early close (``GeneratorExit``, e.g. the app stops reading a stream) is not a failure; other
``BaseException``s are. A scope exited in another ``contextvars.Context`` than it was entered in (a
``with`` block around a Starlette ``StreamingResponse`` generator, whose steps run in copies of the
context) still ends its span, once, and raises nothing.

Inside ``opentelemetry.instrumentation.utils.suppress_instrumentation()`` both scopes record
nothing (no span, metric or event), as the auto-instrumented calls do; the code inside runs
unchanged and ``call``/``step`` accept every method as usual.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import inspect
import json
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind

from otel_llm import semconv
from otel_llm._core import content
from otel_llm._core.settings import Settings, resolve_settings
from otel_llm._core.span import LlmCall, Usage, error_type, start_call
from otel_llm.context import _ATTRS, current_attributes

__all__ = ["ManualCall", "RetrievalStep", "configure", "current_llm_call", "llm_call", "retrieval"]

_log = logging.getLogger(__name__)
_F = TypeVar("_F", bound=Callable[..., Any])
_settings: Settings | None = None
_lock = threading.Lock()
_current: contextvars.ContextVar[ManualCall | None] = contextvars.ContextVar(
    "otel_llm_manual_call", default=None
)


def configure(**kwargs: Any) -> None:
    """Resolve the manual API's settings now (same kwargs as ``instrument()``); else done lazily
    from the global providers and the environment at first use."""
    global _settings
    from otel_llm import __version__

    with _lock:
        _settings = resolve_settings("otel_llm.manual", __version__, kwargs)


def _get_settings() -> Settings:
    if _settings is None:
        configure()
    assert _settings is not None
    return _settings


def _quiet(settings: Settings) -> Settings:
    """``settings`` without metrics or events: what a call made while instrumentation is
    suppressed runs with (its span is the invalid one, so it records nothing at all)."""
    return dataclasses.replace(settings, instruments=None, events=None)


class ManualCall:
    """What ``with llm_call(...) as call`` yields."""

    def __init__(self, call: LlmCall) -> None:
        self._call = call

    @property
    def span(self) -> Span:
        """The span, with every attribute set so far through this object written to it."""
        self._call.flush()
        return self._call.span

    def set_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_creation_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> None:
        """Tokens as the provider reported them (input includes cache tokens)."""
        self._call.set_usage(
            Usage(input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens)
        )

    def set_response(
        self,
        response_id: str | None = None,
        response_model: str | None = None,
        finish_reasons: Sequence[str] | None = None,
    ) -> None:
        """``finish_reasons``: a list of reasons, or one reason as a str."""
        if isinstance(finish_reasons, str):
            finish_reasons = (finish_reasons,)
        self._call.set_response(response_id, response_model, finish_reasons)

    def first_chunk(self) -> None:
        """Call when the first streamed token arrives (records time to first chunk)."""
        self._call.first_chunk()

    def set_input_messages(self, messages: Sequence[dict[str, Any]]) -> None:
        """``[{"role": "user", "content": "..."}]`` (or semconv messages with ``parts``)."""
        self._call.set_messages(semconv.GEN_AI_INPUT_MESSAGES, _as_semconv(messages))

    def set_output_messages(self, messages: Sequence[dict[str, Any]]) -> None:
        self._call.set_messages(semconv.GEN_AI_OUTPUT_MESSAGES, _as_semconv(messages))

    def set_attribute(self, key: str, value: Any) -> None:
        self._call.set(key, value)


def _as_semconv(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for msg in messages:
        if "parts" in msg:
            out.append(dict(msg))
        else:
            text = msg.get("content")
            parts = [content.text_part(text)] if isinstance(text, str) else []
            out.append(content.message(str(msg.get("role", "user")), parts, msg.get("finish_reason")))
    return out


def _failure(exc: BaseException | None) -> BaseException | None:
    """What a scope left with ``exc`` records as its failure: an early close of a generator
    (``GeneratorExit``) is none, as in OpenTelemetry's ``use_span``."""
    return None if isinstance(exc, GeneratorExit) else exc


class _Active:
    """A scope made current: ``manual`` as :func:`current_llm_call`, and ``ctx`` (unless None) as
    the OpenTelemetry context. :meth:`undo` puts back what they replaced, without raising (in
    another Context it leaves both as they are)."""

    __slots__ = ("_otel_token", "_token")

    def __init__(self, manual: ManualCall | None, ctx: otel_context.Context | None) -> None:
        self._token = _current.set(manual)
        self._otel_token = None if ctx is None else otel_context.attach(ctx)

    def undo(self) -> None:
        try:
            _current.reset(self._token)
        except Exception:
            # Not the Context this was made in (exited in a copy of it, e.g. a step of a Starlette
            # StreamingResponse, or in another thread or task), where the tokens cannot be used.
            # Nothing is written there: that Context never had our values, and setting the ones
            # from where we entered would hand them to whatever runs there next (a pool worker's
            # next job). The OpenTelemetry token was made with ours, so it would fail alike (and
            # log an error); OpenTelemetry's own scopes also leave both Contexts as they are.
            _log.debug("otel_llm: scope exited in another Context; left as is")
            return
        if self._otel_token is not None:
            otel_context.detach(self._otel_token)


class _Resumer:
    """A decorated generator's scope, made current around each resume of its body only, undone
    before the item reaches the consumer. Each resume runs in the consumer's current context
    (what it set since applies: suppression, baggage, ``llm_context`` ids) with the body's current
    span and call laid over it: ours, or one the body keeps open across a yield, as long as it has
    not ended. Nothing else of the body's context is carried from one step to the next: a step
    may run in another Context, where the body's own exits cannot undo what they set."""

    __slots__ = ("_attrs_token", "_manual", "_own", "_own_span", "_span")

    def __init__(self, manual: ManualCall | None, ctx: otel_context.Context | None) -> None:
        self._own = self._manual = manual
        # Our span (None: the OpenTelemetry context is left alone, e.g. when suppressed).
        self._own_span: Span | None = None if ctx is None else trace.get_current_span(ctx)
        self._span = self._own_span
        self._attrs_token: contextvars.Token[tuple[tuple[str, str], ...]] | None = None

    def enter(self) -> _Active:
        span = self._span
        ctx = None if span is None else trace.set_span_in_context(span, otel_context.get_current())
        active = _Active(self._manual, ctx)
        # A token, so the leave puts back the consumer's ids whatever the body set.
        self._attrs_token = _ATTRS.set(_ATTRS.get())
        return active

    def leave(self, active: _Active) -> None:
        call = _current.get()
        live_call = call is not None and (call is self._own or not call._call.ended)
        self._manual = call if live_call else self._own
        if self._own_span is not None:
            span = trace.get_current_span()
            self._span = span if span is self._own_span or span.is_recording() else self._own_span
        token, self._attrs_token = self._attrs_token, None
        if token is not None:
            with contextlib.suppress(ValueError):  # another Context (see _Active.undo): left as is
                _ATTRS.reset(token)
        active.undo()


class _Scope:
    """Context manager and decorator (sync and async functions, generators and async generators)
    around one span."""

    _active: _Active | None = None

    def _start(self) -> tuple[Any, ManualCall | None, otel_context.Context | None]:
        """Start the span: what ``with`` yields, the call to make current, the OpenTelemetry
        context to make current (None: leave it as it is)."""
        raise NotImplementedError

    def _finish(self, exc: BaseException | None) -> None:
        """Record the failure ``exc`` (if any) and end the span; never raises."""
        raise NotImplementedError

    def __enter__(self) -> Any:
        handle, manual, ctx = self._start()
        self._active = _Active(manual, ctx)
        return handle

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        active, self._active = self._active, None
        try:
            if active is not None:
                active.undo()
        finally:
            self._finish(_failure(exc))

    def _fresh(self) -> _Scope:
        raise NotImplementedError

    def __call__(self, func: _F) -> _F:
        if inspect.isasyncgenfunction(func):
            return _async_generator_wrapper(self._fresh, func)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):
            return _generator_wrapper(self._fresh, func)  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _generator_wrapper(
    fresh: Callable[[], _Scope], func: Callable[..., Generator[Any, Any, Any]]
) -> Callable[..., Generator[Any, Any, Any]]:
    """``yield from func(...)`` in a scope started at the first ``next()``, current only while the
    body runs (see :class:`_Resumer`), ended when the generator returns, raises or is closed."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        scope = fresh()
        _, manual, ctx = scope._start()
        resumer = _Resumer(manual, ctx)
        failure: BaseException | None = None
        try:
            inner = func(*args, **kwargs)
            sent: Any = None
            thrown: BaseException | None = None
            while True:
                active = resumer.enter()
                try:
                    item = inner.send(sent) if thrown is None else inner.throw(thrown)
                except StopIteration as stop:
                    return stop.value
                finally:
                    resumer.leave(active)
                sent = thrown = None
                try:
                    sent = yield item
                except GeneratorExit:
                    active = resumer.enter()
                    try:
                        inner.close()
                    finally:
                        resumer.leave(active)
                    raise
                except BaseException as exc:  # thrown in by the consumer: the body gets it
                    thrown = exc
        except BaseException as exc:
            failure = _failure(exc)
            raise
        finally:
            scope._finish(failure)

    return wrapper


def _async_generator_wrapper(
    fresh: Callable[[], _Scope], func: Callable[..., AsyncGenerator[Any, Any]]
) -> Callable[..., AsyncGenerator[Any, Any]]:
    """:func:`_generator_wrapper` for async generator functions."""

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        scope = fresh()
        _, manual, ctx = scope._start()
        resumer = _Resumer(manual, ctx)
        failure: BaseException | None = None
        try:
            inner = func(*args, **kwargs)
            sent: Any = None
            thrown: BaseException | None = None
            while True:
                active = resumer.enter()
                try:
                    item = await (inner.asend(sent) if thrown is None else inner.athrow(thrown))
                except StopAsyncIteration:
                    return
                finally:
                    resumer.leave(active)
                sent = thrown = None
                try:
                    sent = yield item
                except GeneratorExit:
                    active = resumer.enter()
                    try:
                        await inner.aclose()
                    finally:
                        resumer.leave(active)
                    raise
                except BaseException as exc:  # thrown in by the consumer: the body gets it
                    thrown = exc
        except BaseException as exc:
            failure = _failure(exc)
            raise
        finally:
            scope._finish(failure)

    return wrapper


class llm_call(_Scope):
    """A span for one custom LLM call: ``"{operation} {model}"``, kind CLIENT."""

    def __init__(
        self,
        *,
        provider: str,
        model: str,
        operation: str = semconv.OP_CHAT,
        server_address: str | None = None,
        server_port: int | None = None,
        stream: bool = False,
    ) -> None:
        self._args = (provider, model, operation, server_address, server_port, stream)
        self._call: LlmCall | None = None

    def _fresh(self) -> llm_call:
        provider, model, operation, address, port, stream = self._args
        return llm_call(
            provider=provider,
            model=model,
            operation=operation,
            server_address=address,
            server_port=port,
            stream=stream,
        )

    def _start(self) -> tuple[ManualCall, ManualCall, otel_context.Context | None]:
        provider, model, operation, address, port, stream = self._args
        settings = _get_settings()
        if not is_instrumentation_enabled():
            # Suppressed: a call that records nothing (no span, metric or event); the context is
            # left as it is, so spans started inside keep their real parent.
            self._call = LlmCall(
                _quiet(settings), INVALID_SPAN, operation, provider, model, address, port, {}, []
            )
            manual = ManualCall(self._call)
            return manual, manual, None
        self._call = start_call(
            settings,
            operation=operation,
            provider=provider,
            request_model=model,
            server_address=address,
            server_port=port,
            stream=stream,
        )
        manual = ManualCall(self._call)
        return manual, manual, trace.set_span_in_context(self._call.span)

    def _finish(self, exc: BaseException | None) -> None:
        call = self._call
        if call is None:
            return
        try:
            if exc is not None:
                call.fail(exc)
        finally:
            call.end()


def current_llm_call() -> ManualCall | None:
    """The innermost ``llm_call`` scope (for decorated functions)."""
    return _current.get()


class RetrievalStep:
    """What ``with retrieval(...) as step`` yields."""

    def __init__(
        self, span: Span, settings: Settings, event_attributes: dict[str, Any] | None = None
    ) -> None:
        self.span = span
        self._settings = settings
        # The attributes of the step's ``otel_llm.retrieval.details`` event (content modes EVENT_ONLY
        # and SPAN_AND_EVENT, not suppressed; else None): collected whether or not the span records.
        self._event_attrs = event_attributes

    def record(
        self,
        document_ids: Sequence[str],
        scores: Sequence[float] | float | None = None,
        contents: Sequence[str] | None = None,
    ) -> None:
        """Ids and scores always; contents only when content capture is on: on the span in the
        SPAN_ONLY and SPAN_AND_EVENT modes, on the step's event in EVENT_ONLY and SPAN_AND_EVENT.
        One document may be given as a str id, a number and a str content."""
        try:
            if isinstance(document_ids, str):
                document_ids = (document_ids,)
            if isinstance(scores, (int, float)):
                scores = (scores,)
            if isinstance(contents, str):
                contents = (contents,)
            self._record(document_ids, scores, contents)
        except Exception:
            _log.debug("otel_llm: recording the retrieval step failed", exc_info=True)

    def _record(
        self, document_ids: Sequence[str], scores: Sequence[float] | None, contents: Sequence[str] | None
    ) -> None:
        span = self.span
        on_span = span.is_recording()
        event = self._event_attrs
        if not on_span and event is None:
            return
        ids = [str(d) for d in document_ids]
        attrs: dict[str, Any] = {semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_IDS: ids}
        floats = None
        if scores is not None:
            floats = attrs[semconv.OTEL_LLM_RETRIEVAL_DOCUMENT_SCORES] = [float(s) for s in scores]
        settings = self._settings
        documents = None
        if contents is not None and (settings.capture_content or event is not None):
            documents = _documents_json(settings, ids, floats, contents)
        if on_span:
            if documents is not None and settings.capture_content:
                span.set_attributes({**attrs, semconv.GEN_AI_RETRIEVAL_DOCUMENTS: documents})
            else:
                span.set_attributes(attrs)
        if event is not None:
            event.update(attrs)
            if documents is not None:
                event[semconv.GEN_AI_RETRIEVAL_DOCUMENTS] = documents

    def _end(self, exc: BaseException | None) -> None:
        """Record the failure ``exc`` (if any), emit the step's event (if any) and end the span,
        the event's timestamp being the span's end time."""
        span = self.span
        end_time: int | None = None
        try:
            event, self._event_attrs = self._event_attrs, None
            if exc is not None:
                type_name = error_type(exc)
                if span.is_recording():
                    span.set_attribute(semconv.ERROR_TYPE, type_name)
                    span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
                if event is not None:
                    event[semconv.ERROR_TYPE] = type_name
            emitter = self._settings.events
            if event is not None and emitter is not None:
                end_time = time.time_ns()
                emitter.emit(span, event, end_time, semconv.EVENT_OTEL_LLM_RETRIEVAL_DETAILS)
        except Exception:
            _log.debug("otel_llm: finishing the retrieval span failed", exc_info=True)
        finally:
            try:
                span.end(end_time=end_time)
            except Exception:  # a span processor's on_end that raises must not reach the app
                _log.debug("otel_llm: ending the retrieval span failed", exc_info=True)


def _documents_json(
    settings: Settings, ids: list[str], scores: list[float] | None, contents: Sequence[str]
) -> str:
    """``gen_ai.retrieval.documents``: ``[{"id", "score", "content"}]``, each content through the
    redaction hook and the size limit."""
    docs = []
    for i, doc_id in enumerate(ids):
        entry: dict[str, Any] = {"id": doc_id}
        if scores is not None and i < len(scores):
            entry["score"] = scores[i]
        if i < len(contents):
            entry["content"] = content.encode_text(settings, contents[i])
        docs.append(entry)
    return json.dumps(docs, ensure_ascii=False)


class retrieval(_Scope):
    """A span for a RAG retrieval step: ``"retrieval {data_source}"``, kind CLIENT.

    In the EVENT_ONLY and SPAN_AND_EVENT content modes the step also emits one
    ``otel_llm.retrieval.details`` event when it ends (unless instrumentation is suppressed).
    """

    def __init__(
        self, *, query: str | None = None, data_source: str | None = None, provider: str | None = None
    ) -> None:
        self._query = query
        self._data_source = data_source
        self._provider = provider
        self._step: RetrievalStep | None = None

    def _fresh(self) -> retrieval:
        return retrieval(query=self._query, data_source=self._data_source, provider=self._provider)

    def _start(self) -> tuple[RetrievalStep, ManualCall | None, otel_context.Context | None]:
        settings = _get_settings()
        if not is_instrumentation_enabled():
            # Suppressed: no span and no event; the context is left as it is.
            self._step = RetrievalStep(INVALID_SPAN, settings)
            return self._step, _current.get(), None
        with_event = settings.events is not None
        attrs: dict[str, Any] = {semconv.GEN_AI_OPERATION_NAME: semconv.OP_RETRIEVAL}
        if self._provider:
            attrs[semconv.GEN_AI_PROVIDER_NAME] = self._provider
        if self._data_source:
            attrs[semconv.GEN_AI_DATA_SOURCE_ID] = self._data_source
        attrs.update(current_attributes())
        query = None
        if self._query is not None and (settings.capture_content or with_event):
            query = content.encode_text(settings, self._query)
        event_attrs = None
        if with_event:
            event_attrs = dict(attrs)
            if query is not None:
                event_attrs[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] = query
        if query is not None and settings.capture_content:
            attrs[semconv.GEN_AI_RETRIEVAL_QUERY_TEXT] = query
        name = f"{semconv.OP_RETRIEVAL} {self._data_source}" if self._data_source else semconv.OP_RETRIEVAL
        span = settings.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
        self._step = RetrievalStep(span, settings, event_attrs)
        # The current call stays current inside the step.
        return self._step, _current.get(), trace.set_span_in_context(span)

    def _finish(self, exc: BaseException | None) -> None:
        if self._step is not None:
            self._step._end(exc)
