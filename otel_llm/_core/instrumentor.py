"""Base instrumentor: one table of wrap targets drives both patch and unpatch.

A provider subclasses :class:`LlmInstrumentor`, names its instrumentation scope and lists its
:class:`WrapTarget` rows; ``_instrument`` resolves :class:`Settings` once and attaches every row,
``_uninstrument`` disables and removes exactly the wrappers it installed. A row that fails to attach (the SDK
moved a method, or is too old) is logged once per process and counted in
``otel_llm.instrumentation.attach_failures`` when a meter is available; the others still work.

Detaching removes *our* wrapper object wherever it sits in the ``__wrapped__`` chain, not the
outermost one (OpenTelemetry's ``unwrap`` does the latter, which removes a peer instrumentation
that wrapped after us and leaves ours): outermost, the owner's attribute is set back to what we
wrapped; under another wrapt wrapper, that wrapper's ``__wrapped__`` is pointed past ours. Works
with wrapt 1.x and 2.x.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from wrapt import FunctionWrapper, wrap_object

try:  # wrapt >= 2
    from wrapt import BaseObjectProxy as _ObjectProxy
except ImportError:  # wrapt 1.x
    from wrapt import ObjectProxy as _ObjectProxy

from otel_llm import semconv
from otel_llm._core.settings import Settings, resolve_settings

__all__ = ["Attached", "LlmInstrumentor", "WrapTarget", "Wrapper", "attach", "detach"]

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


@dataclass(frozen=True)
class Attached:
    """One wrapper we installed: where, the wrapper object itself, and its switch (a list that
    holds one item while the wrapper is enabled; wrapt reads its ``__len__`` on every call)."""

    target: WrapTarget
    owner: Any
    attr: str
    wrapper: Any
    switch: list[bool]


def attach(targets: Sequence[WrapTarget], settings: Settings) -> list[Attached]:
    """Wrap every target that can be; returns what was installed (to pass to :func:`detach`)."""
    attached: list[Attached] = []
    for target in targets:
        try:
            owner, attr = target.owner()
            getattr(owner, attr)  # fail here, not inside wrapt, when the method is gone
            # ``enabled``: wrapt calls it (a C method: no Python frame) before each call and calls
            # the original straight away when it is falsy. Detaching clears it, which disables
            # every copy of our wrapper that the SDK keeps bound beyond our reach (the
            # ``with_raw_response`` / ``with_streaming_response`` helpers bind ``create`` once).
            switch = [True]
            wrap_object(owner, attr, FunctionWrapper, (target.factory(settings), switch.__len__))
            wrapper = vars(owner)[attr]
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
        attached.append(Attached(target, owner, attr, wrapper, switch))
    return attached


def detach(attached: Sequence[Attached]) -> None:
    """Disable the wrappers :func:`attach` installed and remove them, wherever they now sit in the
    chain (one that cannot be removed, or that the SDK keeps bound, stays a pass-through)."""
    for item in attached:
        item.switch.clear()
        try:
            if not _remove(item):
                _log.debug("otel_llm: %s: our wrapper is no longer in place", item.target.key)
        except Exception:
            _log.debug("otel_llm: unwrap of %s failed", item.target.key, exc_info=True)


def _remove(item: Attached) -> bool:
    ours = item.wrapper
    parent: Any = None
    current = vars(item.owner).get(item.attr)
    for _ in range(64):  # a wrapper chain, never a cycle; bounded anyway
        if current is None:
            return False
        if current is ours:
            inner = ours.__wrapped__
            if parent is None:
                setattr(item.owner, item.attr, inner)
            elif isinstance(parent, _ObjectProxy):
                parent.__wrapped__ = inner
            else:  # a non-wrapt wrapper calls ours through its closure: it cannot be re-pointed
                _log.debug("otel_llm: %s: our wrapper sits under a non-wrapt wrapper", item.target.key)
                return False
            return True
        parent, current = current, getattr(current, "__wrapped__", None)
    return False


def sdk_classes(*groups: Sequence[tuple[str, str]]) -> tuple[tuple[type, ...], ...]:
    """For each group of (module, class name) pairs, the classes of it the installed SDK has (an
    SDK release may lack some: that group's tuple is shorter, or empty). For ``isinstance``
    checks of SDK results (streams, raw responses)."""
    out = []
    for group in groups:
        found: list[type] = []
        for module, name in group:
            try:
                cls = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError):
                continue
            if isinstance(cls, type):
                found.append(cls)
        out.append(tuple(found))
    return tuple(out)


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
        self._attached: list[Attached] = []
        if not self.sdk_available():
            _log.info("otel_llm: %s: SDK not available, nothing instrumented", type(self).__name__)
            return
        # opentelemetry-instrument calls instrument(skip_dep_check=True) after checking only the
        # distribution's "instruments" extra, which a package of several instrumentors cannot
        # use per SDK: check this instrumentor's own floor here, on every path.
        # Only a version found out of range stops it: an SDK whose install metadata is missing
        # (vendored, frozen) imports fine and is instrumented, as before this check.
        conflict = self._check_dependency_conflicts()
        if conflict is not None and getattr(conflict, "found", None):
            _log.warning("otel_llm: %s: %s", type(self).__name__, conflict)
            return
        from otel_llm import __version__

        self.settings = resolve_settings(self._scope, __version__, kwargs)
        self._attached = attach(self.targets(), self.settings)

    def _uninstrument(self, **kwargs: Any) -> None:
        detach(getattr(self, "_attached", ()))
        self._attached = []
