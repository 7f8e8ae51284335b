"""An unchanged app under the real ``opentelemetry-instrument`` launcher exports our spans over
OTLP/gRPC to a sink in the test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from otel_llm import semconv
from otel_llm.testing.otlp_sink import OtlpSink, attributes
from otel_llm.testing.stub_openai import StubOpenAI

APP = textwrap.dedent(
    """
    import os, openai
    client = openai.OpenAI(base_url=os.environ["STUB_URL"], api_key="sk-launcher-SECRET", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    for _ in client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True},
    ):
        pass
    client.embeddings.create(model="text-embedding-3-small", input="hi")
    try:
        client.chat.completions.create(model="stub-error-429", messages=[{"role": "user", "content": "hi"}])
    except openai.RateLimitError:
        pass
    client.close()
    """
)


def run_app(tmp_path: Path, disabled: str) -> list[tuple[str, Any]]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    launcher = Path(sys.executable).parent / "opentelemetry-instrument"
    with StubOpenAI() as stub, OtlpSink() as sink:
        env = {
            **os.environ,
            "STUB_URL": stub.url,
            "OTEL_SERVICE_NAME": "launcher-app",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            # only ours: every peer registers its entry point as "openai" (OpenLLMetry, OpenInference,
            # contrib openai-v2), so this one name turns all of them off and keeps ours on
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled,
        }
        env.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
        proc = subprocess.run(
            [str(launcher), sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=90
        )
        assert proc.returncode == 0, proc.stderr
        return sink.wait_for_spans(4, timeout=30)


def check_ours(spans: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    ours = [(scope, span) for scope, span in spans if scope == "otel_llm.openai"]
    assert [span.name for _, span in ours] == [
        "chat gpt-4o-mini",
        "chat gpt-4o-mini",
        "embeddings text-embedding-3-small",
        "chat stub-error-429",
    ]
    chat, stream, emb, err = (attributes(span) for _, span in ours)
    assert chat[semconv.GEN_AI_PROVIDER_NAME] == "openai"
    assert chat[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert chat[semconv.OTEL_LLM_COST_SOURCE] == "genai-prices 0.2.3"
    assert stream[semconv.GEN_AI_REQUEST_STREAM] is True
    assert stream[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert emb[semconv.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == 8
    assert err[semconv.ERROR_TYPE] == "openai.RateLimitError"
    assert ours[3][1].status.code == 2  # STATUS_CODE_ERROR
    assert all(span.kind == 3 for _, span in ours)  # SPAN_KIND_CLIENT
    assert semconv.GEN_AI_INPUT_MESSAGES not in chat  # content capture off by default
    for _, span in ours:
        assert "SECRET" not in str(attributes(span))
    return ours


def test_opentelemetry_instrument_exports_llm_spans(tmp_path: Path) -> None:
    spans = run_app(tmp_path, "openai,otel_llm_anthropic")
    ours = check_ours(spans)
    assert len(ours) == len(spans)  # exactly one span per call, nobody else's


def test_peer_instrumentations_do_not_change_our_spans(tmp_path: Path) -> None:
    """With OpenLLMetry, OpenInference and contrib openai-v2 all active, each adds its own spans
    (nested around or under ours), but ours stay exactly right: one per call, same attributes."""
    alone = {
        span.name + str(i): attributes(span)
        for i, (_, span) in enumerate(check_ours(run_app(tmp_path, "openai")))
    }
    crowded_spans = run_app(tmp_path, "otel_llm_anthropic")
    crowded = {span.name + str(i): attributes(span) for i, (_, span) in enumerate(check_ours(crowded_spans))}
    assert len(crowded_spans) > len(crowded)  # the peers did run
    for key, attrs in alone.items():
        other = crowded[key]
        for volatile in (semconv.SERVER_PORT, semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK):
            attrs.pop(volatile, None)
            other.pop(volatile, None)
        assert other == attrs
