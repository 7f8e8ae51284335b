"""Graph checks of the service config: pipelines resolve their component ids, connectors join two
pipelines with signals their factories support, no cycles; and pruning of the embedded default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_llm_processor.component import ComponentID, ComponentKind, Signal

__all__ = ["prune_missing", "validate_pipelines"]

_SINGULAR = {
    ComponentKind.RECEIVER: "receiver",
    ComponentKind.PROCESSOR: "processor",
    ComponentKind.CONNECTOR: "connector",
    ComponentKind.EXPORTER: "exporter",
}
_ROLE_KINDS = {
    "receivers": (ComponentKind.RECEIVER, ComponentKind.CONNECTOR),
    "processors": (ComponentKind.PROCESSOR,),
    "exporters": (ComponentKind.EXPORTER, ComponentKind.CONNECTOR),
}


def validate_pipelines(
    specs: Mapping[str, Any],
    components: Mapping[tuple[ComponentKind, ComponentID], Any],
    broken: set[tuple[ComponentKind, ComponentID]],
    errors: list[str],
) -> list[Any]:
    defined = {(kind, cid) for kind, cid in components}
    defined_ids = {str(cid) for _, cid in defined}
    from otel_llm_processor.config import PipelineConfig

    pipelines: list[PipelineConfig] = []
    if not specs:
        errors.append("service.pipelines: at least one pipeline is required")
    for name, spec in specs.items():
        path = f"service.pipelines.{name}"
        signal_text, _, suffix = name.partition("/")
        try:
            signal = Signal(signal_text)
        except ValueError:
            errors.append(
                f'{path}: unknown signal "{signal_text}" (expected {", ".join(s.value for s in Signal)})'
            )
            continue
        if "/" in name and not suffix:
            errors.append(f"{path}: invalid pipeline id (expected signal[/name])")
            continue
        lists: dict[str, list[ComponentID]] = {}
        for role in ("receivers", "processors", "exporters"):
            ids = getattr(spec, role)
            if role != "processors" and not ids:
                errors.append(f"{path}.{role}: at least one is required")
            seen: set[str] = set()
            resolved: list[ComponentID] = []
            for i, text in enumerate(ids):
                item = f"{path}.{role}[{i}]"
                if text in seen:
                    errors.append(f'{item}: "{text}" is listed twice')
                    continue
                seen.add(text)
                cid = ComponentID.parse(str(text))
                kinds = _ROLE_KINDS[role]
                if any((kind, cid) in broken for kind in kinds) and not any(
                    (kind, cid) in defined for kind in kinds
                ):
                    continue
                found = next((kind for kind in kinds if (kind, cid) in defined), None)
                if found is None:
                    where = " or ".join(kind.value for kind in kinds)
                    hint = " (it is defined in another section)" if str(cid) in defined_ids else ""
                    errors.append(f'{item}: unknown component "{text}" (not defined in {where}){hint}')
                    continue
                factory = components[(found, cid)].factory
                supported = (
                    factory.produces
                    if (found is ComponentKind.CONNECTOR and role == "receivers")
                    else factory.signals
                )
                if signal not in supported:
                    errors.append(f'{item}: {_SINGULAR[found]} "{text}" does not support {signal.value}')
                    continue
                resolved.append(cid)
            lists[role] = resolved
        pipelines.append(
            PipelineConfig(
                name, signal, tuple(lists["receivers"]), tuple(lists["processors"]), tuple(lists["exporters"])
            )
        )
    _check_connectors(specs, components, errors)
    _check_cycles(pipelines, components, errors)
    return pipelines


def _check_connectors(
    specs: Mapping[str, Any],
    components: Mapping[tuple[ComponentKind, ComponentID], Any],
    errors: list[str],
) -> None:
    for kind, cid in components:
        if kind is not ComponentKind.CONNECTOR:
            continue
        text = str(cid)
        as_exporter = any(text in spec.exporters for spec in specs.values())
        as_receiver = any(text in spec.receivers for spec in specs.values())
        if not as_exporter:
            errors.append(f"connectors.{text}: connector is not used as an exporter in any pipeline")
        if not as_receiver:
            errors.append(f"connectors.{text}: connector is not used as a receiver in any pipeline")


def _check_cycles(
    pipelines: list[Any],
    components: Mapping[tuple[ComponentKind, ComponentID], Any],
    errors: list[str],
) -> None:
    connectors = {cid for kind, cid in components if kind is ComponentKind.CONNECTOR}
    edges: dict[str, list[str]] = {}
    for src in pipelines:
        outs = {cid for cid in src.exporters if cid in connectors}
        edges[src.name] = [dst.name for dst in pipelines if outs.intersection(dst.receivers)]
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(name: str) -> bool:
        state[name] = 1
        stack.append(name)
        for nxt in edges[name]:
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                errors.append(f"service.pipelines: cycle through connectors: {' -> '.join(cycle)}")
                return True
            if nxt not in state and visit(nxt):
                return True
        stack.pop()
        state[name] = 2
        return False

    for p in pipelines:
        if p.name not in state and visit(p.name):
            return


def prune_missing(raw: dict[str, Any], factories: Mapping[tuple[ComponentKind, str], Any]) -> None:
    """Drop components of uninstalled types from the embedded default, then what they orphaned."""
    kinds = {kind.value: kind for kind in ComponentKind}
    for section, kind in kinds.items():
        entries = raw.get(section) or {}
        for key in list(entries):
            if (kind, ComponentID.parse(str(key)).type) not in factories:
                del entries[key]
    pipelines: dict[str, Any] = (raw.get("service") or {}).get("pipelines") or {}
    while True:
        present = {str(k) for section in kinds for k in (raw.get(section) or {})}
        changed = False
        for name in list(pipelines):
            spec = pipelines[name]
            for role in ("receivers", "processors", "exporters"):
                kept = [c for c in spec.get(role) or [] if c in present]
                changed |= kept != (spec.get(role) or [])
                spec[role] = kept
            if spec["receivers"] and not spec["exporters"] and "debug" in (raw.get("exporters") or {}):
                spec["exporters"] = ["debug"]  # keep the default runnable: log what would go there
            if not spec["receivers"] or not spec["exporters"]:
                del pipelines[name]
                changed = True
        connectors = raw.get("connectors") or {}
        for key in list(connectors):
            used_out = any(key in s["exporters"] for s in pipelines.values())
            used_in = any(key in s["receivers"] for s in pipelines.values())
            if not (used_out and used_in):
                del connectors[key]
                changed = True
        if not changed:
            return
