"""Base instrumentor: one table of wrap targets drives both patch and unpatch.

A provider subclasses :class:`LlmInstrumentor`, names its instrumentation scope and lists its
:class:`WrapTarget` rows; ``_instrument`` resolves :class:`Settings` once and attaches every row,
``_uninstrument`` removes exactly the rows that were attached. A row that fails to attach (the SDK
moved a method, or is too old) is logged once per process and counted in
``otel_llm.instrumentation.attach_failures`` when a meter is available; the others still work.
Works with wrapt 1.x and 2.x (``wrap_function_wrapper`` and OTel's ``unwrap``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from otel_llm import semconv
from otel_llm._core.settings import Settings, resolve_settings

__all__ = ["LlmInstrumentor", "WrapTarget", "Wrapper", "attach", "detach"]

_log = logging.getLogger(__name__)

# wrapt wrapper: (wrapped, instance, args, kwargs) -> result
Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
_logged_failures: set[str] = set()


@dataclass(frozen=True)
class WrapTarget:
    """``module`` + ``path`` ("Class.method") to wrap with ``factory(settings)``."""

    module: str
    path: str
    factory: Callable[[Settings], Wrapper]

    @property
    def key(self) -> str:
        return f"{self.module}:{self.path}"

    def owner(self) -> tuple[Any, str]:
        obj: Any = importlib.import_module(self.module)
        *parents, attr = self.path.split(".")
        for name in parents:
            obj = getattr(obj, name)
        return obj, attr


def attach(targets: Sequence[WrapTarget], settings: Settings) -> list[WrapTarget]:
    """Wrap every target that can be; returns those attached (to pass to :func:`detach`)."""
    attached: list[WrapTarget] = []
    for target in targets:
        try:
            owner, attr = target.owner()
            getattr(owner, attr)  # fail here, not inside wrapt, when the method is gone
            wrap_function_wrapper(owner, attr, target.factory(settings))
        except Exception as exc:
            if target.key not in _logged_failures:
                _logged_failures.add(target.key)
                _log.warning(
                    "otel_llm: cannot instrument %s (%s); its calls will have no spans", target.key, exc
                )
            if settings.instruments is not None:
                settings.instruments.attach_failures.add(
                    1, {semconv.OTEL_LLM_INSTRUMENTATION_TARGET: target.key}
                )
            continue
        attached.append(target)
    return attached


def detach(targets: Sequence[WrapTarget]) -> None:
    for target in targets:
        try:
            owner, attr = target.owner()
            unwrap(owner, attr)
        except Exception:
            _log.debug("otel_llm: unwrap of %s failed", target.key, exc_info=True)


class LlmInstrumentor(BaseInstrumentor):
    """Subclasses set ``_scope`` and implement ``instrumentation_dependencies`` and ``targets``."""

    _scope: str = "otel_llm"

    def instrumentation_dependencies(self) -> Collection[str]:
        raise NotImplementedError

    def targets(self) -> Sequence[WrapTarget]:
        raise NotImplementedError

    def sdk_available(self) -> bool:
        """False when the provider SDK cannot be imported (then we log and do nothing)."""
        return True

    def _instrument(self, **kwargs: Any) -> None:
        self._attached: list[WrapTarget] = []
        if not self.sdk_available():
            _log.info("otel_llm: %s: SDK not available, nothing instrumented", type(self).__name__)
            return
        from otel_llm import __version__

        self.settings = resolve_settings(self._scope, __version__, kwargs)
        self._attached = attach(self.targets(), self.settings)

    def _uninstrument(self, **kwargs: Any) -> None:
        detach(getattr(self, "_attached", ()))
        self._attached = []
