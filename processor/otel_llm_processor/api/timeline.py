"""A bounded time series of the LLM traffic, for the dashboard's charts.

Subscribes to the ``llm_metrics`` view and folds every :class:`SeriesUpdate` into fixed-width time
slots (10 s by default, one hour kept). Each slot keeps totals per model and a bounded sample of
durations and TTFTs for percentiles. Memory is bounded by ``slots x (models + sample size)``.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from otel_llm_processor.services import SeriesUpdate

__all__ = ["Timeline"]

_SAMPLE = 512  # durations/TTFTs kept per slot (reservoir), enough for p99 of a 10 s slot
_MAX_MODELS = 50  # per slot; the rest is folded into "other"


@dataclass(slots=True)
class _Slot:
    start: float
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    durations: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    seen_d: int = 0
    seen_t: int = 0
    by_model: dict[str, list[float]] = field(default_factory=dict)  # model -> [calls, tokens, cost]


def _reservoir(sample: list[float], seen: int, values: Sequence[float], rng: random.Random) -> int:
    for v in values:
        seen += 1
        if len(sample) < _SAMPLE:
            sample.append(v)
        else:
            j = rng.randrange(seen)
            if j < _SAMPLE:
                sample[j] = v
    return seen


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(np.asarray(values), q)) if values else None


class Timeline:
    def __init__(self, slot_s: float = 10.0, keep: int = 360) -> None:
        self.slot_s = slot_s
        self._slots: deque[_Slot] = deque(maxlen=keep)
        self._rng = random.Random(0)

    def _slot(self, t: float) -> _Slot:
        start = t - (t % self.slot_s)
        if self._slots and self._slots[-1].start == start:
            return self._slots[-1]
        for slot in reversed(self._slots):  # late update for a recent slot
            if slot.start == start:
                return slot
            if slot.start < start:
                break
        slot = _Slot(start)
        if not self._slots or self._slots[-1].start < start:
            self._slots.append(slot)
        return slot

    def on_updates(self, updates: Sequence[SeriesUpdate]) -> None:
        """Subscriber callback for ``LlmMetricsView.subscribe``."""
        for u in updates:
            slot = self._slot(u.time)
            slot.calls += u.calls
            slot.errors += u.errors
            slot.input_tokens += u.input_tokens
            slot.output_tokens += u.output_tokens
            slot.cost_usd += u.cost_usd
            slot.seen_d = _reservoir(slot.durations, slot.seen_d, u.durations_s, self._rng)
            slot.seen_t = _reservoir(slot.ttfts, slot.seen_t, u.ttfts_s, self._rng)
            model = u.labels.get("model", "") or "unknown"
            if model not in slot.by_model and len(slot.by_model) >= _MAX_MODELS:
                model = "other"
            row = slot.by_model.setdefault(model, [0.0, 0.0, 0.0])
            row[0] += u.calls
            row[1] += u.input_tokens + u.output_tokens
            row[2] += u.cost_usd

    def series(self, since: float | None = None) -> dict[str, Any]:
        """Columnar series for the charts: one entry per slot, oldest first."""
        slots = [s for s in self._slots if since is None or s.start >= since]
        models = sorted({m for s in slots for m in s.by_model})
        return {
            "slot_seconds": self.slot_s,
            "t": [s.start for s in slots],
            "calls_per_s": [s.calls / self.slot_s for s in slots],
            "error_rate": [(s.errors / s.calls) if s.calls else 0.0 for s in slots],
            "input_tokens": [s.input_tokens for s in slots],
            "output_tokens": [s.output_tokens for s in slots],
            "cost_usd": [round(s.cost_usd, 9) for s in slots],
            "latency_p50": [_pct(s.durations, 50) for s in slots],
            "latency_p95": [_pct(s.durations, 95) for s in slots],
            "latency_p99": [_pct(s.durations, 99) for s in slots],
            "ttft_p50": [_pct(s.ttfts, 50) for s in slots],
            "ttft_p95": [_pct(s.ttfts, 95) for s in slots],
            "ttft_p99": [_pct(s.ttfts, 99) for s in slots],
            "models": models,
            "tokens_by_model": {m: [s.by_model.get(m, [0, 0, 0])[1] for s in slots] for m in models},
            "cost_by_model": {m: [round(s.by_model.get(m, [0, 0, 0])[2], 9) for s in slots] for m in models},
        }
