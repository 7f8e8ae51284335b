"""Pure functions: Anthropic request keyword arguments and responses -> span attributes and content.

Nothing here touches a span, reads the environment or raises on odd input: a value of an unexpected
type is left out rather than recorded wrong. Works on the SDK's pydantic models and on plain dicts.

Token convention: Anthropic's ``usage.input_tokens`` excludes the tokens read from and written to the
prompt cache; the semantic conventions' ``gen_ai.usage.input_tokens`` includes them. So
``input = input_tokens + cache_read_input_tokens + cache_creation_input_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_llm import semconv as sc
from otel_llm._core import content as ct
from otel_llm._core.span import Usage

__all__ = [
    "input_messages",
    "output_messages",
    "provider_for",
    "request_attributes",
    "request_model",
    "response_fields",
    "server_attributes",
    "system_instructions",
    "tool_definitions",
    "usage_of",
]

AttributeDict = dict[str, Any]


def _get(obj: Any, name: str) -> Any:
    """``obj[name]`` for a mapping, ``obj.name`` otherwise; ``None`` when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def request_model(kwargs: Mapping[str, Any]) -> str | None:
    return _str(_params(kwargs).get("model"))


def _params(kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The request's parameters as sent: the keyword arguments with ``extra_body`` over them (the
    SDK merges it into the JSON body last, so its values win; releases of the SDK without
    ``temperature``/``top_p``/``top_k`` arguments take them there)."""
    extra = kwargs.get("extra_body")
    return {**kwargs, **extra} if isinstance(extra, Mapping) else kwargs


def request_attributes(kwargs: Mapping[str, Any], *, stream: bool) -> AttributeDict:
    """The request attributes a ``messages.create``/``messages.stream`` span starts with
    (sampler-visible), besides the operation and provider that ``start_call`` writes."""
    kwargs = _params(kwargs)
    attrs: AttributeDict = {}
    if (model := request_model(kwargs)) is not None:
        attrs[sc.GEN_AI_REQUEST_MODEL] = model
    if (max_tokens := _int(kwargs.get("max_tokens"))) is not None:
        attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    if (temperature := _float(kwargs.get("temperature"))) is not None:
        attrs[sc.GEN_AI_REQUEST_TEMPERATURE] = temperature
    if (top_p := _float(kwargs.get("top_p"))) is not None:
        attrs[sc.GEN_AI_REQUEST_TOP_P] = top_p
    if (top_k := _int(kwargs.get("top_k"))) is not None:
        attrs[sc.GEN_AI_REQUEST_TOP_K] = top_k
    stop = kwargs.get("stop_sequences")
    if isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
    if stream:
        attrs[sc.GEN_AI_REQUEST_STREAM] = True
    if _is_json_output(kwargs):
        attrs[sc.GEN_AI_OUTPUT_TYPE] = "json"
    return attrs


def _is_json_output(kwargs: Mapping[str, Any]) -> bool:
    formats = (_get(kwargs.get("output_config"), "format"), kwargs.get("output_format"))
    return any(_get(f, "type") == "json_schema" or isinstance(f, type) for f in formats if f is not None)


# Client classes of the platforms that host Claude under their own provider name, for SDK releases
# that do not declare it (``_gen_ai_provider_name``, which the SDK's own telemetry reads).
_PLATFORM_CLASSES: Mapping[str, str] = {
    "BaseBedrockClient": sc.PROVIDER_AWS_BEDROCK,
    "AnthropicBedrock": sc.PROVIDER_AWS_BEDROCK,
    "AsyncAnthropicBedrock": sc.PROVIDER_AWS_BEDROCK,
    "BaseVertexClient": sc.PROVIDER_GCP_VERTEX_AI,
    "AnthropicVertex": sc.PROVIDER_GCP_VERTEX_AI,
    "AsyncAnthropicVertex": sc.PROVIDER_GCP_VERTEX_AI,
}
_PROVIDERS: dict[type, str] = {}  # client class -> provider name (few classes; bounded anyway)


def provider_for(client: Any) -> str:
    """``gen_ai.provider.name`` of a call through ``client``: ``aws.bedrock`` for the Bedrock
    clients, ``gcp.vertex_ai`` for the Vertex ones (as the SDK itself names them), else
    ``anthropic`` (Anthropic's API, directly or through a platform that serves it as is)."""
    cls = type(client)
    name = _PROVIDERS.get(cls)
    if name is not None:
        return name
    declared = getattr(cls, "_gen_ai_provider_name", None)
    if isinstance(declared, str) and declared:
        name = declared
    else:
        name = next(
            (_PLATFORM_CLASSES[c.__name__] for c in cls.__mro__ if c.__name__ in _PLATFORM_CLASSES),
            sc.PROVIDER_ANTHROPIC,
        )
    if len(_PROVIDERS) >= 64:
        _PROVIDERS.clear()
    _PROVIDERS[cls] = name
    return name


def server_attributes(base_url: Any) -> AttributeDict:
    """``server.address``/``server.port`` from a client's ``base_url`` (an ``httpx``-style URL)."""
    host = _str(_get(base_url, "host"))
    if not host:
        return {}
    port = _int(_get(base_url, "port"))
    if port is None:
        port = 80 if _get(base_url, "scheme") == "http" else 443
    return {sc.SERVER_ADDRESS: host, sc.SERVER_PORT: port}


def usage_of(usage: Any) -> Usage | None:
    """Anthropic's ``usage`` (a ``Usage``, a ``MessageDeltaUsage`` or a dict) in the conventions' sense.

    ``input_tokens`` of the result includes the cache reads and writes, which Anthropic counts apart.
    """
    if usage is None:
        return None
    uncached = _int(_get(usage, "input_tokens"))
    cache_read = _int(_get(usage, "cache_read_input_tokens"))
    cache_creation = _int(_get(usage, "cache_creation_input_tokens"))
    total: int | None = None
    if uncached is not None:
        total = uncached + (cache_read or 0) + (cache_creation or 0)
    return Usage(
        input_tokens=total,
        output_tokens=_int(_get(usage, "output_tokens")),
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
    )


def response_fields(message: Any) -> dict[str, Any]:
    """Keyword arguments of ``LlmCall.set_response`` from a ``Message`` (or a snapshot, or a dict)."""
    stop_reason = _str(_get(message, "stop_reason"))
    return {
        "response_id": _str(_get(message, "id")),
        "response_model": _str(_get(message, "model")),
        "finish_reasons": [stop_reason] if stop_reason is not None else None,
    }


# -- content (opt-in) ---------------------------------------------------------------------------
# Shapes follow the GenAI semantic conventions' JSON schemas for gen_ai.input.messages,
# gen_ai.output.messages, gen_ai.system_instructions and gen_ai.tool.definitions.


def _part(block: Any) -> dict[str, Any]:
    if isinstance(block, str):
        return ct.text_part(block)
    kind = _get(block, "type")
    if kind == "text":
        return ct.text_part(_get(block, "text") or "")
    if kind in ("tool_use", "server_tool_use"):
        return ct.tool_call_part(_get(block, "id"), _get(block, "name"), _get(block, "input"))
    if kind == "tool_result":
        content = _get(block, "content")
        if isinstance(content, (list, tuple)):
            content = [_part(item) for item in content]
        return ct.tool_call_response_part(_get(block, "tool_use_id"), content)
    if kind == "thinking":
        return {"type": "reasoning", "content": _get(block, "thinking") or ""}
    # images, documents, redacted thinking...: the kind only, never the (possibly binary) payload.
    return {"type": str(kind) if kind is not None else "unknown"}


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [_part(content)]
    if isinstance(content, (list, tuple)):
        return [_part(block) for block in content]
    return [_part(content)]


def input_messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``messages`` of the request (as sent: ``extra_body`` wins) as ``[{"role", "parts"}]``."""
    messages = _params(kwargs).get("messages")
    if not isinstance(messages, (list, tuple)):
        return []
    return [ct.message(_get(m, "role") or "user", _parts(_get(m, "content"))) for m in messages]


def system_instructions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``system`` of the request (a string or text blocks; as sent) as parts; ``[]`` when absent."""
    return _parts(_params(kwargs).get("system"))


def tool_definitions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    tools = _params(kwargs).get("tools")
    if not isinstance(tools, (list, tuple)):
        return []
    out: list[dict[str, Any]] = []
    for tool in tools:
        kind = _get(tool, "type")
        definition: dict[str, Any] = {
            "type": "function" if kind in (None, "custom") else kind,
            "name": _get(tool, "name"),
        }
        if (description := _get(tool, "description")) is not None:
            definition["description"] = description
        if (schema := _get(tool, "input_schema")) is not None:
            definition["parameters"] = schema
        out.append(definition)
    return out


def output_messages(message: Any) -> list[dict[str, Any]]:
    """A ``Message`` as the one-element ``gen_ai.output.messages`` list."""
    if message is None:
        return []
    role = _get(message, "role") or "assistant"
    return [ct.message(role, _parts(_get(message, "content")), _str(_get(message, "stop_reason")))]
