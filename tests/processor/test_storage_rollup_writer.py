from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_llm_processor.selftel import SelfTelemetry
from otel_llm_processor.services import SeriesUpdate
from otel_llm_processor.storage.rollup_writer import RollupWriter


class RecordingStorage:
    def __init__(self, fail: bool = False) -> None:
        self.rows: list[tuple[int, dict[str, str], dict[str, float]]] = []
        self.fail = fail

    async def add_rollup(self, hour: int, labels: Mapping[str, str], values: Mapping[str, float]) -> None:
        if self.fail:
            raise OSError("database is locked")
        self.rows.append((hour, dict(labels), dict(values)))


def _update(t: float, model: str, durations: list[float], errors: int = 0) -> SeriesUpdate:
    return SeriesUpdate(
        labels={"model": model},
        time=t,
        calls=len(durations),
        errors=errors,
        input_tokens=10 * len(durations),
        output_tokens=2,
        cached_tokens=0,
        cost_usd=0.5,
        durations_s=durations,
        ttfts_s=[],
        exemplars=[],
    )


async def test_updates_merge_per_hour_and_series() -> None:
    storage, tel = RecordingStorage(), SelfTelemetry()
    writer = RollupWriter(storage, tel)  # type: ignore[arg-type]
    writer.on_updates([_update(7200.0, "a", [1.0, 3.0]), _update(7300.0, "a", [2.0], errors=1)])
    writer.on_updates([_update(10_800.0, "a", [4.0]), _update(7201.0, "b", [0.5])])
    assert await writer.flush() == 3
    rows = {(hour, labels["model"]): values for hour, labels, values in storage.rows}
    a2 = rows[(2, "a")]
    assert (a2["calls"], a2["errors"], a2["input_tokens"], a2["cost_usd"]) == (3.0, 1.0, 30.0, 1.0)
    assert a2["duration_s_sum"] == 6.0 and a2["duration_s_count"] == 3.0 and a2["duration_s_max"] == 3.0
    assert sum(v for k, v in a2.items() if k.startswith("duration_s:")) == 3.0  # histogram counts add
    assert rows[(3, "a")]["calls"] == 1.0 and rows[(2, "b")]["duration_s_max"] == 0.5
    assert tel.counter("rollups", "rollups_written") == 3.0
    assert await writer.flush() == 0  # nothing pending twice


async def test_bounded_and_failures_counted() -> None:
    tel = SelfTelemetry()
    writer = RollupWriter(RecordingStorage(fail=True), tel, max_keys=2)  # type: ignore[arg-type]
    writer.on_updates([_update(0.0, m, [1.0]) for m in ("a", "b", "c")])
    assert tel.counter("rollups", "rollup_updates_dropped", reason="overflow") == 1.0
    writer.on_updates([_update(0.0, "a", [2.0])])  # an existing key still merges
    assert await writer.flush() == 0
    assert tel.counter("rollups", "rollup_updates_dropped", reason="storage") == 2.0
    empty: Any = _update(0.0, "z", [])
    writer.on_updates([empty])  # no calls: nothing to write
    assert await writer.flush() == 0


def test_vectorised_bucket_indices_match_the_scalar_ones() -> None:
    import numpy as np

    from otel_llm_processor.storage.rollup import bucket_index, bucket_indices

    rng = np.random.default_rng(7)
    values = np.concatenate(
        [rng.lognormal(0, 3, 5000), [0.0, -1.0, float("nan"), 1e-12, 1e12, 1.0, 2.0, 2**0.25, float("inf")]]
    )
    assert bucket_indices(values).tolist() == [bucket_index(float(v)) for v in values]


async def test_folded_buffers_give_the_same_rows_as_values_from_update() -> None:
    from otel_llm_processor.storage.rollup import values_from_update

    updates = [_update(7200.0 + i, "a", [0.1 * (i + 1), 2.5, 30.0]) for i in range(50)]
    storage = RecordingStorage()
    writer = RollupWriter(storage, SelfTelemetry(), fold_at=16)  # type: ignore[arg-type]
    writer.on_updates(updates)
    await writer.flush()
    expected: dict[str, float] = {}
    for u in updates:
        for k, v in values_from_update(u).items():
            expected[k] = max(expected.get(k, v), v) if k.endswith("_max") else expected.get(k, 0.0) + v
    got = storage.rows[0][2]
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert abs(got[k] - v) < 1e-9 * max(1.0, abs(v)), k
