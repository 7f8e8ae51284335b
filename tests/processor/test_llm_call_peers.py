"""LlmCall.from_span on spans of real peer instrumentations (recorded fixtures and live runs).

Fixtures ``tests/testdata/otlp/peer_*.json`` were captured by ``_peer_capture.py`` against the stub
OpenAI server (chat, streamed chat, embeddings, a 400 error):

| fixture | package | dialect |
|---|---|---|
| peer_openllmetry_openai | opentelemetry-instrumentation-openai 0.62.4 (OpenLLMetry) | newer OpenLLMetry |
| peer_openllmetry_legacy_openai | opentelemetry-instrumentation-openai 0.40.14, openai 1.82.0 (scratch venv) | llm.request.type, gen_ai.system "OpenAI", prompt_tokens |
| peer_contrib_openai | opentelemetry-instrumentation-openai-v2 2.4b0 (util-genai 1.1b0) | current GenAI semconv |
| peer_openinference_openai | openinference-instrumentation-openai 0.1.66 | OpenInference |
| peer_openlit_openai | openlit 1.45.0, openai 2.54.0 (scratch venv: openlit pins anthropic<1) | OpenLIT |
| peer_double_openai | OpenLLMetry 0.62.4 and contrib 2.4b0 both on | both (for de-duplication) |

The peers installed in the project venv are also run live here and must give the same calls, so an
upgrade of a peer that changes its attributes fails this test instead of drifting silently.
Set ``OTEL_LLM_WRITE_PEER_FIXTURES=1`` to rewrite those fixtures from the live run.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from otel_llm_processor.model.llm_call import LlmCall, calls_from_request
from otel_llm_processor.model.otlp_json import dump_otlp_json, load_otlp_json

OTLP_DIR = Path(__file__).resolve().parent.parent / "testdata" / "otlp"

_CHAT = {
    "provider": "openai",
    "operation": "chat",
    "request_model": "gpt-4o-mini",
    "response_model": "gpt-4o-mini-2024-07-18",
    "error_type": "",
}
_EMBED = {
    "provider": "openai",
    "operation": "embeddings",
    "request_model": "text-embedding-3-small",
    "response_model": "text-embedding-3-small",
    "error_type": "",
    "input_tokens": 6,
    "output_tokens": None,
}
_ERROR = {"provider": "openai", "operation": "chat", "request_model": "error-model", "response_model": ""}
_USAGE = {"input_tokens": 12, "output_tokens": 5}

# Per fixture: expected fields of each LLM call, in the fixture's span order. Fields not listed
# take LlmCall's defaults (None / "" / ()), except the five span-identity fields checked separately.
OPENLLMETRY = [
    {
        **_CHAT,
        **_USAGE,
        "cache_read_tokens": 4,
        "reasoning_tokens": 2,
        "streaming": False,
        "finish_reasons": ("stop",),
        "response_id": "chatcmpl-stub-1",
    },
    {
        **_CHAT,
        **_USAGE,
        "cache_read_tokens": 4,
        "streaming": True,
        "finish_reasons": ("stop",),
        "response_id": "chatcmpl-stub-stream",
    },
    {**_EMBED, "cache_read_tokens": 0, "streaming": False},
    {**_ERROR, "error_type": "BadRequestError", "streaming": False},
]
CONTRIB = [
    {**_CHAT, **_USAGE, "finish_reasons": ("stop",), "response_id": "chatcmpl-stub-1"},
    {**_CHAT, **_USAGE, "response_id": "chatcmpl-stub-stream"},
    # contrib 2.4b0 with util-genai 1.1b0 writes the exception class' repr as error.type
    {**_ERROR, "error_type": "<class 'openai.BadRequestError'>"},
    _EMBED,
]
OPENINFERENCE = [
    {
        **_CHAT,
        **_USAGE,
        "request_model": "",  # OpenInference records only llm.model_name (the response's model)
        "cache_read_tokens": 4,
        "reasoning_tokens": 2,
        "finish_reasons": ("stop",),
    },
    {
        **_CHAT,
        **_USAGE,
        "request_model": "",
        "cache_read_tokens": 4,
        "reasoning_tokens": 2,
        "finish_reasons": ("stop",),
    },
    {**_EMBED, "request_model": ""},
    # no model attribute on a failed call: read from llm.invocation_parameters; status ERROR only
    {**_ERROR, "error_type": "_OTHER"},
]
EXPECTED: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    "peer_openllmetry_openai.json": ("peer-openllmetry", "openllmetry", OPENLLMETRY),
    "peer_openllmetry_legacy_openai.json": (
        "peer-openllmetry",
        "openllmetry",
        [
            {
                **_CHAT,
                **_USAGE,
                "cache_read_tokens": 4,
                "streaming": False,
                "finish_reasons": ("stop",),
                "response_id": "chatcmpl-stub-1",
            },
            # 0.40.14 records no usage for a stream
            {**_CHAT, "streaming": True, "finish_reasons": ("stop",), "response_id": "chatcmpl-stub-stream"},
            {**_EMBED, "cache_read_tokens": 0, "streaming": False},
            {**_ERROR, "error_type": "_OTHER", "streaming": False},  # no error.type, status ERROR
        ],
    ),
    "peer_contrib_openai.json": ("peer-contrib", "otel", CONTRIB),
    "peer_openinference_openai.json": ("peer-openinference", "openinference", OPENINFERENCE),
    "peer_openlit_openai.json": (
        "peer-openlit",
        "openlit",
        [
            {
                **_CHAT,
                **_USAGE,
                "cache_read_tokens": 4,
                "cache_creation_tokens": 0,
                "cost_usd": 4.8e-06,
                "streaming": False,
                "finish_reasons": ("stop",),
                "response_id": "chatcmpl-stub-1",
            },
            {
                **_CHAT,
                **_USAGE,
                "cache_read_tokens": 4,
                "cache_creation_tokens": 0,
                "cost_usd": 4.8e-06,
                "streaming": True,
                "ttft_s": "positive",
                "finish_reasons": ("stop",),
                "response_id": "chatcmpl-stub-stream",
            },
            {**_EMBED, "cost_usd": 1.2000000000000002e-07, "streaming": False},
            {**_ERROR, "error_type": "BadRequestError", "streaming": False},
        ],
    ),
}
_DOUBLE = [{**c, "dialect": "openllmetry"} for c in OPENLLMETRY] + [{**c, "dialect": "otel"} for c in CONTRIB]


def _defaults() -> dict[str, Any]:
    probe = LlmCall(b"", b"", b"", 0, 0, "", "", "", "", "", "")
    return {
        name: getattr(probe, name)
        for name in LlmCall.__dataclass_fields__
        if name not in {"trace_id", "span_id", "parent_span_id", "start_ns", "end_ns"}
    }


def assert_calls(
    calls: list[LlmCall], service: str, dialect: str | None, expected: list[dict[str, Any]]
) -> None:
    assert len(calls) == len(expected)
    for call, want in zip(calls, expected, strict=True):
        full = {**_defaults(), "service": service, **({"dialect": dialect} if dialect else {}), **want}
        if full["ttft_s"] == "positive":
            assert isinstance(call.ttft_s, float) and call.ttft_s > 0
            full["ttft_s"] = call.ttft_s
        got = {name: getattr(call, name) for name in full}
        assert got == full
        assert len(call.trace_id) == 16 and len(call.span_id) == 8
        assert 0 < call.start_ns <= call.end_ns


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_peer_fixture_calls(name: str) -> None:
    service, dialect, expected = EXPECTED[name]
    calls = calls_from_request(load_otlp_json(OTLP_DIR / name))
    assert_calls(calls, service, dialect, expected)


def test_peer_openlit_fixture_skips_its_httpx_spans() -> None:
    request = load_otlp_json(OTLP_DIR / "peer_openlit_openai.json")
    spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert len(spans) == 8  # 4 LLM spans + 4 httpx client spans OpenLIT instruments as well
    assert len(calls_from_request(request)) == 4


def test_double_instrumented_fixture_nests_one_call_in_the_other() -> None:
    calls = calls_from_request(load_otlp_json(OTLP_DIR / "peer_double_openai.json"))
    assert_calls(calls, "peer-double", None, _DOUBLE)
    by_span = {c.span_id: c for c in calls}
    inner = [c for c in calls if c.dialect == "openllmetry"]
    assert all(by_span[c.parent_span_id].dialect == "otel" for c in inner)


# --------------------------------------------------------------------------------------------
# Live: run the peers installed in this venv and compare with the same expectations
# --------------------------------------------------------------------------------------------
def _capture_module() -> Any:
    name = "_otel_llm_tests_peer_capture"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "_peer_capture.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _require(peer: str) -> None:
    try:
        if peer in ("openllmetry", "double"):
            import opentelemetry.instrumentation.openai
        if peer in ("contrib", "double"):
            import opentelemetry.instrumentation.openai_v2  # noqa: F401
        if peer == "openinference":
            import openinference.instrumentation.openai  # noqa: F401
    except ImportError as exc:  # contrib 2.4b0 needs util-genai <= 1.1b0 (1.2 removed .instruments)
        pytest.skip(f"peer {peer} not importable here: {exc}")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(
    ("peer", "fixture"),
    [
        ("openllmetry", "peer_openllmetry_openai.json"),
        ("contrib", "peer_contrib_openai.json"),
        ("openinference", "peer_openinference_openai.json"),
        ("double", "peer_double_openai.json"),
    ],
)
def test_live_peer_matches_fixture(peer: str, fixture: str) -> None:
    _require(peer)
    request = _capture_module().capture(peer)
    calls = calls_from_request(request)
    if peer == "double":
        assert_calls(calls, "peer-double", None, _DOUBLE)
    else:
        service, dialect, expected = EXPECTED[fixture]
        assert_calls(calls, service, dialect, expected)
    if os.environ.get("OTEL_LLM_WRITE_PEER_FIXTURES") == "1":
        dump_otlp_json(request, OTLP_DIR / fixture)
