"""Pure functions: OpenAI request kwargs and response objects -> span attributes and usage.

No I/O, no state except a bounded cache of base_url -> (provider, address, port).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from otel_llm import semconv
from otel_llm._core import content
from otel_llm._core.span import Usage

__all__ = [
    "chat_input_messages",
    "chat_output_messages",
    "chat_request_attributes",
    "chat_response",
    "chat_tool_definitions",
    "choice_count",
    "completion_input_messages",
    "completion_output_messages",
    "completion_prompts",
    "embeddings_request_attributes",
    "embeddings_response",
    "endpoint",
    "failure_of",
    "given",
    "include_usage",
    "provider_for_host",
    "responses_failure",
    "responses_input_messages",
    "responses_output_messages",
    "responses_request_attributes",
    "responses_response",
    "responses_system_instructions",
    "responses_tool_calls",
    "responses_tool_definitions",
]

# Exact hosts and host suffixes of OpenAI-compatible endpoints -> gen_ai.provider.name.
_HOSTS: Mapping[str, str] = {
    "api.openai.com": semconv.PROVIDER_OPENAI,
    "api.groq.com": semconv.PROVIDER_GROQ,
    "api.deepseek.com": semconv.PROVIDER_DEEPSEEK,
    "api.mistral.ai": semconv.PROVIDER_MISTRAL_AI,
    "api.x.ai": semconv.PROVIDER_X_AI,
    "api.perplexity.ai": semconv.PROVIDER_PERPLEXITY,
    "generativelanguage.googleapis.com": semconv.PROVIDER_GCP_GEMINI,
    "aiplatform.googleapis.com": semconv.PROVIDER_GCP_VERTEX_AI,
    "api.cohere.ai": semconv.PROVIDER_COHERE,
    "api.cohere.com": semconv.PROVIDER_COHERE,
    "api.anthropic.com": semconv.PROVIDER_ANTHROPIC,
    "models.inference.ai.azure.com": semconv.PROVIDER_AZURE_AI_INFERENCE,
}
_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".openai.azure.com", semconv.PROVIDER_AZURE_OPENAI),
    (".cognitiveservices.azure.com", semconv.PROVIDER_AZURE_OPENAI),
    (".services.ai.azure.com", semconv.PROVIDER_AZURE_AI_INFERENCE),
    ("-aiplatform.googleapis.com", semconv.PROVIDER_GCP_VERTEX_AI),
    (".amazonaws.com", semconv.PROVIDER_AWS_BEDROCK),
)
# id(url) -> (url, result): the URL object is kept, so its id cannot be reused meanwhile.
_ENDPOINTS: dict[int, tuple[Any, tuple[str, str | None, int | None]]] = {}
_ENDPOINTS_LIMIT = 256


def provider_for_host(host: str | None) -> str:
    """gen_ai.provider.name for a base_url host; ``openai`` when unknown."""
    if not host:
        return semconv.PROVIDER_OPENAI
    host = host.lower()
    found = _HOSTS.get(host)
    if found is not None:
        return found
    for suffix, provider in _SUFFIXES:
        if host.endswith(suffix):
            return provider
    return semconv.PROVIDER_OPENAI


def endpoint(resource: Any) -> tuple[str, str | None, int | None]:
    """(provider, server.address, server.port) of the client behind an SDK resource object; the
    address a ``str`` and the port an ``int`` (or None)."""
    try:
        client = resource._client
    except AttributeError:
        return semconv.PROVIDER_OPENAI, None, None
    # Cached per URL object, checked by identity (the SDK replaces the object when base_url is
    # set). The key is the client's own ``_base_url`` field when it has one: the public property
    # runs an import statement on every read in recent SDKs.
    key = getattr(client, "_base_url", None)
    if key is not None:
        hit = _ENDPOINTS.get(id(key))
        if hit is not None and hit[0] is key:
            return hit[1]
    try:
        base_url = client.base_url
    except AttributeError:
        return semconv.PROVIDER_OPENAI, None, None
    if key is None:
        key = base_url
    host = getattr(base_url, "host", None) or None
    if not isinstance(host, str):
        host = None
    port = getattr(base_url, "port", None)
    if not isinstance(port, int) or isinstance(port, bool):
        port = None
    if port is None and host:
        port = 443 if getattr(base_url, "scheme", "https") == "https" else 80
    provider = semconv.PROVIDER_AZURE_OPENAI if _is_azure_client(client) else provider_for_host(host)
    result = (provider, host, port)
    if len(_ENDPOINTS) >= _ENDPOINTS_LIMIT:
        _ENDPOINTS.clear()
    _ENDPOINTS[id(key)] = (key, result)
    return result


_AZURE_CLIENTS = frozenset({"AzureOpenAI", "AsyncAzureOpenAI"})


def _is_azure_client(client: Any) -> bool:
    """Whether ``client`` is an ``openai.AzureOpenAI`` / ``AsyncAzureOpenAI`` (or a subclass):
    Azure OpenAI whatever its host. By name, so this module needs no ``openai`` import; read on a
    cache miss only."""
    for cls in type(client).__mro__:
        if cls.__name__ in _AZURE_CLIENTS and cls.__module__.partition(".")[0] == "openai":
            return True
    return False


def given(value: Any) -> Any:
    """None for the SDK's ``omit`` / ``NOT_GIVEN`` sentinels, else the value."""
    if value is None or type(value).__name__ in ("NotGiven", "Omit"):
        return None
    return value


