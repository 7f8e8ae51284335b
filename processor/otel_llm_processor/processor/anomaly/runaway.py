"""Per-trace runaway detection: agent loops that keep calling the model within one trace.

Active traces live in an LRU map bounded by ``max_traces``; a trace is forgotten after ``idle``
seconds without a call. Each limit (calls, tokens, cost) is reported once per trace, while the
trace is still running (the call that crosses it triggers the report).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from otel_llm_processor.model.llm_call import LlmCall
from otel_llm_processor.processor.anomaly.config import RunawayConfig

__all__ = ["RunawayBreach", "TraceTracker"]


@dataclass(slots=True)
class _Trace:
    service: str
    model: str
    last: float
    calls: int = 0
    tokens: int = 0
    cost: float = 0.0
    spans: list[str] = field(default_factory=list)
    raised: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class RunawayBreach:
    trace_id: str
    service: str
    model: str
    metric: str  # trace.calls | trace.tokens | trace.cost_usd
    value: float
    limit: float
    span_ids: tuple[str, ...]
    t: float


class TraceTracker:
    def __init__(self, config: RunawayConfig, cost: Callable[[LlmCall], float | None]) -> None:
        self.config = config
        self._cost = cost
        self._traces: OrderedDict[bytes, _Trace] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._traces)

    def add(self, call: LlmCall, t: float) -> list[RunawayBreach]:
        traces = self._traces
        trace = traces.get(call.trace_id)
        if trace is None:
            trace = _Trace(call.service, call.model, t)
            traces[call.trace_id] = trace
            if len(traces) > self.config.max_traces:
                traces.popitem(last=False)
                self.evicted += 1
        else:
            traces.move_to_end(call.trace_id)
        trace.last = t
        trace.calls += 1
        trace.tokens += (call.input_tokens or 0) + (call.output_tokens or 0)
        cost = call.cost_usd if call.cost_usd is not None else self._cost(call)
        trace.cost += cost or 0.0
        if len(trace.spans) < 5:
            trace.spans.append(call.span_id.hex())
        cfg = self.config
        out = []
        for metric, value, limit in (
            ("trace.calls", trace.calls, cfg.max_calls),
            ("trace.tokens", trace.tokens, cfg.max_tokens),
            ("trace.cost_usd", trace.cost, cfg.max_cost_usd),
        ):
            if limit is not None and value > limit and metric not in trace.raised:
                trace.raised.add(metric)
                out.append(
                    RunawayBreach(
                        call.trace_id.hex(),
                        trace.service,
                        call.model,
                        metric,
                        float(value),
                        float(limit),
                        tuple(trace.spans),
                        t,
                    )
                )
        return out

    def expire(self, now: float) -> None:
        horizon = now - self.config.idle
        traces = self._traces
        while traces:
            oldest = next(iter(traces.values()))
            if oldest.last >= horizon:
                break
            traces.popitem(last=False)
