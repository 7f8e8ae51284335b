"""Count an LLM call once when two instrumentations recorded it (e.g. OpenLLMetry and the contrib one).

Two calls are the same call when they are in the same trace, overlap in time, have the same
operation, compatible provider and model, and

- one is the parent of the other (nested wrappers around one SDK call): the same call unless both
  carry response ids and those differ; or
- they are siblings (same parent span): only when their response ids are equal, or, lacking ids,
  when their token counts and error types are equal (parallel calls to one model are not merged
  on overlap alone).

Of each group of duplicates the most complete record is kept: the most usage fields present
(tokens, cache, reasoning, cost, time to first token), then the dialect (current GenAI semantic
conventions first), then the earlier one in the batch. Works within one batch: spans of one call
that arrive in different batches are not merged (the SDK's batch processor normally exports a
parent and its child together since they end within microseconds).
"""

from __future__ import annotations

from collections.abc import Sequence

from otel_llm_processor.model.llm_call import LlmCall

__all__ = ["dedup_calls", "is_duplicate"]

_DIALECT_RANK = {"otel": 4, "openllmetry": 3, "openinference": 2, "openlit": 2, "otel_legacy": 1}


def dedup_calls(calls: Sequence[LlmCall]) -> list[LlmCall]:
    """``calls`` without duplicates, order kept. O(n) when every call is in its own trace."""
    n = len(calls)
    if n < 2:
        return list(calls)
    by_trace: dict[bytes, list[int]] = {}
    for i, call in enumerate(calls):
        group = by_trace.get(call.trace_id)
        if group is None:
            by_trace[call.trace_id] = [i]
        else:
            group.append(i)
    if len(by_trace) == n:
        return list(calls)

    parent = list(range(n))  # union-find over indices

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    merged = False
    for group in by_trace.values():
        if len(group) < 2:
            continue
        for i, j in _candidate_pairs(calls, group):
            if is_duplicate(calls[i], calls[j]):
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[rj] = ri
                    merged = True
    if not merged:
        return list(calls)

    best: dict[int, int] = {}
    for i in range(n):
        root = find(i)
        kept = best.get(root)
        if kept is None or _score(calls[i], i) > _score(calls[kept], kept):
            best[root] = i
    keep = set(best.values())
    return [call for i, call in enumerate(calls) if i in keep]


def _candidate_pairs(calls: Sequence[LlmCall], group: list[int]) -> list[tuple[int, int]]:
    """Parent/child pairs and overlapping sibling pairs of one trace (no all-pairs scan)."""
    pairs: list[tuple[int, int]] = []
    by_span = {calls[i].span_id: i for i in group}
    siblings: dict[bytes, list[int]] = {}
    for i in group:
        call = calls[i]
        j = by_span.get(call.parent_span_id)
        if j is not None:
            pairs.append((j, i))
        siblings.setdefault(call.parent_span_id, []).append(i)
    for members in siblings.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda k: calls[k].start_ns)
        for a, i in enumerate(members):
            end = calls[i].end_ns
            for j in members[a + 1 :]:
                if calls[j].start_ns > end:
                    break  # sorted by start: no later sibling overlaps i
                pairs.append((i, j))
    return pairs


def is_duplicate(a: LlmCall, b: LlmCall) -> bool:
    """Whether two calls of one trace record the same model call (see the module doc)."""
    if a.trace_id != b.trace_id or a.span_id == b.span_id:
        return False
    if a.start_ns > b.end_ns or b.start_ns > a.end_ns or a.operation != b.operation:
        return False
    if a.provider and b.provider and a.provider != b.provider:
        return False
    if not _same_model(a, b):
        return False
    if a.response_id and b.response_id:
        return a.response_id == b.response_id
    if a.parent_span_id == b.span_id or b.parent_span_id == a.span_id:
        return True
    return (
        a.parent_span_id == b.parent_span_id
        and a.input_tokens == b.input_tokens
        and a.output_tokens == b.output_tokens
        and a.error_type == b.error_type
    )


def _same_model(a: LlmCall, b: LlmCall) -> bool:
    names_a = {m for m in (a.request_model, a.response_model) if m}
    names_b = {m for m in (b.request_model, b.response_model) if m}
    return not names_a or not names_b or not names_a.isdisjoint(names_b)


def _score(call: LlmCall, index: int) -> tuple[int, int, int]:
    present = sum(
        value is not None
        for value in (
            call.input_tokens,
            call.output_tokens,
            call.cache_read_tokens,
            call.cache_creation_tokens,
            call.reasoning_tokens,
            call.cost_usd,
            call.ttft_s,
        )
    )
    return (present, _DIALECT_RANK.get(call.dialect, 0), -index)
