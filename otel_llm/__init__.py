"""otel-llm: OpenTelemetry auto-instrumentation for LLM SDKs.

``opentelemetry-instrument python app.py`` picks the instrumentors up through their entry points;
in code, ``otel_llm.instrument()`` instruments every supported SDK that is installed.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

__all__ = ["__version__", "instrument", "uninstrument"]
__version__ = "0.1.0"

_log = logging.getLogger(__name__)

# module path, class name: one row per provider instrumentor.
_INSTRUMENTORS: tuple[tuple[str, str], ...] = (
    ("otel_llm.openai", "OpenAIInstrumentor"),
    ("otel_llm.anthropic", "AnthropicInstrumentor"),
)


def _instrumentors() -> list[BaseInstrumentor]:
    found: list[BaseInstrumentor] = []
    for module_name, class_name in _INSTRUMENTORS:
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except Exception:  # an instrumentor that cannot even import must not break the app
            _log.debug("otel_llm: %s.%s unavailable", module_name, class_name, exc_info=True)
            continue
        found.append(cls())  # BaseInstrumentor is a singleton per class
    return found


def instrument(**kwargs: Any) -> list[str]:
    """Instrument every supported LLM SDK that is installed; returns the names instrumented.

    Keyword arguments (``tracer_provider``, ``meter_provider``, ...) go to each instrumentor.
    SDKs that are missing or too old are skipped with a debug log, never an exception; an
    instrumentor that fails otherwise is skipped with a warning.
    """
    done: list[str] = []
    for inst in _instrumentors():
        try:
            inst.instrument(**kwargs)
        except Exception:
            _log.warning("otel_llm: %s failed to instrument", type(inst).__name__, exc_info=True)
            continue
        if inst.is_instrumented_by_opentelemetry:
            done.append(type(inst).__name__)
    return done


def uninstrument() -> None:
    """Undo :func:`instrument`: every patch is removed."""
    for inst in _instrumentors():
        if inst.is_instrumented_by_opentelemetry:
            inst.uninstrument()
