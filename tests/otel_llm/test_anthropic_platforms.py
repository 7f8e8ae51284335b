"""Claude through the SDK's platform clients: ``AnthropicVertex`` calls are ``gcp.vertex_ai`` and
``AnthropicBedrock`` calls ``aws.bedrock`` (the names the SDK itself gives them), priced from that
platform's catalogue entry; the real clients against the stub on the platforms' own paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic import AnthropicBedrock, AnthropicVertex, AsyncAnthropicVertex

from otel_llm.anthropic import AnthropicInstrumentor
from otel_llm.anthropic.extract import provider_for
from otel_llm.testing import Telemetry, attributes_of
from otel_llm.testing.stub_anthropic import StubAnthropic

VERTEX_MODEL = "claude-haiku-4-5@20251001"
BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
SECRET = "bedrock-api-key-do-not-record"
USER = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture
def stub() -> Iterator[StubAnthropic]:
    with StubAnthropic() as server:
        yield server


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Telemetry]:
    for name in ("ANTHROPIC_VERTEX_PROJECT_ID", "CLOUD_ML_REGION", "AWS_BEARER_TOKEN_BEDROCK", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    tel = Telemetry()
    AnthropicInstrumentor().instrument(tracer_provider=tel.tracer_provider)
    try:
        yield tel
    finally:
        AnthropicInstrumentor().uninstrument()
        tel.shutdown()


def _expected(stub: StubAnthropic, provider: str, model: str, cost: float, **more: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "server.address": "127.0.0.1",
        "server.port": stub.port,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.response.id": "msg_stub_01",
        "gen_ai.response.model": model,
        "gen_ai.response.finish_reasons": ["end_turn"],
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 7,
        "otel_llm.cost.usd": pytest.approx(cost),
        "otel_llm.cost.source": "genai-prices 0.2.3",
        **more,
    }


# claude-haiku-4-5 on Vertex AI: $1 / MTok input, $5 output
VERTEX_COST = (12 * 1.0 + 7 * 5.0) / 1e6
# claude-3-5-haiku on Bedrock: $0.80 / MTok input, $4 output
BEDROCK_COST = (12 * 0.8 + 7 * 4.0) / 1e6


def _vertex(stub: StubAnthropic) -> AnthropicVertex:
    return AnthropicVertex(
        region="us-east5", project_id="proj", access_token="ya29.token", base_url=stub.base_url, max_retries=0
    )


def test_vertex_create_and_stream(stub: StubAnthropic, telemetry: Telemetry) -> None:
    with _vertex(stub) as client:
        message = client.messages.create(model=VERTEX_MODEL, max_tokens=64, messages=USER)
        assert message.content[0].text == "Hello from the stub."  # type: ignore[union-attr]
        with client.messages.stream(model=VERTEX_MODEL, max_tokens=64, messages=USER) as stream:
            assert "".join(stream.text_stream) == "Hello from the stub."
    paths = [r.path for r in stub.requests]
    assert paths == [
        f"/projects/proj/locations/us-east5/publishers/anthropic/models/{VERTEX_MODEL}:rawPredict",
        f"/projects/proj/locations/us-east5/publishers/anthropic/models/{VERTEX_MODEL}:streamRawPredict",
    ]
    plain, streamed = telemetry.spans()
    assert plain.name == streamed.name == f"chat {VERTEX_MODEL}"
    assert attributes_of(plain) == _expected(stub, "gcp.vertex_ai", VERTEX_MODEL, VERTEX_COST)
    attrs = attributes_of(streamed)
    assert type(attrs.pop("gen_ai.response.time_to_first_chunk")) is float
    assert attrs == _expected(
        stub, "gcp.vertex_ai", VERTEX_MODEL, VERTEX_COST, **{"gen_ai.request.stream": True}
    )


async def test_async_vertex(stub: StubAnthropic, telemetry: Telemetry) -> None:
    async with AsyncAnthropicVertex(
        region="us-east5", project_id="proj", access_token="ya29.token", base_url=stub.base_url, max_retries=0
    ) as client:
        await client.messages.create(model=VERTEX_MODEL, max_tokens=64, messages=USER)
    assert attributes_of(telemetry.span()) == _expected(stub, "gcp.vertex_ai", VERTEX_MODEL, VERTEX_COST)


def test_bedrock_create_records_no_key(stub: StubAnthropic, telemetry: Telemetry) -> None:
    with AnthropicBedrock(
        aws_region="us-east-1", api_key=SECRET, base_url=stub.base_url, max_retries=0
    ) as client:
        client.messages.create(model=BEDROCK_MODEL, max_tokens=64, messages=USER)
    request = stub.requests[-1]
    assert request.path == f"/model/{BEDROCK_MODEL}/invoke"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    span = telemetry.span()
    assert span.name == f"chat {BEDROCK_MODEL}"
    assert attributes_of(span) == _expected(stub, "aws.bedrock", BEDROCK_MODEL, BEDROCK_COST)
    assert all(SECRET not in str(v) for v in attributes_of(span).values())


def test_provider_names_of_client_classes() -> None:
    class OldBedrock:  # an SDK release that does not declare the name: known by its class
        pass

    OldBedrock.__name__ = "AnthropicBedrock"

    class Subclassed(anthropic.Anthropic):
        pass

    assert provider_for(object.__new__(anthropic.Anthropic)) == "anthropic"
    assert provider_for(object.__new__(Subclassed)) == "anthropic"
    assert provider_for(object.__new__(AnthropicVertex)) == "gcp.vertex_ai"
    assert provider_for(object.__new__(AsyncAnthropicVertex)) == "gcp.vertex_ai"
    assert provider_for(object.__new__(AnthropicBedrock)) == "aws.bedrock"
    assert provider_for(OldBedrock()) == "aws.bedrock"
    assert provider_for(None) == "anthropic"
