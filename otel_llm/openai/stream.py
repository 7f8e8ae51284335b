"""Stream handlers for OpenAI: accumulate chunks/events, fill the span when the stream ends."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from otel_llm import semconv
from otel_llm._core import content
from otel_llm._core.span import LlmCall, Usage
from otel_llm._core.stream import BATCH
from otel_llm.openai import extract

__all__ = ["ChatStreamHandler", "CompletionStreamHandler", "ResponsesStreamHandler"]

_log = logging.getLogger(__name__)

_MAX_TEXT = 1 << 20  # characters kept per stream for estimates and content capture
# Chunks kept before they are folded into the accumulators (bounds the memory held per stream); the
# core hands chunks over in batches of the same size, so a batch is folded as it arrives.
_FOLD_EVERY = BATCH
# Tail mode's mark (ChatStreamHandler.tail): the field that is set on the usage chunk only. The
# chunk before it is the finish chunk, read when the usage chunk arrives.
_MARK = "usage"
_NOTHING_BEFORE = (None, None, None, None, None)
_NOTHING_HEAD = (None, None, None, None)
# Servers (address, port) whose streams did not fit tail mode: a stream that ran to its end had
# its usage chunk or its finish reason elsewhere than the last two chunks (chunks sent after them). Their
# later streams fold every chunk. Bounded: cleared when full.
_FULL_FOLD: set[tuple[str | None, int | None]] = set()
_FULL_FOLD_LIMIT = 256


class _Choice:
    """One choice's accumulators. ``text_len`` counts the characters kept, of text and tool
    arguments together, up to ``_MAX_TEXT``; ``sealed`` the pieces of ``text`` already joined."""

    __slots__ = ("finish_reason", "role", "sealed", "text", "text_len", "tools")

    def __init__(self) -> None:
        self.role = "assistant"
        self.text: list[str] = []
        self.sealed = 0
        self.text_len = 0
        self.finish_reason: str | None = None
        # index -> [id, name, [argument pieces], pieces already joined]
        self.tools: dict[int, list[Any]] = {}

    def compact(self) -> None:
        """Join the pieces added since the last call into one string: a str object per piece costs
        ~50 bytes (a stream of one-character deltas held ~58 bytes per character); joined, what is
        kept stays near one byte per character, and each character is copied once."""
        text = self.text
        if len(text) - self.sealed > 1:
            text[self.sealed :] = ["".join(text[self.sealed :])]
        self.sealed = len(text)
        for slot in self.tools.values():
            args = slot[2]
            if len(args) - slot[3] > 1:
                args[slot[3] :] = ["".join(args[slot[3] :])]
            slot[3] = len(args)


class ChatStreamHandler:
    """``chat.completions.create(stream=True)`` chunks.

    Per chunk only a reference is kept; chunks are folded into the accumulators every
    ``_FOLD_EVERY`` chunks and at the end. At the end, when usage arrived and content capture is
    off, the texts, roles and tool calls (needed only for a local estimate or for content) are not
    read at all: the last chunks give usage, fingerprint and tier, a pass over ``finish_reason``
    gives the finish reasons. The result is the same as folding every chunk.

    ``choice_count`` is the number of choices the request asked for (``n``; None when unknown).
    When known, the pass over ``finish_reason`` runs backwards from the last chunk and stops once
    every one of those choices has its (last) reason, usually after two chunks; a stream that
    honours ``n`` (choice indices ``0..n-1``) gives the same result as the full pass.

    Tail mode (:meth:`tail`): when the request asked for usage, the server confirmed it will send
    it, one choice was asked for and content capture is off, no chunk is kept beyond the app's own
    hold of it: the usage chunk (the last) and what the finish chunk before it carries hold
    everything the span needs. Such a stream cut before its usage chunk (dropped, or closed early by
    the app) has no text to count: its output tokens are estimated as one per chunk.
    """

    __slots__ = (
        "before",
        "choice_count",
        "choices",
        "complete",
        "fingerprint",
        "head",
        "include_usage",
        "last",
        "marked",
        "messages",
        "model",
        "pending",
        "pulled",
        "response_id",
        "service_tier",
        "usage",
    )

    def __init__(
        self, request_messages: Any, choice_count: int | None = None, include_usage: bool = False
    ) -> None:
        self.messages = request_messages  # for the local estimate when no usage chunk comes
        self.choice_count = choice_count
        self.include_usage = include_usage  # the request set stream_options.include_usage
        self.pulled: int | None = None  # in tail mode, the count of chunks of the stream
        self.complete = False  # in tail mode, whether the stream ran to its end
        self.last: Any = None  # in tail mode, the stream's last chunk
        # In tail mode, what on_mark read off the finish chunk: (finish reason, fingerprint, tier,
        # id, model); None when it folded that chunk instead (another shape).
        self.before: tuple[Any, ...] | None = None
        # In tail mode, the first chunk's (id, model, fingerprint, tier), and whether the usage
        # chunk (the mark) arrived.
        self.head: tuple[Any, ...] = _NOTHING_HEAD
        self.marked = False
        self.response_id: str | None = None
        self.model: str | None = None
        self.fingerprint: str | None = None
        self.service_tier: str | None = None
        self.usage: Any = None
        self.choices: dict[int, _Choice] = {}
        self.pending: list[Any] = []

    def tail(self, chunk: Any, call: LlmCall) -> str | None:
        """Tail mode's mark (see the class docstring), asked at the first chunk: ``usage`` when the
        request set ``stream_options.include_usage``, the server confirmed it (its chunks carry the
        ``usage`` field, null until the last, as OpenAI documents), ``n`` is 1 and content capture
        is off; None (every chunk is folded) otherwise."""
        if not self.include_usage or self.choice_count != 1 or call.capture_content:
            return None
        if _FULL_FOLD and (call.server_address, call.server_port) in _FULL_FOLD:
            return None
        fields = getattr(chunk, "model_fields_set", None)
        if not isinstance(fields, (set, frozenset)) or "usage" not in fields:
            return None
        try:
            self.head = (chunk.id, chunk.model, chunk.system_fingerprint, chunk.service_tier)
        except AttributeError:
            return None
        return _MARK

    def on_mark(self, previous: Any) -> None:
        """Tail mode: the usage chunk arrived; ``previous`` is the chunk before it (the finish
        chunk), still held by the app. A chunk of the one choice (index 0) is read into
        ``before``; one of another shape is folded (exact, as the full fold)."""
        self.marked = True
        if previous is None:
            return
        before = None
        try:
            choices = previous.choices
            if not choices or (len(choices) == 1 and choices[0].index == 0):
                reason = choices[0].finish_reason if choices else None
                fields = (previous.system_fingerprint, previous.service_tier, previous.id, previous.model)
                before = (reason, *fields)
        except AttributeError:
            pass
        self._seed()  # a mark before this one (usage on every chunk): its chunk's values first
        if before is None:
            self._fold(previous)
        else:
            self.before = before

    def _seed(self) -> None:
        """Fold what ``before`` holds into the accumulators (the fold's order: before what follows)."""
        before, self.before = self.before, None
        if before is None:
            return
        reason, fingerprint, tier, response_id, model = before
        if not self.response_id:
            self.response_id = response_id
        if not self.model:
            self.model = model
        if fingerprint:
            self.fingerprint = fingerprint
        if tier:
            self.service_tier = tier
        acc = self.choices.get(0)
        if acc is None:
            acc = self.choices[0] = _Choice()
        if reason:
            acc.finish_reason = reason

    def on_tail(self, last: Any, pulled: int, exhausted: bool = False) -> None:
        """Tail mode's end: the last chunk of a stream of ``pulled`` chunks (None: none came);
        ``exhausted``: it ran to its end."""
        self.last = last
        self.pulled = pulled
        self.complete = exhausted

    def on_chunk(self, chunk: Any) -> None:
        pending = self.pending
        pending.append(chunk)
        if len(pending) >= _FOLD_EVERY:
            self._fold_pending()

    def on_chunks(self, chunks: list[Any]) -> None:
        """A batch from the core's stream proxy (``BATCH`` chunks, or the rest at the end)."""
        pending = self.pending
        if pending:
            pending.extend(chunks)
        else:
            self.pending = pending = chunks
        if len(pending) >= _FOLD_EVERY:
            self._fold_pending()

    def _fold_pending(self) -> None:
        pending, self.pending = self.pending, []
        for chunk in pending:
            try:
                self._fold(chunk)
            except Exception:
                _log.debug("otel_llm: stream chunk handling failed", exc_info=True)
        for acc in self.choices.values():
            acc.compact()

    def _finish_light(self) -> bool:
        """Fold the pending chunks without reading texts, roles or tool calls; only when usage
        arrived. False (and nothing changed) when that does not apply: fold everything then."""
        pending = self.pending
        try:
            usage = self.usage
            for chunk in reversed(pending):
                if chunk.usage is not None:
                    usage = chunk.usage
                    break
            if usage is None:
                return False
            # The first non-empty id and model (Azure's first chunk, its prompt filter results,
            # has both empty).
            response_id, model = self.response_id, self.model
            if not (response_id and model):
                for chunk in pending:
                    response_id = response_id or chunk.id
                    model = model or chunk.model
                    if response_id and model:
                        break
            fingerprint, tier = self.fingerprint, self.service_tier
            for chunk in reversed(pending):
                value = chunk.system_fingerprint
                if value:
                    fingerprint = value
                    break
            for chunk in reversed(pending):
                value = chunk.service_tier
                if value:
                    tier = value
                    break
            reasons: dict[int, str | None] = {}
            expected = self.choice_count
            if expected is None:
                for chunk in pending:
                    for choice in chunk.choices or ():
                        index = choice.index
                        reason = choice.finish_reason
                        if reason:
                            reasons[index] = reason
                        elif index not in reasons:
                            reasons[index] = None
            else:
                # Backwards: the first reason met for an index is its last one. Indices without
                # a reason only make empty accumulators, which nothing reads on this path.
                for chunk in reversed(pending):
                    for choice in chunk.choices or ():
                        index = choice.index
                        if index not in reasons:
                            reason = choice.finish_reason
                            if reason:
                                reasons[index] = reason
                    if len(reasons) >= expected:
                        break
        except AttributeError:  # a chunk of another shape: the full fold reads it with defaults
            return False
        self.pending = []
        self.usage, self.response_id, self.model = usage, response_id, model
        self.fingerprint, self.service_tier = fingerprint, tier
        choices = self.choices
        for index, reason in reasons.items():
            acc = choices.get(index)
            if acc is None:
                acc = choices[index] = _Choice()
            if reason:
                acc.finish_reason = reason
        return True

    def _fold(self, chunk: Any) -> None:
        # Fast path: a ChatCompletionChunk has all these fields (plain attribute reads); a chunk of
        # another shape takes the getattr-with-default path.
        try:
            choices = chunk.choices
            fingerprint = chunk.system_fingerprint
            tier = chunk.service_tier
            usage = chunk.usage
            if not self.response_id:  # the first non-empty ones (see _finish_light)
                self.response_id = chunk.id
            if not self.model:
                self.model = chunk.model
        except AttributeError:
            self._on_other_chunk(chunk)
            return
        if fingerprint:
            self.fingerprint = fingerprint
        if tier:
            self.service_tier = tier
        if usage is not None:
            self.usage = usage
        if choices:
            self._on_choices(choices)

    def _on_other_chunk(self, chunk: Any) -> None:
        """A chunk of another shape (a dict-like or a partial object): every field optional."""
        if not self.response_id:
            self.response_id = getattr(chunk, "id", None)
        if not self.model:
            self.model = getattr(chunk, "model", None)
        fingerprint = getattr(chunk, "system_fingerprint", None)
        if fingerprint:
            self.fingerprint = fingerprint
        tier = getattr(chunk, "service_tier", None)
        if tier:
            self.service_tier = tier
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        choices = getattr(chunk, "choices", None)
        if choices:
            self._on_choices(choices)

    def _on_choices(self, choices: Any) -> None:
        accs = self.choices
        for choice in choices:
            acc = accs.get(choice.index)
            if acc is None:
                acc = accs[choice.index] = _Choice()
            if choice.finish_reason:
                acc.finish_reason = choice.finish_reason
            delta = choice.delta
            if delta is None:
                continue
            if delta.role:
                acc.role = delta.role
            text = delta.content
            if text and acc.text_len < _MAX_TEXT:
                acc.text.append(text)
                acc.text_len += len(text)
            if delta.tool_calls:
                self._on_tools(acc, delta.tool_calls)

    @staticmethod
    def _on_tools(acc: _Choice, tool_calls: Any) -> None:
        for tool in tool_calls:
            slot = acc.tools.get(tool.index)
            if slot is None:
                slot = acc.tools[tool.index] = [None, None, [], 0]
            if tool.id:
                slot[0] = tool.id
            fn = tool.function
            if fn is not None:
                if fn.name:
                    slot[1] = fn.name
                arguments = fn.arguments
                if arguments and acc.text_len < _MAX_TEXT:  # the cap covers arguments too
                    slot[2].append(arguments)
                    acc.text_len += len(arguments)

    def on_finish(self, call: LlmCall) -> None:
        if self.pulled is not None:  # tail mode: the last chunk and what on_mark read
            if self._finish_tail(call):
                return
            self._seed()
            if self.last is not None:
                self._fold(self.last)
                self.last = None
            unsure = self._take_head()
            if (self.complete or self.marked) and (
                self.usage is None
                or not any(c.finish_reason for c in self.choices.values())
                or unsure
                or not (self.response_id and self.model)
            ):
                _no_tail_for(call)  # as _finish_tail decides
        elif self.pending and (call.capture_content or not self._finish_light()):
            self._fold_pending()
        ordered = [self.choices[i] for i in sorted(self.choices)]
        # Typed for set_response(typed=True): str values only (another type from the server is left out).
        reasons = [r for c in ordered if type(r := c.finish_reason) is str and r]
        usage = extract.chat_usage(self.usage)
        if usage is None and self.response_id is not None:
            usage = self._estimate(call)
        extra = {}
        if type(self.fingerprint) is str:
            extra[semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = self.fingerprint
        if type(self.service_tier) is str:
            extra[semconv.OPENAI_RESPONSE_SERVICE_TIER] = self.service_tier
        call.set_response(self.response_id, self.model, reasons, usage, extra, typed=True)
        if call.capture_content and ordered:
            call.set_messages(semconv.GEN_AI_OUTPUT_MESSAGES, [self._message(c) for c in ordered])

    def _finish_tail(self, call: LlmCall) -> bool:
        """Tail mode's end for a ``ChatCompletionChunk`` of the one choice asked for (index 0)
        after a finish chunk read by on_mark (or none): the span straight from them and the first
        chunk's fields, as folding them would give it. False, with nothing changed, otherwise."""
        if self.choices or self.response_id or self.model or self.fingerprint or self.service_tier:
            return False  # on_mark folded a chunk of another shape, or met several marks
        last = self.last
        reason, fingerprint, tier, response_id, model = self.before or _NOTHING_BEFORE
        try:
            if last is not None:
                usage = last.usage
                choices = last.choices
                if choices:
                    choice = choices[0]
                    if len(choices) != 1 or choice.index != 0:
                        return False
                    reason = choice.finish_reason or reason
                fingerprint = last.system_fingerprint or fingerprint
                tier = last.service_tier or tier
                response_id = response_id or last.id
                model = model or last.model
            else:
                usage = None
        except AttributeError:
            return False
        self.last = self.before = None
        self.response_id, self.model, self.usage = response_id, model, usage
        self.fingerprint, self.service_tier = fingerprint, tier
        unsure = self._take_head()
        response_id, model = self.response_id, self.model
        fingerprint, tier = self.fingerprint, self.service_tier
        if (self.complete or self.marked) and (
            usage is None or not reason or unsure or not response_id or not model
        ):
            # A stream that ran to its end, or to its usage chunk, without its usage, finish
            # reason, id, model, fingerprint or tier in the last two chunks: this server sends
            # chunks after or between them. This span gets what those held (the tokens as an
            # estimate); the server's later streams fold every chunk.
            _no_tail_for(call)
        counts = extract.chat_usage(usage)
        if counts is None and response_id is not None:
            counts = self._estimate(call, finished=bool(reason))
        extra = {}
        if type(fingerprint) is str:
            extra[semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint
        if type(tier) is str:
            extra[semconv.OPENAI_RESPONSE_SERVICE_TIER] = tier
        reasons = [reason] if type(reason) is str and reason else None
        call.set_response(response_id, model, reasons, counts, extra, typed=True)
        return True

    def _take_head(self) -> bool:
        """Complete the response fields with the first chunk's (tail mode): its id and model come
        first (the first non-empty ones); its fingerprint and tier only where the last chunks had
        none. True when it supplied either of those: a chunk between may have had others."""
        head_id, head_model, head_fingerprint, head_tier = self.head
        self.response_id = head_id or self.response_id
        self.model = head_model or self.model
        unsure = False
        if not self.fingerprint and head_fingerprint:
            self.fingerprint, unsure = head_fingerprint, True
        if not self.service_tier and head_tier:
            self.service_tier, unsure = head_tier, True
        return unsure

    def _input_estimate(self, counter: Any, model: str | None) -> tuple[int, str]:
        """(input tokens, method) counted locally from the request."""
        in_texts = extract.chat_input_texts(self.messages)
        inp, method = counter.count(model, in_texts)
        if method != "heuristic:chars/4":
            # OpenAI chat framing: ~3 tokens per message plus 3 to prime the reply.
            inp += 3 * len(in_texts) + 3
        return inp, method

    def _estimate(self, call: LlmCall, finished: bool | None = None) -> Usage:
        counter = call.settings.tokens
        model = self.model or call.request_model
        inp, method = self._input_estimate(counter, model)
        if self.pulled is not None:
            # Tail mode, cut before the usage chunk: the texts were not kept. Servers stream about
            # one token per chunk; the first chunk (the role) and a finish chunk carry none.
            if finished is None:
                finished = any(c.finish_reason for c in self.choices.values())
            out = max(self.pulled - 1 - finished, 0)
            return Usage(input_tokens=inp, output_tokens=out, estimate_method=f"{method}+chunks")
        out_texts: list[str] = []
        for choice in self.choices.values():
            out_texts.extend(choice.text)
            for slot in choice.tools.values():
                out_texts.extend(slot[2])
        out, _ = counter.count(model, out_texts)
        return Usage(input_tokens=inp, output_tokens=out, estimate_method=method)

    @staticmethod
    def _message(choice: _Choice) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if choice.text:
            parts.append(content.text_part("".join(choice.text)))
        for index in sorted(choice.tools):
            call_id, name, args, _ = choice.tools[index]
            parts.append(content.tool_call_part(call_id, name, "".join(args)))
        return content.message(choice.role, parts, choice.finish_reason)


class CompletionStreamHandler(ChatStreamHandler):
    """Legacy ``completions.create(stream=True)`` chunks: ``Completion`` objects whose choices
    carry ``text`` (no delta, role or tool calls), folded as chat chunks are; a request without
    usage gets the prompt and the texts counted locally (no chat framing). No tail mode."""

    __slots__ = ("prompt",)

    def __init__(self, prompt: Any, choice_count: int | None = None, include_usage: bool = False) -> None:
        super().__init__(None, choice_count, include_usage)
        self.prompt = prompt

    def tail(self, chunk: Any, call: LlmCall) -> str | None:
        return None

    def _on_choices(self, choices: Any) -> None:
        accs = self.choices
        for choice in choices:
            index = getattr(choice, "index", 0)
            acc = accs.get(index)
            if acc is None:
                acc = accs[index] = _Choice()
            reason = getattr(choice, "finish_reason", None)
            if reason:
                acc.finish_reason = reason
            text = getattr(choice, "text", None)
            if text and isinstance(text, str) and acc.text_len < _MAX_TEXT:
                acc.text.append(text)
                acc.text_len += len(text)

    def _input_estimate(self, counter: Any, model: str | None) -> tuple[int, str]:
        return counter.count(model, extract.completion_prompts(self.prompt))


def _no_tail_for(call: LlmCall) -> None:
    server = (call.server_address, call.server_port)
    if server in _FULL_FOLD:
        return
    _log.debug("otel_llm: %s:%s sends chunks after a stream's usage or finish chunk; folding all", *server)
    if len(_FULL_FOLD) >= _FULL_FOLD_LIMIT:
        _FULL_FOLD.clear()
    _FULL_FOLD.add(server)


class ResponsesStreamHandler:
    """``responses.create(stream=True)`` / ``responses.stream()`` events.

    The final response (``response.completed`` / ``incomplete`` / ``failed``) is read as a
    non-streamed one. An in-band ``error`` event (the SDK yields it to the app, raises nothing)
    fails the span: error.type is its ``code``, ``error`` when it has none; a ``response.failed``
    after it wins."""

    __slots__ = ("error", "final", "model", "response_id")

    def __init__(self) -> None:
        self.response_id: str | None = None
        self.model: str | None = None
        self.final: Any = None
        self.error: tuple[str, str] | None = None

    def on_chunk(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        response = getattr(event, "response", None)
        if response is None:
            if kind == "error":
                self.error = extract.failure_of(
                    getattr(event, "code", None), getattr(event, "message", None), "error"
                )
            return
        if self.response_id is None:
            self.response_id = getattr(response, "id", None)
            self.model = getattr(response, "model", None)
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            self.final = response

    def on_finish(self, call: LlmCall) -> None:
        final = self.final
        if final is None:
            call.set_response(self.response_id, self.model)
            if self.error is not None:
                call.fail_type(*self.error)
            return
        attrs, reasons, usage = extract.responses_response(final)
        call.set_response(getattr(final, "id", None), getattr(final, "model", None), reasons)
        call.set_many({k: v for k, v in attrs.items() if not isinstance(v, Mapping)})
        call.set_usage(usage)
        failure = extract.responses_failure(final) or self.error
        if failure is not None:
            call.fail_type(*failure)
        if call.capture_content:
            call.set_messages(semconv.GEN_AI_OUTPUT_MESSAGES, extract.responses_output_messages(final))