def _float(value: Any) -> float | None:
    if value is None:
        return None
    if type(value) is float:
        return value
    value = given(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is int:
        return value
    value = given(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _output_type(response_format: Any) -> str | None:
    fmt = given(response_format)
    if fmt is None:
        return None
    if isinstance(fmt, type):  # parse(response_format=PydanticModel)
        return "json"
    kind = fmt.get("type") if isinstance(fmt, Mapping) else getattr(fmt, "type", None)
    if kind in ("json_object", "json_schema"):
        return "json"
    if kind == "text":
        return "text"
    return None


_CHAT_FLOATS: tuple[tuple[str, str], ...] = (
    ("temperature", semconv.GEN_AI_REQUEST_TEMPERATURE),
    ("top_p", semconv.GEN_AI_REQUEST_TOP_P),
    ("frequency_penalty", semconv.GEN_AI_REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", semconv.GEN_AI_REQUEST_PRESENCE_PENALTY),
)


# Every request key chat_request_attributes reads, in the order their attributes are written, and
# how each is read.
_MAX, _FLOAT, _SEED, _FORMAT, _STOP, _N, _TIER = range(7)
_CHAT_REQUEST_KINDS: dict[str, int] = {
    "max_completion_tokens": _MAX,
    "max_tokens": _MAX,
    **{key: _FLOAT for key, _ in _CHAT_FLOATS},
    "seed": _SEED,
    "response_format": _FORMAT,
    "stop": _STOP,
    "n": _N,
    "service_tier": _TIER,
}
_CHAT_REQUEST_KEYS = frozenset(_CHAT_REQUEST_KINDS)
_CHAT_FLOAT_NAMES = dict(_CHAT_FLOATS)
# The present request keys -> those keys in writing order (at most 2^11 sets; a few in practice).
_CHAT_PLANS: dict[frozenset[str], tuple[str, ...]] = {}


def chat_request_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Request attributes of a chat call (only those with a value).

    Like every ``*_request_attributes`` here, built typed for ``start_call(checked=True)``: str,
    int, float and bool values, tuples for arrays."""
    attrs: dict[str, Any] = {}
    present = _CHAT_REQUEST_KEYS.intersection(kwargs)
    if not present:
        return attrs
    plan = _CHAT_PLANS.get(present)
    if plan is None:
        plan = _CHAT_PLANS[present] = tuple(key for key in _CHAT_REQUEST_KINDS if key in present)
    get = kwargs.get
    kinds = _CHAT_REQUEST_KINDS
    for key in plan:
        kind = kinds[key]
        value = get(key)
        if kind == _FLOAT:
            number = value if type(value) is float else _float(value)
            if number is not None:
                attrs[_CHAT_FLOAT_NAMES[key]] = number
        elif kind == _MAX:
            # max_completion_tokens wins when it is a non-zero int; else max_tokens
            if semconv.GEN_AI_REQUEST_MAX_TOKENS not in attrs:
                tokens = _int(value)
                if tokens if key == "max_completion_tokens" else tokens is not None:
                    attrs[semconv.GEN_AI_REQUEST_MAX_TOKENS] = tokens
        elif kind == _SEED:
            seed = _int(value)
            if seed is not None:
                attrs[semconv.GEN_AI_REQUEST_SEED] = seed
        elif kind == _FORMAT:
            output_type = _output_type(value)
            if output_type is not None:
                attrs[semconv.GEN_AI_OUTPUT_TYPE] = output_type
        elif kind == _STOP:
            stop = given(value)
            if isinstance(stop, str):
                attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = (stop,)
            elif isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
                attrs[semconv.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
        elif kind == _N:
            n = _int(value)
            if n is not None and n != 1:
                attrs[semconv.GEN_AI_REQUEST_CHOICE_COUNT] = n
        else:
            tier = given(value)
            if isinstance(tier, str):
                attrs[semconv.OPENAI_REQUEST_SERVICE_TIER] = tier
    return attrs


def include_usage(kwargs: Mapping[str, Any]) -> bool:
    """True when a chat stream request set ``stream_options={"include_usage": True}``."""
    options = kwargs.get("stream_options")
    return isinstance(options, Mapping) and options.get("include_usage") is True


def choice_count(kwargs: Mapping[str, Any]) -> int | None:
    """The number of choices a chat request asks for (``n``, default 1); None when ``n`` is not
    a positive int."""
    n = kwargs.get("n")
    if n is None or given(n) is None:
        return 1
    n = _int(n)
    return n if n is not None and n > 0 else None


def _details(obj: Any, name: str, field: str) -> int | None:
    details = getattr(obj, name, None)
    value = getattr(details, field, None) if details is not None else None
    return value if isinstance(value, int) else None


def chat_usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    try:  # a CompletionUsage: plain attribute reads
        prompt = usage.prompt_tokens
        completion = usage.completion_tokens
        prompt_details = usage.prompt_tokens_details
        completion_details = usage.completion_tokens_details
        cached = None if prompt_details is None else prompt_details.cached_tokens
        reasoning = None if completion_details is None else completion_details.reasoning_tokens
    except AttributeError:  # another shape: every field optional
        return Usage(
            getattr(usage, "prompt_tokens", None),
            getattr(usage, "completion_tokens", None),
            _details(usage, "prompt_tokens_details", "cached_tokens"),
            None,
            _details(usage, "completion_tokens_details", "reasoning_tokens"),
        )
    return Usage(
        prompt,
        completion,
        cached if isinstance(cached, int) else None,
        None,
        reasoning if isinstance(reasoning, int) else None,
    )


def chat_response(response: Any) -> tuple[dict[str, Any], list[str], Usage | None]:
    """(extra attributes, finish reasons, usage) of a ChatCompletion. The attributes and reasons
    are typed (``str`` only: a value of another type from the server is left out)."""
    try:  # a ChatCompletion: plain attribute reads
        choices = response.choices
        fingerprint = response.system_fingerprint
        tier = response.service_tier
        usage = response.usage
    except AttributeError:  # another shape: every field optional
        choices = getattr(response, "choices", None)
        fingerprint = getattr(response, "system_fingerprint", None)
        tier = getattr(response, "service_tier", None)
        usage = getattr(response, "usage", None)
    attrs = {}
    if type(fingerprint) is str:
        attrs[semconv.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint
    if type(tier) is str:
        attrs[semconv.OPENAI_RESPONSE_SERVICE_TIER] = tier
    reasons = [r for c in choices or () if type(r := c.finish_reason) is str and r]
    return attrs, reasons, chat_usage(usage)


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        texts = []
        for part in value:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                texts.append(part["text"])
        return "".join(texts) if texts else None
    return None


def chat_input_messages(messages: Any) -> list[dict[str, Any]]:
    """OpenAI chat messages (dicts) -> semconv messages."""
    out: list[dict[str, Any]] = []
    for msg in given(messages) or ():
        if not isinstance(msg, Mapping):
            continue
        role = str(msg.get("role", "user"))
        parts: list[dict[str, Any]] = []
        text = _text_of(msg.get("content"))
        if role == "tool":
            parts.append(content.tool_call_response_part(msg.get("tool_call_id"), text))
        elif text is not None:
            parts.append(content.text_part(text))
        for call in msg.get("tool_calls") or ():
            if not isinstance(call, Mapping):
                continue
            fn = call.get("function") or {}
            parts.append(content.tool_call_part(call.get("id"), fn.get("name"), fn.get("arguments")))
        out.append(content.message(role, parts))
    return out


def chat_input_texts(messages: Any) -> list[str]:
    """Every text of the request, for local token estimates."""
    texts: list[str] = []
    for msg in given(messages) or ():
        if not isinstance(msg, Mapping):
            continue
        text = _text_of(msg.get("content"))
        if text:
            texts.append(text)
        for call in msg.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(fn, Mapping) and isinstance(fn.get("arguments"), str):
                texts.append(fn["arguments"])
    return texts


def chat_output_messages(response: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for choice in getattr(response, "choices", None) or ():
        msg = choice.message
        parts: list[dict[str, Any]] = []
        if msg.content:
            parts.append(content.text_part(msg.content))
        for call in msg.tool_calls or ():
            fn = getattr(call, "function", None)
            parts.append(
                content.tool_call_part(call.id, getattr(fn, "name", None), getattr(fn, "arguments", None))
            )
        out.append(content.message(msg.role or "assistant", parts, choice.finish_reason))
    return out


# -- legacy text completions (completions.create) ----------------------------------------------
def completion_prompts(prompt: Any) -> list[str]:
    """The texts of a text completion's ``prompt``: a string or a list of strings (prompts given
    as token ids carry no text and are left out)."""
    prompt = given(prompt)
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, (list, tuple)):
        return [p for p in prompt if isinstance(p, str)]
    return []


def completion_input_messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A text completion's prompts as user messages (the API has no roles)."""
    return [content.message("user", [content.text_part(p)]) for p in completion_prompts(kwargs.get("prompt"))]


def completion_output_messages(response: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for choice in getattr(response, "choices", None) or ():
        text = getattr(choice, "text", None)
        parts = [content.text_part(text)] if isinstance(text, str) and text else []
        out.append(content.message("assistant", parts, getattr(choice, "finish_reason", None)))
    return out


# -- Responses API ------------------------------------------------------------------------------
def responses_request_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        semconv.GEN_AI_REQUEST_MAX_TOKENS: _int(kwargs.get("max_output_tokens")),
        semconv.GEN_AI_REQUEST_TEMPERATURE: _float(kwargs.get("temperature")),
        semconv.GEN_AI_REQUEST_TOP_P: _float(kwargs.get("top_p")),
    }
    text = given(kwargs.get("text"))
    if isinstance(text, Mapping):
        attrs[semconv.GEN_AI_OUTPUT_TYPE] = _output_type(text.get("format"))
    if given(kwargs.get("text_format")) is not None:
        attrs[semconv.GEN_AI_OUTPUT_TYPE] = "json"
    tier = given(kwargs.get("service_tier"))
    if isinstance(tier, str):
        attrs[semconv.OPENAI_REQUEST_SERVICE_TIER] = tier
    # The stored conversation the call reads and extends: an id, or {"id": ...}.
    conversation = given(kwargs.get("conversation"))
    if isinstance(conversation, Mapping):
        conversation = conversation.get("id")
    if isinstance(conversation, str) and conversation:
        attrs[semconv.GEN_AI_CONVERSATION_ID] = conversation
    return attrs


_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def responses_usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    cache_write = _details(usage, "input_tokens_details", "cache_write_tokens")
    return Usage(
        input_tokens=getattr(usage, "input_tokens", None),
        output_tokens=getattr(usage, "output_tokens", None),
        cache_read_tokens=_details(usage, "input_tokens_details", "cached_tokens"),
        cache_creation_tokens=cache_write or None,
        reasoning_tokens=_details(usage, "output_tokens_details", "reasoning_tokens"),
    )


# Statuses that give no finish reason: nothing finished yet (a ``background=True`` call), or the
# response failed (an error: :func:`responses_failure`). Any other status is one.
_NO_REASON = frozenset({"queued", "in_progress", "failed"})


def responses_response(response: Any) -> tuple[dict[str, Any], list[str], Usage | None]:
    """(extra attributes, finish reasons, usage) of a Response: ``stop``, or ``tool_calls`` when
    a tool call waits on the app (:func:`responses_tool_calls`), for ``completed``; the mapped
    reason for ``incomplete``; none for ``queued`` / ``in_progress`` / ``failed``; the status
    itself otherwise (``cancelled``: cut short at the app's request, no error)."""
    status = getattr(response, "status", None)
    reasons: list[str] = []
    if status == "completed":
        output = getattr(response, "output", None) or ()
        reasons.append("tool_calls" if responses_tool_calls(output) else "stop")
    elif status == "incomplete":
        reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
        reason = reason if isinstance(reason, str) else "incomplete"
        reasons.append(_INCOMPLETE.get(reason, reason))
    elif isinstance(status, str) and status not in _NO_REASON:
        reasons.append(status)
    attrs = {semconv.OPENAI_RESPONSE_SERVICE_TIER: getattr(response, "service_tier", None)}
    return attrs, reasons, responses_usage(getattr(response, "usage", None))


def responses_failure(response: Any) -> tuple[str, str] | None:
    """(error.type, description) of a Response whose status is ``failed``, else None. The type is
    the error's ``code`` when a non-empty str (low-cardinality: OpenAI's error codes), else
    ``response.failed``."""
    if getattr(response, "status", None) != "failed":
        return None
    error = getattr(response, "error", None)
    return failure_of(getattr(error, "code", None), getattr(error, "message", None), "response.failed")


def failure_of(code: Any, message: Any, fallback: str) -> tuple[str, str]:
    """(error.type, description) of an in-band error: ``code`` when a non-empty str, else
    ``fallback``; the message when a str (the span scrubs it)."""
    return (code if isinstance(code, str) and code else fallback, message if isinstance(message, str) else "")


# Output items that are tool calls the app must run and answer (``*_output`` input items), ->
# the tool's name for those without one. Server-run tools (web/file search, code interpreter,
# image generation, MCP) are not here: the server ran them.
_CLIENT_CALLS: Mapping[str, str | None] = {
    "function_call": None,
    "custom_tool_call": None,
    "computer_call": "computer",
    "local_shell_call": "local_shell",
    "shell_call": "shell",
    "apply_patch_call": "apply_patch",
    "tool_search_call": "tool_search",
}
# Where each kind keeps what the model asked the tool to do.
_CALL_ARGUMENTS = ("arguments", "input", "action", "actions", "operation")


def responses_tool_calls(output: Any) -> list[Any]:
    """The items of ``output`` that are tool calls waiting on the app: the kinds in
    ``_CLIENT_CALLS``, except a tool search the server ran (``execution: "server"``) and a call
    answered in the same output (a hosted shell's ``shell_call_output``)."""
    calls = []
    for item in output:
        kind = getattr(item, "type", None)
        if (
            type(kind) is str
            and kind in _CLIENT_CALLS
            and (kind != "tool_search_call" or getattr(item, "execution", None) == "client")
        ):
            calls.append(item)
    if not calls or len(calls) == len(output):
        return calls
    answered = set()
    for item in output:
        kind = getattr(item, "type", None)
        if type(kind) is str and kind.endswith("_output"):
            answered.add(getattr(item, "call_id", None))
    if not answered:
        return calls
    return [call for call in calls if getattr(call, "call_id", None) not in answered]


def _tool_call_part(item: Any) -> dict[str, Any]:
    """A tool call output item as a ``tool_call`` part: the call id, the tool's name (the item's,
    else the kind's), and what it asks (arguments, custom tool input, or the action / operation
    as JSON)."""
    name = getattr(item, "name", None)
    if not isinstance(name, str):
        name = _CLIENT_CALLS.get(item.type)
    arguments = None
    for field in _CALL_ARGUMENTS:
        arguments = getattr(item, field, None)
        if arguments is not None:
            break
    if isinstance(arguments, list):  # computer_call ``actions``
        arguments = [_plain(action) for action in arguments]
    return content.tool_call_part(getattr(item, "call_id", None), name, _plain(arguments))


def _plain(value: Any) -> Any:
    """An SDK model as the JSON-ready dict of the fields the server sent; anything else as is."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json", exclude_unset=True, warnings=False) if callable(dump) else value


def responses_input_messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``input`` as semconv messages (``instructions`` go to :func:`responses_system_instructions`)."""
    out: list[dict[str, Any]] = []
    value = given(kwargs.get("input"))
    if isinstance(value, str):
        out.append(content.message("user", [content.text_part(value)]))
        return out
    for item in value or ():
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type")
        if kind == "function_call_output":
            out.append(
                content.message(
                    "tool", [content.tool_call_response_part(item.get("call_id"), item.get("output"))]
                )
            )
        elif kind == "function_call":
            part = content.tool_call_part(item.get("call_id"), item.get("name"), item.get("arguments"))
            out.append(content.message("assistant", [part]))
        elif "role" in item:
            raw = item.get("content")
            text = raw if isinstance(raw, str) else _text_of(raw)
            out.append(content.message(str(item["role"]), [content.text_part(text)] if text else []))
    return out


def responses_output_messages(response: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    output = getattr(response, "output", None) or ()
    calls = {id(item) for item in responses_tool_calls(output)}
    for item in output:
        if id(item) in calls:
            parts.append(_tool_call_part(item))
        elif getattr(item, "type", None) == "message":
            for block in getattr(item, "content", None) or ():
                text = getattr(block, "text", None)
                if isinstance(text, str):
                    parts.append(content.text_part(text))
    if not parts:
        return []
    _, reasons, _ = responses_response(response)
    return [content.message("assistant", parts, reasons[0] if reasons else None)]


def responses_system_instructions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``instructions`` (a string, or input items with text) as parts; ``[]`` when absent."""
    instructions = given(kwargs.get("instructions"))
    if isinstance(instructions, str):
        return [content.text_part(instructions)] if instructions else []
    parts: list[dict[str, Any]] = []
    if isinstance(instructions, Iterable) and not isinstance(instructions, (bytes, Mapping)):
        for item in instructions:
            if isinstance(item, Mapping):
                raw = item.get("content")
                text = raw if isinstance(raw, str) else _text_of(raw)
                if text:
                    parts.append(content.text_part(text))
    return parts


# -- Tool definitions (chat and Responses) --------------------------------------------------------
def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _tool_definition(kind: str, spec: Any) -> dict[str, Any]:
    """One definition: type, name, description, parameters (function) or format (custom tools).
    Built-in tools (web search, file search, MCP, ...) keep only their type: their configuration
    can hold credentials (MCP headers and authorization) and server addresses."""
    definition: dict[str, Any] = {"type": kind}
    if kind not in ("function", "custom"):
        return definition
    for key in ("name", "description", "parameters", "format"):
        value = given(_field(spec, key))
        if value is not None:
            definition[key] = value
    return definition


def chat_tool_definitions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Chat ``tools`` (``{"type": "function", "function": {...}}``) as semconv tool definitions."""
    return _tool_definitions(kwargs, nested=True)


def responses_tool_definitions(kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Responses API ``tools`` (flat ``{"type": "function", "name": ...}``) as tool definitions."""
    return _tool_definitions(kwargs, nested=False)


def _tool_definitions(kwargs: Mapping[str, Any], nested: bool) -> list[dict[str, Any]]:
    """``tools`` of a request; ``nested``: each spec sits under the key named by its type (chat)."""
    tools = given(kwargs.get("tools"))
    if not isinstance(tools, (list, tuple)):
        return []
    out: list[dict[str, Any]] = []
    for tool in tools:
        kind = _field(tool, "type")
        kind = kind if isinstance(kind, str) else "function"
        out.append(_tool_definition(kind, _field(tool, kind) if nested else tool))
    return out


# -- Embeddings ---------------------------------------------------------------------------------
def embeddings_request_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    fmt = given(kwargs.get("encoding_format"))
    return {semconv.GEN_AI_REQUEST_ENCODING_FORMATS: (fmt,) if isinstance(fmt, str) else None}


def embeddings_response(response: Any) -> tuple[dict[str, Any], Usage | None]:
    attrs: dict[str, Any] = {}
    data = getattr(response, "data", None) or ()
    if data:
        vector = getattr(data[0], "embedding", None)
        if isinstance(vector, list):
            attrs[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(vector)
        elif isinstance(vector, str):
            dimensions = _base64_floats(vector)
            if dimensions is not None:
                attrs[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
    usage = getattr(response, "usage", None)
    tokens = getattr(usage, "prompt_tokens", None) if usage is not None else None
    return attrs, (Usage(input_tokens=tokens) if isinstance(tokens, int) else None)


def _base64_floats(text: str) -> int | None:
    """The number of float32 values in a base64 vector (``encoding_format="base64"``), from its
    length and padding, without decoding it (whitespace, which decoders skip, is left out); None
    when it is no whole number of them."""
    if "\n" in text or " " in text or "\r" in text or "\t" in text:
        text = "".join(text.split())
    length = len(text)
    if length % 4:
        return None
    size = length // 4 * 3 - (text.endswith("==") + text.endswith("="))
    return size // 4 if size % 4 == 0 else None
