"""Rewrite LLM spans to the current GenAI semantic conventions, in place; truncate oversized values.

For each span that :func:`~otel_llm_processor.model.llm_call.parse_span` reads as an LLM call:

- every old or foreign name in :data:`~otel_llm_processor.model.dialects.RENAMES` becomes its
  current name (``gen_ai.system`` -> ``gen_ai.provider.name``, ``llm.token_count.prompt`` ->
  ``gen_ai.usage.input_tokens`` ...), its value mapped where the vocabularies differ (provider
  names, ``llm.request.type`` and ``openinference.span.kind`` -> ``gen_ai.operation.name``);
  a name whose current one is already on the span is dropped, never summed; with
  ``keep_original`` the old attribute stays beside the new one;
- ``gen_ai.provider.name`` and ``gen_ai.operation.name`` are added when missing, provider values
  are mapped to the current ones, and input tokens made inclusive of cache tokens (see
  :mod:`otel_llm_processor.model.dialects`).

Every span's and span event's string/bytes values longer than ``max_attribute_length`` are cut
and end with :data:`TRUNCATION_MARKER` (the whole value, marker included, fits the limit).
A batch that changed gets ``raw = None`` so exporters re-serialise it.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_llm import semconv as sc
from otel_llm_processor.component import CreateSettings, Host, TracesBatch
from otel_llm_processor.model import dialects as d
from otel_llm_processor.model.llm_call import LlmCall, parse_span
from otel_llm_processor.processor.normalize.config import Config

__all__ = ["TRUNCATION_MARKER", "NormalizeProcessor", "normalize_span", "truncate_attributes"]

TRUNCATION_MARKER = "...[truncated]"
_MARKER_BYTES = TRUNCATION_MARKER.encode()
_PROVIDER_KEYS = frozenset({sc.GEN_AI_SYSTEM, sc.OPENINFERENCE_LLM_PROVIDER, sc.OPENINFERENCE_LLM_SYSTEM})
_OPERATION_KEYS = frozenset({sc.TRACELOOP_REQUEST_TYPE, sc.OPENINFERENCE_SPAN_KIND})
# When a span has several old names for one new name, the first in this order wins (newest first,
# as LlmCall reads them); the others are dropped.
_PRIORITY = {key: rank for rank, key in enumerate(d.SLOTS)}


class NormalizeProcessor:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        self._component = str(settings.id)
        self._telemetry = settings.telemetry
        self._next = settings.next_traces
        self._keep = config.keep_original
        self._max = config.max_attribute_length
        self._telemetry.describe("spans_normalized", "LLM spans rewritten to the current GenAI names")
        self._telemetry.describe("attributes_truncated", "attribute values cut to max_attribute_length")

    async def start(self, host: Host) -> None:
        return None

    async def shutdown(self, deadline: float) -> None:
        return None

    async def consume_traces(self, batch: TracesBatch) -> None:
        normalized = truncated = 0
        for rs in batch.request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    if self._max:
                        truncated += truncate_attributes(span.attributes, self._max)
                        for event in span.events:
                            truncated += truncate_attributes(event.attributes, self._max)
                    if normalize_span(span, self._keep):
                        normalized += 1
        if normalized or truncated:
            batch.raw = None
            if normalized:
                self._telemetry.add(self._component, "spans_normalized", normalized)
            if truncated:
                self._telemetry.add(self._component, "attributes_truncated", truncated)
        if self._next is not None:
            await self._next.consume_traces(batch)


def normalize_span(span: Span, keep_original: bool = False) -> bool:
    """Rewrite one span in place; whether anything changed (non-LLM spans are left alone)."""
    call = parse_span(span, "")
    if call is None:
        return False
    attrs = span.attributes
    present = {kv.key for kv in attrs}
    # new name -> (priority, index of the old attribute that provides it)
    chosen: dict[str, tuple[int, int]] = {}
    for i, kv in enumerate(attrs):
        new = d.RENAMES.get(kv.key)
        if new is None or new in present:
            continue
        if kv.key in _OPERATION_KEYS and _operation(kv.key, kv.value) is None:
            continue  # llm.request.type "unknown": nothing to map to
        rank = _PRIORITY.get(kv.key, len(_PRIORITY))
        if new not in chosen or rank < chosen[new][0]:
            chosen[new] = (rank, i)
    # an old name goes when its new name is (or will be) on the span
    targets = present | chosen.keys() | {sc.GEN_AI_OPERATION_NAME}
    if call.provider:
        targets.add(sc.GEN_AI_PROVIDER_NAME)
    old_keys = [kv.key for kv in attrs if d.RENAMES.get(kv.key) in targets]
    changed = False
    additions: list[KeyValue] = []
    for new, (_, i) in chosen.items():
        kv = attrs[i]
        value = _mapped_value(kv.key, kv.value)
        additions.append(KeyValue(key=new, value=value))
        changed = True
    if not keep_original and old_keys:
        drop = set(old_keys)
        kept = [kv for kv in attrs if kv.key not in drop]
        if len(kept) != len(attrs):
            kept_copies = [KeyValue(key=kv.key, value=kv.value) for kv in kept]
            del attrs[:]
            attrs.extend(kept_copies)
            changed = True
    if additions:
        attrs.extend(additions)
    changed |= _fill_in(attrs, call, present | chosen.keys())
    return changed


def _fill_in(attrs: Any, call: LlmCall, present: set[str]) -> bool:
    """Add provider and operation when missing; map provider values; make input tokens inclusive."""
    changed = False
    if sc.GEN_AI_OPERATION_NAME not in present:
        attrs.add(key=sc.GEN_AI_OPERATION_NAME, value=AnyValue(string_value=call.operation))
        changed = True
    if call.provider and sc.GEN_AI_PROVIDER_NAME not in present:
        attrs.add(key=sc.GEN_AI_PROVIDER_NAME, value=AnyValue(string_value=call.provider))
        changed = True
    for kv in attrs:
        if kv.key == sc.GEN_AI_PROVIDER_NAME and call.provider and kv.value.string_value != call.provider:
            kv.value.string_value = call.provider
            changed = True
        elif (
            kv.key == sc.GEN_AI_USAGE_INPUT_TOKENS
            and call.input_tokens is not None
            and kv.value.int_value != call.input_tokens
        ):
            kv.value.int_value = call.input_tokens
            changed = True
    return changed


def _operation(key: str, value: AnyValue) -> str | None:
    if key == sc.TRACELOOP_REQUEST_TYPE:
        return d.TRACELOOP_OPERATIONS.get(value.string_value)
    return d.OPENINFERENCE_OPERATIONS.get(value.string_value)


def _mapped_value(key: str, value: AnyValue) -> AnyValue:
    if key in _PROVIDER_KEYS:
        return AnyValue(string_value=d.normalize_provider(value.string_value))
    if key in _OPERATION_KEYS:
        return AnyValue(string_value=_operation(key, value) or "")
    copy = AnyValue()
    copy.CopyFrom(value)
    return copy


def truncate_attributes(attrs: Any, limit: int) -> int:
    """Cut string/bytes values (also inside arrays) longer than ``limit``; how many were cut."""
    count = 0
    for kv in attrs:
        count += _truncate_value(kv.value, limit)
    return count


def _truncate_value(value: AnyValue, limit: int) -> int:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        text = value.string_value
        if len(text) > limit:
            value.string_value = text[: max(0, limit - len(TRUNCATION_MARKER))] + TRUNCATION_MARKER
            return 1
    elif kind == "bytes_value":
        data = value.bytes_value
        if len(data) > limit:
            value.bytes_value = data[: max(0, limit - len(_MARKER_BYTES))] + _MARKER_BYTES
            return 1
    elif kind == "array_value":
        return sum(_truncate_value(item, limit) for item in value.array_value.values)
    elif kind == "kvlist_value":
        return sum(_truncate_value(item.value, limit) for item in value.kvlist_value.values)
    return 0
