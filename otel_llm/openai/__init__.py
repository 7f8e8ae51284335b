"""OpenTelemetry instrumentation for the ``openai`` SDK (sync and async clients).

Covered: ``chat.completions.create`` (incl. ``stream=True``, ``with_raw_response``, and the
``chat.completions.stream()`` helper, which calls ``create``), ``chat.completions.parse``,
``responses.create`` (incl. ``stream=True`` and the ``responses.stream()`` helper),
``responses.parse``, ``embeddings.create``, and the legacy ``completions.create`` (operation
``text_completion``, incl. ``stream=True``). OpenAI-compatible servers are named from the
``base_url`` host (``api.groq.com`` -> ``groq``, ...), else ``openai``.

    from otel_llm.openai import OpenAIInstrumentor
    OpenAIInstrumentor().instrument(tracer_provider=tp, meter_provider=mp)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Collection, Sequence

from otel_llm._core.instrumentor import LlmInstrumentor, WrapTarget
from otel_llm.openai import patch

__all__ = ["TARGETS", "OpenAIInstrumentor"]

_CHAT = "openai.resources.chat.completions.completions"
_RESPONSES = "openai.resources.responses.responses"
_EMBEDDINGS = "openai.resources.embeddings"
_COMPLETIONS = "openai.resources.completions"

# The one table driving patch and unpatch.
TARGETS: tuple[WrapTarget, ...] = (
    WrapTarget(_CHAT, "Completions.create", patch.sync_wrapper(patch.CHAT)),
    WrapTarget(_CHAT, "AsyncCompletions.create", patch.async_wrapper(patch.CHAT)),
    WrapTarget(_CHAT, "Completions.parse", patch.sync_wrapper(patch.CHAT)),
    WrapTarget(_CHAT, "AsyncCompletions.parse", patch.async_wrapper(patch.CHAT)),
    WrapTarget(_RESPONSES, "Responses.create", patch.sync_wrapper(patch.RESPONSES)),
    WrapTarget(_RESPONSES, "AsyncResponses.create", patch.async_wrapper(patch.RESPONSES)),
    WrapTarget(_RESPONSES, "Responses.parse", patch.sync_wrapper(patch.RESPONSES)),
    WrapTarget(_RESPONSES, "AsyncResponses.parse", patch.async_wrapper(patch.RESPONSES)),
    WrapTarget(_EMBEDDINGS, "Embeddings.create", patch.sync_wrapper(patch.EMBEDDINGS)),
    WrapTarget(_EMBEDDINGS, "AsyncEmbeddings.create", patch.async_wrapper(patch.EMBEDDINGS)),
    WrapTarget(_COMPLETIONS, "Completions.create", patch.sync_wrapper(patch.COMPLETIONS)),
    WrapTarget(_COMPLETIONS, "AsyncCompletions.create", patch.async_wrapper(patch.COMPLETIONS)),
)


class OpenAIInstrumentor(LlmInstrumentor):
    """Instruments the ``openai`` SDK; ``instrument(**kwargs)`` takes the keys of
    :func:`otel_llm._core.settings.resolve_settings`."""

    _scope = "otel_llm.openai"

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("openai >= 1.0",)

    def sdk_available(self) -> bool:
        return importlib.util.find_spec("openai") is not None

    def targets(self) -> Sequence[WrapTarget]:
        return TARGETS
