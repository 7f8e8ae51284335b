"""dedup_calls: one LLM call recorded by two instrumentations is kept once, the richer record."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from otel_llm_processor.model.dedup import dedup_calls, is_duplicate
from otel_llm_processor.model.llm_call import LlmCall, calls_from_request
from otel_llm_processor.model.otlp_json import load_otlp_json

OTLP_DIR = Path(__file__).resolve().parent.parent / "testdata" / "otlp"
T1, T2 = b"\x01" * 16, b"\x02" * 16


def call(
    span: int, parent: int = 0, trace: bytes = T1, start: int = 100, end: int = 200, **kw: object
) -> LlmCall:
    fields = {
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
        trace, bytes([span]) * 8, bytes([parent]) * 8 if parent else b"", start, end, "svc", **fields
    )  # type: ignore[arg-type]


def test_real_double_instrumentation_keeps_one_call_each_and_the_richer_record() -> None:
    calls = calls_from_request(load_otlp_json(OTLP_DIR / "peer_double_openai.json"))
    assert len(calls) == 8
    kept = dedup_calls(calls)
    assert len(kept) == 4
    # OpenLLMetry's inner spans carry cache/reasoning tokens: more complete than contrib's. The failed
    # call has no usage on either side: the tie goes to the current semantic conventions (contrib).
    assert [(c.dialect, c.operation, c.error_type != "") for c in kept] == [
        ("openllmetry", "chat", False),
        ("openllmetry", "chat", False),
        ("openllmetry", "embeddings", False),
        ("otel", "chat", True),
    ]
    assert {c.trace_id for c in kept} == {c.trace_id for c in calls}


def test_single_instrumentation_fixtures_are_unchanged() -> None:
    for name in ("peer_openllmetry_openai.json", "peer_contrib_openai.json", "otel_llm_openai_chat.json"):
        path = OTLP_DIR / name
        if path.exists():
            calls = calls_from_request(load_otlp_json(path))
            assert dedup_calls(calls) == calls


def test_parent_child_same_model_is_one_call_most_complete_wins() -> None:
    outer = call(1, start=100, end=300)
    inner = call(2, parent=1, start=110, end=290, cost_usd=0.01, ttft_s=0.1)
    assert dedup_calls([outer, inner]) == [inner]
    # the tie-break prefers the current semantic conventions, then the earlier call
    legacy = call(3, parent=1, dialect="otel_legacy")
    assert dedup_calls([legacy, outer]) == [outer]
    assert dedup_calls([outer, dataclasses.replace(inner, cost_usd=None, ttft_s=None)]) == [outer]


def test_chain_of_three_instrumentations_keeps_exactly_one() -> None:
    a = call(1, start=100, end=400)
    b = call(2, parent=1, start=110, end=390)
    c = call(3, parent=2, start=120, end=380, cache_read_tokens=3)
    assert dedup_calls([a, b, c]) == [c]


def test_not_duplicates() -> None:
    base = call(1, start=100, end=300)
    cases = [
        call(2, parent=1, trace=T2),  # other trace
        call(2, parent=1, start=301, end=400),  # no overlap
        call(2, parent=1, request_model="gpt-4o-mini"),  # other model
        call(2, parent=1, operation="embeddings"),  # other operation
        call(2, parent=1, provider="anthropic"),  # other provider
    ]
    for other in cases:
        assert not is_duplicate(base, other)
        assert dedup_calls([base, other]) == [base, other]


def test_siblings_need_equal_ids_or_equal_usage() -> None:
    a = call(2, parent=1, response_id="r1")
    same_id = call(3, parent=1, response_id="r1", input_tokens=99)
    other_id = call(3, parent=1, response_id="r2")
    parallel = call(3, parent=1, output_tokens=6)  # parallel call to the same model: different usage
    mirror = call(3, parent=1)  # no ids, same usage and outcome: the same call
    assert dedup_calls([a, same_id]) == [a]
    assert dedup_calls([a, other_id]) == [a, other_id]
    assert dedup_calls([a, parallel]) == [a, parallel]
    assert dedup_calls([a, mirror]) == [a]


def test_response_model_matches_request_model_across_dialects() -> None:
    contrib = call(1, request_model="gpt-4o-mini", response_model="gpt-4o-mini-2024-07-18")
    openinference = call(
        2, parent=1, request_model="", response_model="gpt-4o-mini-2024-07-18", dialect="openinference"
    )
    assert is_duplicate(contrib, openinference)


def test_many_calls_of_distinct_traces_pass_through() -> None:
    calls = [call(i % 250 + 1, trace=i.to_bytes(16, "big")) for i in range(1000)]
    assert dedup_calls(calls) == calls
    assert dedup_calls([]) == []
