"""The service config: YAML with ``${env:VAR}`` expansion, validated whole before anything starts.

Shaped like an OpenTelemetry Collector config::

    receivers:   {<type>[/<name>]: <component config>}
    processors:  {...}
    connectors:  {...}
    exporters:   {...}
    service:
      data_dir: ./data
      shutdown_timeout: 10s
      api: {endpoint: 127.0.0.1:8080, auth_token: null, enabled: true}
      storage: {...}            # otel_llm_processor.storage config; omitted: SQLite; null: none
      telemetry: {logs: {level: info}}
      pipelines:
        <signal>[/<name>]: {receivers: [...], processors: [...], exporters: [...]}

Every component section is validated by its factory's ``config_class``; every error is collected
and reported with its YAML path (``connectors.llm_metrics.flush_interval: must be > 0``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from otel_llm_processor.component import ComponentID, ComponentKind, Factory, Signal
from otel_llm_processor.config_graph import _SINGULAR, prune_missing, validate_pipelines

__all__ = [
    "ApiConfig",
    "ComponentConfig",
    "Config",
    "ConfigError",
    "Duration",
    "PipelineConfig",
    "ServiceConfig",
    "TelemetryConfig",
    "default_config_text",
    "expand_env",
    "format_validation_error",
    "load_config",
    "load_config_text",
    "parse_duration",
]

Factories = Mapping[tuple[ComponentKind, str], Factory[Any]]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(/[^/\s]+)?$")
_ENV = re.compile(r"\$\$|\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The config is invalid; ``errors`` lists every problem as ``<yaml path>: <message>``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as ``500ms``, ``10s``, ``5m``, ``1h``."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 10s, 500ms, 5m")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2)]
    raise ValueError("must be a duration such as 10s, 500ms, 5m")


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""A duration field in seconds; accepts numbers (seconds) and strings like ``10s``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiConfig(_Strict):
    enabled: bool = True
    endpoint: str = "127.0.0.1:8080"
    auth_token: str | None = None

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        from otel_llm_processor.asgi_server import parse_endpoint

        parse_endpoint(value)
        return value


class LogsTelemetryConfig(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"


class TelemetryConfig(_Strict):
    logs: LogsTelemetryConfig = LogsTelemetryConfig()


class PipelineSpec(_Strict):
    receivers: list[str] = Field(default_factory=list)
    processors: list[str] = Field(default_factory=list)
    exporters: list[str] = Field(default_factory=list)


class ServiceConfig(_Strict):
    data_dir: str = Field(default_factory=lambda: os.environ.get("OTEL_LLM_DATA_DIR", "./data"))
    shutdown_timeout: Duration = Field(default=10.0, gt=0)
    api: ApiConfig = ApiConfig()
    storage: dict[str, Any] | None = None
    telemetry: TelemetryConfig = TelemetryConfig()
    pipelines: dict[str, PipelineSpec] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ComponentConfig:
    kind: ComponentKind
    id: ComponentID
    factory: Factory[Any]
    config: BaseModel


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    name: str  # as written: "traces" or "traces/llm"
    signal: Signal
    receivers: tuple[ComponentID, ...]
    processors: tuple[ComponentID, ...]
    exporters: tuple[ComponentID, ...]


@dataclass(frozen=True, slots=True)
class Config:
    components: Mapping[tuple[ComponentKind, ComponentID], ComponentConfig]
    pipelines: tuple[PipelineConfig, ...]
    service: ServiceConfig
    source: str  # file path, or "<embedded default>"
    storage: Any = None  # otel_llm_processor.storage.StorageConfig when service.storage is set

    def component(self, kind: ComponentKind, id_: ComponentID | str) -> ComponentConfig:
        cid = ComponentID.parse(id_) if isinstance(id_, str) else id_
        return self.components[(kind, cid)]


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
def default_config_text() -> str:
    return (resources.files("otel_llm_processor") / "defaults" / "default.yaml").read_text("utf-8")


def load_config(path: str | os.PathLike[str] | None = None, *, factories: Factories | None = None) -> Config:
    """Load and validate ``path``, or the embedded default config when ``path`` is ``None``."""
    if path is None:
        return load_config_text(default_config_text(), "<embedded default>", factories=factories, prune=True)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror or exc}"]) from exc
    return load_config_text(text, str(path), factories=factories)


def load_config_text(
    text: str, source: str = "<string>", *, factories: Factories | None = None, prune: bool = False
) -> Config:
    """Parse, expand and validate. ``prune`` drops components whose factory is not installed."""
    if factories is None:
        from otel_llm_processor.registry import FACTORIES

        factories = FACTORIES
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: invalid YAML: {exc}"]) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: the config must be a mapping"])
    errors: list[str] = []
    raw = expand_env(raw, "", errors)
    if prune:
        prune_missing(raw, factories)
    config = _validate(raw, source, factories, errors)
    if errors or config is None:
        raise ConfigError(errors)
    return config


def expand_env(node: Any, path: str, errors: list[str]) -> Any:
    """Replace ``${env:VAR}`` / ``${env:VAR:-default}`` in string values; ``$$`` is a literal ``$``.

    A value that is exactly one reference takes the YAML type of the variable's text
    (``port: ${env:PORT}`` gives an int); references inside a longer string substitute text.
    """
    if isinstance(node, dict):
        return {key: expand_env(value, _join(path, key), errors) for key, value in node.items()}
    if isinstance(node, list):
        return [expand_env(value, f"{path}[{i}]", errors) for i, value in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                errors.append(f"{path}: environment variable {name} is not set")
                return ""
            return default
        return value

    whole = _ENV.fullmatch(node)
    result = _ENV.sub(substitute, node)
    if whole is not None and whole.group(0) != "$$":
        try:
            typed = yaml.safe_load(result) if result else result
        except yaml.YAMLError:
            return result
        if typed is None or isinstance(typed, (str, int, float, bool)):
            return typed
    return result


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
_TOP = ("receivers", "processors", "connectors", "exporters", "service")


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def format_validation_error(prefix: str, exc: ValidationError) -> list[str]:
    """pydantic errors -> ``<yaml path>: <message>`` lines with short, user-facing messages."""
    lines = []
    for err in exc.errors():
        path = prefix
        for part in err["loc"]:
            path = _join(path, part)
        lines.append(f"{path or '<root>'}: {_message(err)}")
    return lines


def _message(err: Any) -> str:
    kind, ctx, msg = err["type"], err.get("ctx") or {}, err["msg"]
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        key = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}
        limit = ctx[key[kind]]
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"must be {bounds[kind]} {limit}"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"must be {ctx.get('expected', '')}"
    if kind in ("value_error", "assertion_error"):
        return str(msg).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return str(msg)[:1].lower() + str(msg)[1:]


def _validate(raw: dict[str, Any], source: str, factories: Factories, errors: list[str]) -> Config | None:
    for key in raw:
        if key not in _TOP:
            errors.append(f"{key}: unknown section (expected one of {', '.join(_TOP)})")
    components: dict[tuple[ComponentKind, ComponentID], ComponentConfig] = {}
    broken: set[tuple[ComponentKind, ComponentID]] = set()  # invalid: references are not errors again
    for kind in ComponentKind:
        section = raw.get(kind.value)
        if section is None:
            continue
        if not isinstance(section, dict):
            errors.append(f"{kind.value}: must be a mapping of component ids to configs")
            continue
        for key, value in section.items():
            if not _validate_component(kind, str(key), value, factories, components, errors):
                broken.add((kind, ComponentID.parse(str(key))))

    service_raw = raw.get("service")
    if service_raw is None:
        service_raw = {}
    if not isinstance(service_raw, dict):
        errors.append("service: must be a mapping")
        return None
    service_raw = dict(service_raw)
    pipelines_raw = service_raw.pop("pipelines", None)
    service: ServiceConfig | None
    try:
        service = ServiceConfig.model_validate(service_raw)
    except ValidationError as exc:
        errors.extend(format_validation_error("service", exc))
        service = None
    try:
        specs = _PIPELINE_SPECS.validate_python(pipelines_raw if pipelines_raw is not None else {})
    except ValidationError as exc:
        errors.extend(format_validation_error("service.pipelines", exc))
        return None
    pipelines = validate_pipelines(specs, components, broken, errors)
    if service is None:
        return None
    # omitted: the default backend (SQLite under data_dir); an explicit null turns storage off
    storage_raw = service.storage if "storage" in service_raw else {}
    storage = _validate_storage(storage_raw, errors)
    service = service.model_copy(update={"pipelines": specs})
    return Config(components, tuple(pipelines), service, source, storage)


_PIPELINE_SPECS: TypeAdapter[dict[str, PipelineSpec]] = TypeAdapter(dict[str, PipelineSpec])


def _validate_storage(raw: dict[str, Any] | None, errors: list[str]) -> Any:
    if raw is None:
        return None
    try:
        from otel_llm_processor.storage.config import StorageConfig
    except ModuleNotFoundError as exc:
        if exc.name and "otel_llm_processor.storage.config".startswith(exc.name):
            return None  # storage not installed: nothing to validate against
        raise
    try:
        return StorageConfig.model_validate(raw)
    except ValidationError as exc:
        errors.extend(format_validation_error("service.storage", exc))
        return None


def _validate_component(
    kind: ComponentKind,
    key: str,
    value: Any,
    factories: Factories,
    components: dict[tuple[ComponentKind, ComponentID], ComponentConfig],
    errors: list[str],
) -> bool:
    path = f"{kind.value}.{key}"
    if not _ID.match(key):
        errors.append(f"{path}: invalid component id (expected type[/name])")
        return False
    cid = ComponentID.parse(key)
    factory = factories.get((kind, cid.type))
    if factory is None:
        known = sorted(t for k, t in factories if k is kind)
        errors.append(
            f'{path}: unknown {_SINGULAR[kind]} type "{cid.type}" (known: {", ".join(known) or "none"})'
        )
        return False
    if value is None:
        value = {}
    if not isinstance(value, dict):
        errors.append(f"{path}: must be a mapping")
        return False
    try:
        model = factory.config_class.model_validate(value)
    except ValidationError as exc:
        errors.extend(format_validation_error(path, exc))
        return False
    components[(kind, cid)] = ComponentConfig(kind, cid, factory, model)
    return True
