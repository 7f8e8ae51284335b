"""OpenTelemetry instrumentation of the ``anthropic`` SDK (entry point ``otel_llm_anthropic``).

    from otel_llm.anthropic import AnthropicInstrumentor
    AnthropicInstrumentor().instrument(tracer_provider=..., meter_provider=...)

One CLIENT span ``chat {model}`` per ``messages.create`` / ``messages.parse`` / ``messages.stream()``
call, and per the same calls of ``beta.messages`` (beta features, tool runners), sync and async,
streamed or not. The SDK's own span for those calls is replaced by ours
unless the user explicitly asked for it (``ANTHROPIC_OPEN_TELEMETRY=true``, ``keep_sdk_spans=True``,
or a client given its own ``tracer_provider``): see docs/anthropic.md.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Collection, Sequence
from functools import partial
from typing import Any

from otel_llm._core.instrumentor import LlmInstrumentor, WrapTarget
from otel_llm.anthropic import patch

__all__ = ["SDK_TELEMETRY_ENV", "AnthropicInstrumentor"]

# The SDK's own switch; only an explicit true value counts as asking for the SDK's spans.
SDK_TELEMETRY_ENV = "ANTHROPIC_OPEN_TELEMETRY"
_TRUE = ("true", "1", "yes", "on")

_MESSAGES = "anthropic.resources.messages.messages"
_STREAMING = "anthropic.lib.streaming._messages"
_BETA_MESSAGES = "anthropic.resources.beta.messages.messages"
_BETA_STREAMING = "anthropic.lib.streaming._beta_messages"
_BASE_CLIENT = "anthropic._base_client"


class AnthropicInstrumentor(LlmInstrumentor):
    """Instruments ``anthropic`` >= 0.40. Extra ``instrument()`` keyword: ``keep_sdk_spans`` (bool)."""

    _scope = "otel_llm.anthropic"

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("anthropic >= 0.40",)

    def sdk_available(self) -> bool:
        return _has_module("anthropic")

    def _instrument(self, **kwargs: Any) -> None:
        keep = kwargs.get("keep_sdk_spans")
        if not isinstance(keep, bool):
            keep = os.environ.get(SDK_TELEMETRY_ENV, "").strip().lower() in _TRUE
        self._sdk_spans = patch.SdkSpans(keep=keep)
        super()._instrument(**kwargs)

    def targets(self) -> Sequence[WrapTarget]:
        sdk = getattr(self, "_sdk_spans", patch.SdkSpans())
        rows = _messages_rows(_MESSAGES, _STREAMING, "", sdk)
        if _has_module(_BETA_MESSAGES) and _has_module(_BETA_STREAMING):  # releases without: skipped
            rows += _messages_rows(_BETA_MESSAGES, _BETA_STREAMING, "Beta", sdk)
        if _sdk_has_own_spans():
            rows.append(WrapTarget(_BASE_CLIENT, "start_api_call_span", patch.sdk_start_span))
        return rows


def _messages_rows(resource: str, streaming: str, beta: str, sdk: patch.SdkSpans) -> list[WrapTarget]:
    """The targets of one messages resource (``messages`` or ``beta.messages``: same shapes)."""
    return [
        WrapTarget(resource, "Messages.create", partial(patch.messages_create, sdk=sdk)),
        WrapTarget(resource, "Messages.parse", partial(patch.messages_create, sdk=sdk)),
        WrapTarget(resource, "Messages.stream", partial(patch.messages_stream, sdk=sdk)),
        WrapTarget(resource, "AsyncMessages.create", partial(patch.messages_create_async, sdk=sdk)),
        WrapTarget(resource, "AsyncMessages.parse", partial(patch.messages_create_async, sdk=sdk)),
        WrapTarget(resource, "AsyncMessages.stream", partial(patch.messages_stream, sdk=sdk)),
        WrapTarget(streaming, f"{beta}MessageStreamManager.__init__", patch.stream_manager_init),
        WrapTarget(streaming, f"{beta}AsyncMessageStreamManager.__init__", patch.stream_manager_init),
    ]


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package missing
        return False


def _sdk_has_own_spans() -> bool:
    """Whether this ``anthropic`` release emits its own spans (older ones have nothing to replace)."""
    try:
        module = importlib.import_module(_BASE_CLIENT)
    except Exception:
        return False
    return callable(getattr(module, "start_api_call_span", None))
