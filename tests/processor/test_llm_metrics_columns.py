"""The object-free intake path of llm_metrics: columns from spans, tiered prices, worker processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from otel_llm import semconv as sc
from otel_llm._core.cost import PriceBook
from otel_llm_processor.component import Host
from otel_llm_processor.connector.llm_metrics.aggregator import Aggregator, columns_of_calls
from otel_llm_processor.connector.llm_metrics.columns import (
    columns_of_rows,
    dedup_rows,
    extract,
    extract_raw,
    rows_of_raw,
    rows_of_request,
)
from otel_llm_processor.connector.llm_metrics.config import Config
from otel_llm_processor.connector.llm_metrics.pricing import Pricer, TieredRates
from otel_llm_processor.connector.llm_metrics.workers import resolve_workers
from otel_llm_processor.model.dedup import dedup_calls
from otel_llm_processor.model.llm_call import LlmCall, calls_from_request, make_call
from otel_llm_processor.model.otlp_json import load_otlp_json

from .test_llm_metrics_connector import connector, span, traces

OTLP_DIR = Path(__file__).resolve().parent.parent / "testdata" / "otlp"
FIXTURES = sorted(OTLP_DIR.glob("*.json"))


def test_fixtures_exist() -> None:
    assert len(FIXTURES) >= 5


DIMS = ("test.env", sc.GEN_AI_REQUEST_MODEL, sc.SERVICE_NAME, "host.name")
DEFAULTS = ("none", "", "", "h")


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_the_scanner_path_reads_what_the_protobuf_path_reads(path: Path) -> None:
    """``rows_of_raw`` (native scanner over the bytes) == ``rows_of_request`` (protobuf objects)."""
    request = load_otlp_json(path)
    rs = request.resource_spans[0]
    rs.resource.attributes.add(key="test.env").value.string_value = "prod"
    for scope in rs.scope_spans:
        for s in scope.spans:
            s.attributes.add(key="host.name").value.int_value = 7
    raw = request.SerializeToString()
    rows, dims = rows_of_raw(raw, DIMS, DEFAULTS)
    assert rows, "every fixture holds LLM calls"
    assert (rows, dims) == rows_of_request(request, DIMS, DEFAULTS)
    assert rows_of_raw(raw) == rows_of_request(request)
    assert dims is not None and dims[0][0] == "prod" and dims[0][3] == "7" and dims[0][2] != ""
    assert extract_raw(raw, (), (), True)[1] == extract(request, (), (), True)[1]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_rows_are_the_deduplicated_calls_of_every_dialect_fixture(path: Path) -> None:
    request = load_otlp_json(path)
    expected = dedup_calls(calls_from_request(request))
    columns, rows = extract(request, (), (), want_rows=True)
    assert rows is not None
    assert [make_call(r) for r in rows] == expected
    reference = columns_of_calls(expected)
    assert columns.keys == reference.keys
    assert columns.key_of.tolist() == reference.key_of.tolist()
    np.testing.assert_array_equal(columns.values, reference.values)
    assert columns.trace_ids == [c.trace_id for c in expected]
    assert columns.span_ids == [c.span_id for c in expected]
    assert columns.end_ns == [c.end_ns for c in expected]


def _call(i: int, trace: int, parent: int = 0, **kw: object) -> LlmCall:
    fields: dict[str, object] = {
        "provider": "openai",
        "operation": "chat",
        "request_model": "gpt-4o",
        "response_model": "",
        "error_type": "",
        "input_tokens": 10,
        "output_tokens": 5,
        **kw,
    }
    return LlmCall(
        bytes([trace]) * 16, bytes([i]) * 8, bytes([parent]) * 8 if parent else b"", 100, 200, "svc", **fields
    )  # type: ignore[arg-type]


def _row(call: LlmCall) -> tuple[object, ...]:
    return tuple(getattr(call, f) for f in LlmCall.__slots__)


def test_dedup_rows_drops_the_nested_duplicate_and_keeps_order_and_dimensions() -> None:
    calls = [
        _call(1, trace=1),
        _call(2, trace=2),
        _call(3, trace=1, parent=1, cache_read_tokens=4),  # child of 1, richer: kept instead of 1
        _call(4, trace=3),
    ]
    rows = [_row(c) for c in calls]
    kept, dims = dedup_rows(rows, [("a",), ("b",), ("c",), ("d",)])
    assert [make_call(r) for r in kept] == dedup_calls(calls) == [calls[1], calls[2], calls[3]]
    assert dims == [("b",), ("c",), ("d",)]
    assert dedup_rows(rows[:2], None) == (rows[:2], None)


def test_columns_of_rows_first_appearance_keys_and_nan_for_missing() -> None:
    calls = [_call(1, 1), _call(2, 2, error_type="Timeout", input_tokens=None), _call(3, 3)]
    columns = columns_of_rows([_row(c) for c in calls])
    assert columns.keys == [
        ("svc", "openai", "gpt-4o", "chat", ""),
        ("svc", "openai", "gpt-4o", "chat", "Timeout"),
    ]
    assert columns.key_of.tolist() == [0, 1, 0]
    assert columns.values[0].tolist() == [100.0, 100.0, 100.0]  # end - start, ns
    assert np.isnan(columns.values[2][1]) and columns.values[2][0] == 10.0


# ---- tiered prices --------------------------------------------------------------------------
def test_tiered_model_is_vectorised_and_equals_the_book_on_both_sides_of_the_tier() -> None:
    pricer = Pricer()
    rates = pricer.rates("anthropic", "claude-sonnet-4-5")
    assert isinstance(rates, TieredRates)
    assert rates.thresholds.tolist() == [200_000]
    assert rates.bands(np.array([1.0, 200_000.0, 200_001.0])).tolist() == [0, 0, 1]
    usages = [(1000, 500, 300, 100), (200_000, 10, 0, 0), (200_001, 10, 1000, 0), (500_000, 2000, 0, 4000)]
    calls = [
        _call(
            i + 1,
            i + 1,
            provider="anthropic",
            request_model="claude-sonnet-4-5",
            input_tokens=a,
            output_tokens=b,
            cache_read_tokens=c,
            cache_creation_tokens=d,
        )
        for i, (a, b, c, d) in enumerate(usages)
    ]
    agg = Aggregator(pricer=pricer)
    result = agg.aggregate(calls, now=1.0)
    expected = sum(pricer.cost("anthropic", "claude-sonnet-4-5", *u) or 0.0 for u in usages)
    assert result.unpriced == 0
    assert result.part.counters[0][6] == pytest.approx(expected, rel=1e-12)
    # base tier: $3 / $15 / $0.30 / $3.75 per Mtok; above 200 k input tokens: $6 / $22.5 / $0.60 / $7.50
    assert expected == pytest.approx(0.009765 + 0.60015 + 1.194831 + 3.051, rel=1e-9)


def test_an_unmeasurable_tiered_price_falls_back_to_the_book_per_call() -> None:
    class Tiered:
        source = "test"
        model = "x"
        provider_id = None

        def cost(self, *usage: object) -> float:
            return 1.0

    class Book(PriceBook):
        def lookup(self, provider: str, model: str) -> Tiered:  # type: ignore[override]
            return Tiered()

    pricer = Pricer(Book())
    assert pricer.rates("p", "x") == "tiered"  # no tier starts to read: priced call by call
    result = Aggregator(pricer=pricer).aggregate([_call(1, 1, provider="p", request_model="x")], now=1.0)
    assert result.part.counters[0][6] == 1.0


# ---- workers ----------------------------------------------------------------------------------
def test_workers_setting() -> None:
    assert resolve_workers("auto", cpus=1) == 0
    assert resolve_workers("auto", cpus=4) == 3
    assert resolve_workers(2) == 2
    assert Config().workers == 0
    assert Config(workers="auto").workers == "auto"
    with pytest.raises(ValidationError):
        Config(workers=-1)
    with pytest.raises(ValidationError):
        Config(workers="many")  # type: ignore[arg-type]


async def test_a_worker_process_gives_the_same_metrics_and_calls_as_in_process() -> None:
    batches = [
        traces(span(1, 0.5, input=100, output=20), span(2, 2.0, error="Timeout"), service="a"),
        traces(span(3, 1.5, input=50, output=5), span(4, 0.25, model="other", input=7), service="b"),
    ]
    results = []
    for workers in (0, 1):
        conn, _sink, telemetry, _clock = connector(Config(workers=workers, flush_interval=3600))
        seen: list[LlmCall] = []
        conn.subscribe_calls(seen.extend)
        await conn.start(Host(telemetry=telemetry, data_dir="/nonexistent"))
        try:
            for batch in batches:
                batch.raw = batch.request.SerializeToString() if workers else None
                await conn.consume_traces(batch)
        finally:
            await conn.shutdown(asyncio.get_running_loop().time() + 5)
        summary = conn.summarize("1m", group_by=("service", "model"))
        failures = sum(s.value for s in telemetry.samples() if s.name == "worker_failures")
        results.append((summary, seen, failures))
    assert results[0][0] == results[1][0]
    assert sorted((g.labels["service"], g.labels["model"], g.calls) for g in results[1][0]) == [
        ("a", "m", 2),
        ("b", "m", 1),
        ("b", "other", 1),
    ]
    assert [c.span_id for c in results[1][1]] == [(i + 1000).to_bytes(8, "big") for i in (1, 2, 3, 4)]
    assert results[0][1] == results[1][1]
    assert results[1][2] == 0
