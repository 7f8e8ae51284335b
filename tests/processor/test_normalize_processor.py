"""Processor ``normalize``: dialects rewritten to the current GenAI names; oversized values truncated."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import ValidationError

from otel_llm import semconv as sc
from otel_llm_processor.component import ComponentID, ComponentKind, CreateSettings, TracesBatch
from otel_llm_processor.model.llm_call import calls_from_request
from otel_llm_processor.model.otlp_json import load_otlp_json
from otel_llm_processor.processor.normalize.config import Config
from otel_llm_processor.processor.normalize.factory import FACTORY
from otel_llm_processor.processor.normalize.normalize import TRUNCATION_MARKER
from otel_llm_processor.registry import load_factories
from otel_llm_processor.selftel import SelfTelemetry

OTLP_DIR = Path(__file__).resolve().parent.parent / "testdata" / "otlp"


class Sink:
    def __init__(self) -> None:
        self.batches: list[TracesBatch] = []

    async def consume_traces(self, batch: TracesBatch) -> None:
        self.batches.append(batch)


def make(**config: Any) -> tuple[Any, Sink, SelfTelemetry]:
    sink, tel = Sink(), SelfTelemetry()
    settings = CreateSettings(ComponentID("normalize"), ComponentKind.PROCESSOR, tel, next_traces=sink)
    return FACTORY.create(settings, Config(**config)), sink, tel


def attrs_of(request: ExportTraceServiceRequest, index: int = 0) -> dict[str, Any]:
    span = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans][index]
    out: dict[str, Any] = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = (
            getattr(kv.value, kind)
            if kind != "array_value"
            else [v.string_value for v in kv.value.array_value.values]
        )
    return out


def test_factory_is_registered_as_an_opt_in_traces_processor() -> None:
    assert load_factories()[(ComponentKind.PROCESSOR, "normalize")] is FACTORY
    assert Config() == Config(keep_original=False, max_attribute_length=65536)
    with pytest.raises(ValidationError):
        Config(max_attribute_length=-1)
    with pytest.raises(ValidationError):
        Config(unknown=1)  # type: ignore[call-arg]


async def test_legacy_openllmetry_span_is_rewritten_to_current_names() -> None:
    proc, sink, tel = make()
    request = load_otlp_json(OTLP_DIR / "peer_openllmetry_legacy_openai.json")
    before = calls_from_request(request)
    batch = TracesBatch(request, raw=b"original", span_count=4)
    await proc.consume_traces(batch)
    assert sink.batches == [batch] and batch.raw is None
    chat = attrs_of(batch.request, 0)
    for old in (
        sc.GEN_AI_SYSTEM,
        sc.TRACELOOP_REQUEST_TYPE,
        sc.GEN_AI_USAGE_PROMPT_TOKENS,
        sc.GEN_AI_USAGE_COMPLETION_TOKENS,
        sc.TRACELOOP_CACHE_READ_INPUT_TOKENS,
        sc.TRACELOOP_IS_STREAMING,
        sc.TRACELOOP_OPENAI_SYSTEM_FINGERPRINT,
    ):
        assert old not in chat
    assert chat[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert chat[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert chat[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12 and chat[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert chat[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 4
    assert chat[sc.GEN_AI_REQUEST_STREAM] is False
    assert chat[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] == "fp_stub"
    assert attrs_of(batch.request, 2)[sc.GEN_AI_OPERATION_NAME] == "embeddings"
    assert tel.counter("normalize", "spans_normalized") == 4
    # the model reads the same calls after the rewrite
    after = calls_from_request(batch.request)

    def strip(c: Any) -> tuple[Any, ...]:
        return (
            c.provider,
            c.operation,
            c.model,
            c.input_tokens,
            c.output_tokens,
            c.cache_read_tokens,
            c.error_type,
        )

    assert [strip(c) for c in after] == [strip(c) for c in before]


async def test_openinference_span_is_rewritten_and_originals_can_be_kept() -> None:
    request = load_otlp_json(OTLP_DIR / "peer_openinference_openai.json")
    proc, sink, _ = make(keep_original=True)
    await proc.consume_traces(TracesBatch(copy.deepcopy(request)))
    kept = attrs_of(sink.batches[0].request, 0)
    assert kept[sc.OPENINFERENCE_TOKEN_COUNT_PROMPT] == 12 and kept[sc.OPENINFERENCE_SPAN_KIND] == "LLM"
    assert kept[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12 and kept[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert kept[sc.GEN_AI_PROVIDER_NAME] == "openai" and kept[sc.OPENINFERENCE_LLM_SYSTEM] == "openai"
    assert kept[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert kept[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 2
    assert kept[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 4

    proc, sink, _ = make()
    await proc.consume_traces(TracesBatch(copy.deepcopy(request)))
    moved = attrs_of(sink.batches[0].request, 0)
    assert sc.OPENINFERENCE_TOKEN_COUNT_PROMPT not in moved and sc.OPENINFERENCE_SPAN_KIND not in moved
    assert moved[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert calls_from_request(sink.batches[0].request)[0].dialect == "otel"


async def test_current_names_win_over_old_ones_and_nothing_is_summed() -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="chat m")
    for key, value in (
        (sc.GEN_AI_PROVIDER_NAME, "openai"),
        (sc.GEN_AI_SYSTEM, "xai"),
        (sc.GEN_AI_REQUEST_MODEL, "m"),
    ):
        span.attributes.add(key=key).value.string_value = value
    for key, value in (
        (sc.GEN_AI_USAGE_INPUT_TOKENS, 10),
        (sc.GEN_AI_USAGE_PROMPT_TOKENS, 11),
        (sc.OPENINFERENCE_TOKEN_COUNT_PROMPT, 12),
    ):
        span.attributes.add(key=key).value.int_value = value
    proc, sink, _ = make()
    await proc.consume_traces(TracesBatch(request))
    got = attrs_of(sink.batches[0].request)
    assert got == {
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "m",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 10,
        sc.GEN_AI_OPERATION_NAME: "chat",
    }


async def test_current_spans_and_non_llm_spans_pass_unchanged_with_their_bytes() -> None:
    path = OTLP_DIR / "peer_contrib_openai.json"
    request = load_otlp_json(path)
    non_llm = request.resource_spans.add().scope_spans.add().spans.add(name="GET /")
    non_llm.attributes.add(key="http.request.method").value.string_value = "GET"
    raw = request.SerializeToString()
    proc, _sink, tel = make()
    batch = TracesBatch(request, raw=raw)
    await proc.consume_traces(batch)
    assert batch.raw == raw and batch.request.SerializeToString() == raw
    assert tel.counter("normalize", "spans_normalized") == 0


async def test_oversized_values_are_truncated_with_a_marker_and_counted() -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="GET /")
    span.attributes.add(key="big").value.string_value = "x" * 100
    span.attributes.add(key="small").value.string_value = "y" * 50
    span.attributes.add(key="blob").value.bytes_value = b"z" * 80
    arr = span.attributes.add(key="list").value.array_value
    arr.values.add(string_value="a" * 51)
    arr.values.add(string_value="ok")
    span.events.add(name="content").attributes.add(key="prompt").value.string_value = "p" * 1000
    proc, _sink, tel = make(max_attribute_length=50)
    batch = TracesBatch(request, raw=b"x")
    await proc.consume_traces(batch)
    got = attrs_of(batch.request)
    assert got["big"] == "x" * (50 - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER and len(got["big"]) == 50
    assert got["small"] == "y" * 50
    assert got["blob"] == b"z" * (50 - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER.encode()
    assert got["list"] == ["a" * (50 - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER, "ok"]
    event_value = (
        batch.request.resource_spans[0].scope_spans[0].spans[0].events[0].attributes[0].value.string_value
    )
    assert event_value.endswith(TRUNCATION_MARKER) and len(event_value) == 50
    assert batch.raw is None
    assert tel.counter("normalize", "attributes_truncated") == 4


async def test_truncation_can_be_disabled_and_lifecycle_is_idempotent() -> None:
    proc, sink, tel = make(max_attribute_length=0)
    await proc.shutdown(0.0)  # safe before start
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add().attributes.add(
        key="big"
    ).value.string_value = "x" * 200_000
    await proc.consume_traces(TracesBatch(request, raw=b"r"))
    assert len(attrs_of(sink.batches[0].request)["big"]) == 200_000 and sink.batches[0].raw == b"r"
    assert tel.counter("normalize", "attributes_truncated") == 0
