"""An unchanged Anthropic app under the real ``opentelemetry-instrument`` launcher exports exactly one
LLM span per call, ours, over OTLP/gRPC; with ours disabled, the SDK's own spans arrive as before."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from otel_llm import semconv
from otel_llm.testing.otlp_sink import OtlpSink, attributes
from otel_llm.testing.stub_anthropic import ErrorReply, Reply, StubAnthropic, ToolUse, Usage

MODEL = "claude-haiku-4-5"
# Disabled for "ours only": the installed peers (OpenLLMetry's openai and anthropic) and our openai.
ONLY_OURS = "openai,anthropic,otel_llm_openai"
APP = textwrap.dedent(
    """
    import os, anthropic
    client = anthropic.Anthropic(base_url=os.environ["STUB_URL"], api_key="sk-ant-launcher-SECRET", max_retries=0)
    request = {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
    client.messages.create(**request)
    for _ in client.messages.create(**request, stream=True):
        pass
    with client.messages.stream(**request) as stream:
        "".join(stream.text_stream)
    try:
        client.messages.create(**request)
    except anthropic.RateLimitError:
        pass
    client.close()
    """
)


def run_app(tmp_path: Path, disabled: str) -> list[tuple[str, Any]]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    launcher = Path(sys.executable).parent / "opentelemetry-instrument"
    with StubAnthropic() as stub, OtlpSink() as sink:
        stub.script(
            Reply(),
            Reply(
                tools=(ToolUse("get_weather", {"city": "Paris"}),),
                stop_reason="tool_use",
                usage=Usage(input=5, output=6, cache_read=100, cache_creation=20),
            ),
            Reply(),
            ErrorReply(429, retry_after=30.0),
        )
        env = {
            **os.environ,
            "STUB_URL": stub.base_url,
            "OTEL_SERVICE_NAME": "launcher-anthropic-app",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled,
        }
        for name in ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "ANTHROPIC_OPEN_TELEMETRY"):
            env.pop(name, None)
        proc = subprocess.run(
            [str(launcher), sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=90
        )
        assert proc.returncode == 0, proc.stderr
        assert len(stub.requests) == 4
        return sink.wait_for_spans(4, timeout=30)


def test_launcher_exports_exactly_our_spans(tmp_path: Path) -> None:
    spans = run_app(tmp_path, ONLY_OURS)
    assert [scope for scope, _ in spans] == ["otel_llm.anthropic"] * 4  # no SDK span beside ours
    plain, streamed, managed, failed = (span for _, span in spans)
    assert [s.name for s in (plain, streamed, managed, failed)] == [f"chat {MODEL}"] * 4
    assert all(s.kind == 3 for s in (plain, streamed, managed, failed))  # SPAN_KIND_CLIENT
    attrs = attributes(plain)
    assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert attrs[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == ["end_turn"]
    assert attrs[semconv.OTEL_LLM_COST_SOURCE] == "genai-prices 0.2.3"
    attrs = attributes(streamed)
    assert attrs[semconv.GEN_AI_REQUEST_STREAM] is True
    assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == 125
    assert attrs[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert attrs[semconv.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 20
    assert attrs[semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert attributes(managed)[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert attributes(failed)[semconv.ERROR_TYPE] == "anthropic.RateLimitError"
    assert failed.status.code == 2  # STATUS_CODE_ERROR
    for _, span in spans:
        assert "SECRET" not in str(attributes(span))
        assert semconv.GEN_AI_INPUT_MESSAGES not in attributes(span)


def test_ours_disabled_leaves_the_sdk_spans(tmp_path: Path) -> None:
    spans = run_app(tmp_path, f"{ONLY_OURS},otel_llm_anthropic")
    assert [(scope, span.name) for scope, span in spans] == [
        ("com.anthropic.sdk.python", "anthropic.messages.create")
    ] * 4


def test_openllmetry_beside_ours_leaves_our_spans_unchanged(tmp_path: Path) -> None:
    """OpenLLMetry's anthropic instrumentation active too: it adds its own span per call, and ours
    stay exactly as alone (one per call, same attributes), with the SDK's own span still replaced."""

    def ours(spans: list[tuple[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for scope, span in spans:
            if scope == "otel_llm.anthropic":
                attrs = attributes(span)
                for volatile in (semconv.SERVER_PORT, semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK):
                    attrs.pop(volatile, None)
                out.append(attrs)
        return out

    alone = run_app(tmp_path, ONLY_OURS)
    crowded = run_app(tmp_path, "openai,otel_llm_openai")
    assert len(ours(alone)) == len(alone) == 4
    assert ours(crowded) == ours(alone)
    scopes = sorted({scope for scope, _ in crowded})
    assert scopes == ["opentelemetry.instrumentation.anthropic", "otel_llm.anthropic"]
    assert len(crowded) == 8  # theirs: one per call too; no SDK span
