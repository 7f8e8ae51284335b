"""Settings resolved once, when an instrumentor's ``_instrument`` runs, and closed over by wrappers.

Nothing here is read per call: env vars, the tracer, the instruments, the price book and the token
counter are all resolved by :func:`resolve_settings`.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Tracer

from otel_llm import semconv
from otel_llm._core.cost import PriceBook, default_price_book
from otel_llm._core.events import EventEmitter, create_emitter
from otel_llm._core.metrics import Instruments, create_instruments
from otel_llm._core.tokens import TokenCounter, default_token_counter

__all__ = [
    "CONTENT_ENV",
    "MAX_LENGTH_ENV",
    "ContentMode",
    "Redactor",
    "Settings",
    "parse_content_mode",
    "resolve_settings",
]

_log = logging.getLogger(__name__)

CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
MAX_LENGTH_ENV = "OTEL_LLM_CONTENT_MAX_LENGTH"
DEFAULT_MAX_LENGTH = 8192

# A redaction hook: gets every captured string (message text, tool arguments and results, retrieval
# query and documents) and returns what to record instead.
Redactor = Callable[[str], str]


class ContentMode(enum.Enum):
    """Values of ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (as in opentelemetry-util-genai)."""

    NO_CONTENT = "no_content"
    SPAN_ONLY = "span_only"
    EVENT_ONLY = "event_only"
    SPAN_AND_EVENT = "span_and_event"


def _known_mode(raw: str) -> ContentMode | None:
    """A util-genai name (any case) or a legacy ``true``/``false`` (``1``/``0``, ...); else None."""
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return ContentMode.SPAN_ONLY
    if value in ("false", "0", "no", "off"):
        return ContentMode.NO_CONTENT
    for mode in ContentMode:
        if mode.value == value:
            return mode
    return None


def parse_content_mode(raw: str | None) -> ContentMode:
    """Parse the env value: util-genai names (any case) or the legacy ``true``/``false``."""
    if raw is None or not raw.strip():
        return ContentMode.NO_CONTENT
    mode = _known_mode(raw)
    if mode is not None:
        return mode
    _log.warning("otel_llm: %s=%r is not a known value; content capture stays off", CONTENT_ENV, raw)
    return ContentMode.NO_CONTENT


def _max_length(raw: str | None) -> int:
    if raw is None or not raw.strip():
        return DEFAULT_MAX_LENGTH
    try:
        value = int(raw)
    except ValueError:
        _log.warning("otel_llm: %s=%r is not an integer; using %d", MAX_LENGTH_ENV, raw, DEFAULT_MAX_LENGTH)
        return DEFAULT_MAX_LENGTH
    if value < 0:  # not 0 ("no limit"): a typo must not lift the limit
        _log.warning("otel_llm: %s=%r is negative; using %d", MAX_LENGTH_ENV, raw, DEFAULT_MAX_LENGTH)
        return DEFAULT_MAX_LENGTH
    return value


@dataclass(frozen=True)
class Settings:
    """Everything a wrapper needs, fixed at instrument time."""

    tracer: Tracer
    instruments: Instruments | None
    content_mode: ContentMode
    max_content_length: int
    redact: Redactor | None
    prices: PriceBook
    tokens: TokenCounter
    # The gen_ai.client.inference.operation.details emitter: set in EVENT_ONLY and SPAN_AND_EVENT
    # modes only (then content is collected for the event); None otherwise, read once per call.
    events: EventEmitter | None = None
    # True when message content goes on spans (SPAN_ONLY or SPAN_AND_EVENT); derived, read per call.
    capture_content: bool = field(init=False)

    def __post_init__(self) -> None:
        capture = self.content_mode in (ContentMode.SPAN_ONLY, ContentMode.SPAN_AND_EVENT)
        object.__setattr__(self, "capture_content", capture)


def resolve_settings(
    instrumenting_module: str,
    version: str,
    kwargs: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from ``instrument(**kwargs)`` and the environment.

    Recognised kwargs: ``tracer_provider``, ``meter_provider``, ``logger_provider`` (events; default
    the global one), ``capture_content`` (bool or a :class:`ContentMode`, overrides the env var),
    ``max_content_length``, ``redact``, ``price_book``, ``token_counter``.
    """
    env = os.environ if environ is None else environ
    tracer = trace.get_tracer(
        instrumenting_module,
        version,
        tracer_provider=kwargs.get("tracer_provider"),
        schema_url=semconv.SCHEMA_URL,
    )
    mode = _content_mode_option(kwargs.get("capture_content"), env)
    max_len = _max_length_option(kwargs.get("max_content_length"))
    redact = kwargs.get("redact")
    if redact is not None and not callable(redact):
        _log.warning("otel_llm: redact=%r is not callable; ignored", redact)
        redact = None
    prices = kwargs.get("price_book")
    counter = kwargs.get("token_counter")
    events = None
    if mode in (ContentMode.EVENT_ONLY, ContentMode.SPAN_AND_EVENT):
        events = create_emitter(instrumenting_module, version, kwargs.get("logger_provider"))
    return Settings(
        tracer=tracer,
        instruments=create_instruments(instrumenting_module, version, kwargs.get("meter_provider")),
        content_mode=mode,
        max_content_length=max_len if max_len is not None else _max_length(env.get(MAX_LENGTH_ENV)),
        redact=redact,
        prices=prices if isinstance(prices, PriceBook) else default_price_book(),
        tokens=counter if isinstance(counter, TokenCounter) else default_token_counter(),
        events=events,
    )


def _content_mode_option(capture: Any, env: Mapping[str, str]) -> ContentMode:
    """``capture_content=``: a :class:`ContentMode`, a bool, or the env var's values as a string;
    None (or anything else, with a warning) leaves it to the env var."""
    if isinstance(capture, ContentMode):
        return capture
    if isinstance(capture, bool):
        return ContentMode.SPAN_ONLY if capture else ContentMode.NO_CONTENT
    if isinstance(capture, str):
        mode = _known_mode(capture)
        if mode is not None:
            return mode
    if capture is not None:
        _log.warning(
            "otel_llm: capture_content=%r is not a ContentMode, bool or one of %s; using %s",
            capture,
            ", ".join(mode.value for mode in ContentMode),
            CONTENT_ENV,
        )
    return parse_content_mode(env.get(CONTENT_ENV))


def _max_length_option(value: Any) -> int | None:
    """``max_content_length=``: an int >= 0 (0: no limit); None, or anything else with a warning,
    leaves it to the env var."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    _log.warning("otel_llm: max_content_length=%r is not an int >= 0; using %s", value, MAX_LENGTH_ENV)
    return None
