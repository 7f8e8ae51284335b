"""Set attributes on a span: on the OpenTelemetry SDK's own span, without re-validating ours.

``Span.set_attributes`` of the SDK cleans every value (a chain of ``isinstance`` checks, a copy
of the mapping, one lock per key): about 7k instructions per attribute, more than everything else
this package does per attribute. The values written here are already clean: ``str``, ``int``,
``float``, ``bool`` and tuples of those. :func:`set_attributes` therefore inserts them straight
into the SDK span's attribute dict, under the same two locks and with the same result as the
public method, but only when that is exactly equivalent:

- the span is exactly the SDK's ``_Span`` (no subclass), whose ``set_attributes`` is the one
  inspected at import, and it has not ended;
- its attributes are exactly a ``BoundedAttributes`` (mutable) with no value-length limit
  (``OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`` / ``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`` /
  ``SpanLimits`` unset) and room for every new key under its count limit (nothing is evicted);
- every key is a non-empty ``str`` and every value is ``None``, ``bool``, ``int``, ``float``,
  ``str``, ``bytes`` (exact types) or a ``list``/``tuple`` of those (stored as a tuple, as the
  SDK does).

Anything else (another span type, a proxy tracer's non-recording span, limits, an odd value, an
SDK whose layout differs from the one probed at import) goes through the public
``span.set_attributes``. The probe runs once, at import: it checks the SDK's classes have the
fields used here and that the direct insert gives the same mapping as the SDK's own path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from typing import Any

__all__ = ["fast_path_available", "set_attributes", "start_span"]

_log = logging.getLogger(__name__)

_SCALARS = frozenset((str, int, float, bool, bytes, type(None)))


def _public(
    span: Any, attributes: Mapping[str, Any], check: list[str] | None = None, weak_first: int = 0
) -> None:
    span.set_attributes(_without_weak(span, attributes, weak_first))


def _without_weak(span: Any, attributes: Mapping[str, Any], weak_first: int) -> Mapping[str, Any]:
    """``attributes`` less those of its first ``weak_first`` keys the span already has (see
    ``set_attributes``' ``weak_first``)."""
    if not weak_first:
        return attributes
    existing = getattr(span, "attributes", None) or {}
    if not existing:
        return attributes
    weak = set(islice(attributes, weak_first))
    return {k: v for k, v in attributes.items() if k not in weak or k not in existing}


def _clean(attributes: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """What the SDK would store (``attributes`` itself when nothing changes), or None when any key
    or value needs the SDK's cleaning."""
    return _clean_keys(attributes, attributes.keys())


def _clean_keys(attributes: Mapping[str, Any], keys: Iterable[str]) -> Mapping[str, Any] | None:
    """:func:`_clean` checking only the items under ``keys`` (absent keys are skipped): the caller
    vouches for every other item (a non-empty ``str`` key and a value of an exact scalar type or a
    tuple of those)."""
    if not keys:
        return attributes
    scalars = _SCALARS
    lists: list[str] | None = None
    for key in keys:
        value = attributes.get(key, _ABSENT)
        if value is _ABSENT:
            continue
        if type(key) is not str or not key:
            return None
        kind = type(value)
        if kind in scalars:
            continue
        if (kind is not tuple and kind is not list) or not scalars.issuperset(map(type, value)):
            return None
        if kind is list:
            if lists is None:
                lists = []
            lists.append(key)
    if lists is None:
        return attributes
    out = dict(attributes)
    for key in lists:
        out[key] = tuple(out[key])
    return out


_ABSENT = object()
# Tests set this to check every caller's promise in set_attributes(..., check=keys): called with
# (attributes, keys) before the insert.
verify_hook: Callable[[Mapping[str, Any], list[str]], None] | None = None


def _build() -> tuple[Callable[[Any, Mapping[str, Any], list[str] | None, int], None], bool]:
    try:
        from opentelemetry.attributes import BoundedAttributes
        from opentelemetry.sdk.trace import _Span
    except ImportError:
        return _public, False
    sdk_set_attributes = _Span.set_attributes

    def set_attributes(
        span: Any, attributes: Mapping[str, Any], check: list[str] | None = None, weak_first: int = 0
    ) -> None:
        if type(span) is not _Span or _Span.set_attributes is not sdk_set_attributes:
            span.set_attributes(_without_weak(span, attributes, weak_first))
            return
        try:
            bounded: Any = span._attributes
            if (
                type(bounded) is not BoundedAttributes
                or bounded.max_value_len is not None
                or (bounded.maxlen is not None and len(bounded._dict) + len(attributes) > bounded.maxlen)
            ):
                cleaned = None
            elif check is None:
                cleaned = _clean(attributes)
            else:
                if verify_hook is not None:
                    verify_hook(attributes, check)
                cleaned = _clean_keys(attributes, check) if check else attributes
            if cleaned is not None:
                with span._lock:
                    if span._end_time is None:
                        with bounded._lock:
                            if not bounded._immutable:
                                stored = bounded._dict
                                if stored.keys().isdisjoint(cleaned):
                                    stored.update(cleaned)
                                else:
                                    weak = set(islice(cleaned, weak_first)) if weak_first else ()
                                    for key, value in cleaned.items():
                                        if key in weak and key in stored:
                                            continue  # written since the deferred start: it wins
                                        stored.pop(key, None)
                                        stored[key] = value
                                return
        except AttributeError:  # a layout we did not probe: the public method decides
            pass
        span.set_attributes(_without_weak(span, attributes, weak_first))

    if not _probe(BoundedAttributes):
        return _public, False
    return set_attributes, True


def _probe(bounded_type: Any) -> bool:
    """The direct insert and the SDK's ``_set_items`` store the same mapping (keys, order, types)."""
    sample = {"a.str": "x", "a.int": 3, "a.float": 0.5, "a.bool": True, "a.list": ["stop", "length"]}
    try:
        slow = bounded_type(128, {"a.int": 1, "b.keep": "y"}, immutable=False)
        fast = bounded_type(128, {"a.int": 1, "b.keep": "y"}, immutable=False)
        slow._set_items(sample)
        cleaned = _clean(sample)
        if cleaned is None or fast.max_value_len is not None or fast._immutable:
            return False
        with fast._lock:
            stored = fast._dict
            for key, value in cleaned.items():
                stored.pop(key, None)
                stored[key] = value
        same = list(slow.items()) == list(fast.items()) and slow.dropped == fast.dropped == 0
        return same and [type(v) for v in slow.values()] == [type(v) for v in fast.values()]
    except Exception:
        _log.debug("otel_llm: SDK attribute layout not recognised; using Span.set_attributes", exc_info=True)
        return False


set_attributes, fast_path_available = _build()
"""``set_attributes(span, attributes, check=None, weak_first=0)``: same result as
``span.set_attributes(attributes)``.

``check``, when given, lists the only keys whose items may need cleaning: the caller built every
other item itself, with a non-empty ``str`` key and a value of an exact scalar type (``str``,
``int``, ``float``, ``bool``, ``bytes``) or a tuple of those, so only the listed ones are checked.

``weak_first``: the first that many keys of ``attributes`` are a deferred start's (see
``start_span``): where the span already has one of them (written by other code while the call
ran), that value is kept, as it would have overwritten the start attribute."""


# ---- starting a span ---------------------------------------------------------------------------
# ``Tracer.start_span(name, attributes=...)`` cleans every start attribute as well (a
# ``BoundedAttributes`` built key by key). Only two things can see those attributes before the
# span is returned: the sampler (``should_sample``) and the span processors' ``on_start``. When
# both are SDK built-ins that ignore them (the default ``ParentBased(ALWAYS_ON)`` or any
# ratio/static sampler; ``BatchSpanProcessor``/``SimpleSpanProcessor``, whose ``on_start`` does
# nothing), a span started bare gives the same exported span as long as its start attributes are
# written before it ends: the caller (``LlmCall``) writes them at the end, in the one insert that
# also writes the response's attributes, first (``weak_first``: a value other code set on our span
# while the call ran is kept, as if ours had been there first). While the call runs the span's
# ``attributes`` lack them; and a span that other code ends before the call returns keeps none.
# Anything else (a custom sampler or processor, a proxy tracer, another SDK) gets the attributes at
# start, as usual.
def _noop_on_start(self: Any, span: Any, parent_context: Any = None) -> None:
    pass


def _build_start() -> Callable[[Any, str, Any, Mapping[str, Any], Any], tuple[Any, bool]]:
    def plain(
        tracer: Any, name: str, kind: Any, attributes: Mapping[str, Any], context: Any = None
    ) -> tuple[Any, bool]:
        return tracer.start_span(name, context=context, kind=kind, attributes=attributes), False

    if not fast_path_available:
        return plain
    try:
        from opentelemetry.sdk.trace import (
            ConcurrentMultiSpanProcessor,
            SynchronousMultiSpanProcessor,
            Tracer,
            sampling,
        )
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        return plain
    noop = _noop_on_start.__code__
    quiet: dict[type, Any] = {}
    processor_cls: Any
    for processor_cls in (BatchSpanProcessor, SimpleSpanProcessor):
        code = getattr(getattr(processor_cls, "on_start", None), "__code__", None)
        if code is not None and code.co_code == noop.co_code and code.co_argcount == noop.co_argcount:
            quiet[processor_cls] = processor_cls.on_start
    plain_samplers: dict[type, Any] = {}
    parent_based: dict[type, Any] = {}
    for names, known in (
        (("StaticSampler", "TraceIdRatioBased"), plain_samplers),
        (("ParentBased", "ParentBasedTraceIdRatio"), parent_based),
    ):
        for name in names:
            sampler_cls: Any = getattr(sampling, name, None)
            if sampler_cls is not None:
                known[sampler_cls] = sampler_cls.should_sample
    delegates = (
        "_root",
        "_remote_parent_sampled",
        "_remote_parent_not_sampled",
        "_local_parent_sampled",
        "_local_parent_not_sampled",
    )
    multis = (SynchronousMultiSpanProcessor, ConcurrentMultiSpanProcessor)

    def blind_sampler(sampler: Any) -> bool:
        cls = type(sampler)
        if plain_samplers.get(cls, _MISSING) is cls.should_sample:
            return True
        if parent_based.get(cls, _MISSING) is not cls.should_sample:
            return False
        try:
            inner = [getattr(sampler, n) for n in delegates]
        except AttributeError:
            return False
        return all(type(d) in plain_samplers and blind_sampler(d) for d in inner)

    def blind_processors(processor: Any) -> bool:
        if type(processor) not in multis:
            return False
        procs = getattr(processor, "_span_processors", None)
        if type(procs) is not tuple:
            return False
        return all(quiet.get(type(p), _MISSING) is type(p).on_start for p in procs)

    # The verdict for the last (sampler, processor tuple) seen: both are replaced, never mutated,
    # when the provider changes (add_span_processor builds a new tuple).
    last: list[Any] = [None, None, False]

    def start_span(
        tracer: Any, name: str, kind: Any, attributes: Mapping[str, Any], context: Any = None
    ) -> tuple[Any, bool]:
        if type(tracer) is not Tracer:
            return tracer.start_span(name, context=context, kind=kind, attributes=attributes), False
        sampler = tracer.sampler
        processor = tracer.span_processor
        procs = getattr(processor, "_span_processors", None)
        if sampler is last[0] and procs is last[1] and procs is not None:
            blind = last[2]
        else:
            try:
                blind = blind_sampler(sampler) and blind_processors(processor)
            except Exception:
                blind = False
            last[:] = [sampler, procs, blind]
        if not blind:
            return tracer.start_span(name, context=context, kind=kind, attributes=attributes), False
        return tracer.start_span(name, context=context, kind=kind), True

    return start_span


_MISSING = object()
start_span = _build_start()
"""``start_span(tracer, name, kind, attributes, context=None) -> (span, deferred)``: the span
``tracer.start_span(name, context=context, kind=kind, attributes=attributes)`` gives. ``deferred`` True means the span
was started bare because nothing can see its start attributes: the caller must write ``attributes``
(``set_attributes``) before it ends, together with its other attributes (one insert, and without
the SDK re-cleaning them)."""
