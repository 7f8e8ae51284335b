"""Every component type the service knows, by (kind, type).

Each module in :data:`MODULES` exposes ``FACTORY`` (a :class:`~otel_llm_processor.component.Factory`).
A module that is not installed (that module or its own package missing) is skipped; any other import error
propagates, so a broken component fails loudly instead of silently disappearing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from otel_llm_processor.component import ComponentKind, Factory

__all__ = ["FACTORIES", "MODULES", "load_factories"]

_P = "otel_llm_processor"
MODULES: tuple[str, ...] = (
    f"{_P}.receiver.otlp.factory",
    f"{_P}.processor.normalize.factory",
    f"{_P}.processor.anomaly.factory",
    f"{_P}.connector.llm_metrics.factory",
    f"{_P}.connector.alert_rules.factory",
    f"{_P}.exporter.debug.factory",
    f"{_P}.exporter.otlp.factory",
    f"{_P}.exporter.prometheus.factory",
    f"{_P}.exporter.webhook.factory",
    f"{_P}.exporter.slack.factory",
    f"{_P}.exporter.pagerduty.factory",
    f"{_P}.exporter.email.factory",
    f"{_P}.exporter.alertmanager.factory",
)


def load_factories(modules: Iterable[str] = MODULES) -> dict[tuple[ComponentKind, str], Factory[Any]]:
    factories: dict[tuple[ComponentKind, str], Factory[Any]] = {}
    for path in modules:
        try:
            module = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name is not None and _is_self_or_parent(exc.name, path):
                continue
            raise
        factory = module.FACTORY
        if not isinstance(factory, Factory):
            raise TypeError(f"{path}.FACTORY is not a Factory")
        key = (factory.kind, factory.type)
        if key in factories:
            raise ValueError(f"{path}: duplicate {factory.kind.value} type {factory.type!r}")
        factories[key] = factory
    return factories


def _is_self_or_parent(missing: str, path: str) -> bool:
    """The module itself (or its not-yet-written package) is absent, not something it imports."""
    return missing == path or (missing.startswith(f"{_P}.") and path.startswith(f"{missing}."))


FACTORIES: Mapping[tuple[ComponentKind, str], Factory[Any]] = load_factories()
