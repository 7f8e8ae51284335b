"""OTLP metric names, units and attributes -> Prometheus names and labels (specs.md section 6).

``.`` and every other invalid character become ``_``; a known unit becomes a suffix (``s`` ->
``_seconds``); ``{annotation}`` units are dropped; monotonic sums get ``_total`` (added by
prometheus-client when the family is a counter).
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["label_name", "metric_name", "prometheus_unit"]

_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_UNDERSCORES = re.compile(r"__+")
_UNITS = {
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "min": "minutes",
    "h": "hours",
    "d": "days",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "%": "percent",
}


def prometheus_unit(unit: str, gauge: bool = False) -> str:
    """The name suffix for an OTLP unit (``""`` for none or an ``{annotation}``)."""
    unit = re.sub(r"\{[^}]*\}", "", unit).strip()
    if not unit:
        return ""
    if unit == "1":
        return "ratio" if gauge else ""
    if "/" in unit:
        num, _, den = unit.partition("/")
        num_s = _UNITS.get(num, _clean(num)) if num and num != "1" else ""
        den_s = {"s": "second", "m": "minute", "h": "hour", "d": "day"}.get(den, _clean(den))
        return f"{num_s}_per_{den_s}" if num_s else f"per_{den_s}"
    return _UNITS.get(unit, _clean(unit))


def _clean(text: str) -> str:
    return _UNDERSCORES.sub("_", _INVALID_LABEL.sub("_", text)).strip("_")


@lru_cache(maxsize=4096)
def metric_name(name: str, unit: str, kind: str, namespace: str = "") -> tuple[str, str]:
    """(family name without ``_total``, unit suffix) for an OTLP metric of ``kind``.

    ``kind`` is ``counter``, ``gauge``, ``histogram`` or ``summary``.
    """
    base = _UNDERSCORES.sub("_", _INVALID_NAME.sub("_", name))
    if namespace:
        base = f"{_clean(namespace)}_{base}"
    if base[:1].isdigit():
        base = f"_{base}"
    suffix = prometheus_unit(unit, gauge=kind == "gauge")
    if kind == "counter" and base.endswith("_total"):
        base = base[: -len("_total")]
    if suffix and base.endswith(f"_{suffix}"):
        base = base[: -len(suffix) - 1]
    return base, suffix


@lru_cache(maxsize=4096)
def label_name(key: str) -> str:
    out = _INVALID_LABEL.sub("_", key)
    if out[:1].isdigit():
        out = f"key_{out}"
    if out.startswith("__"):
        out = f"key{out}"
    return out or "key_"
