"""The Storage contract, run against SQLite and a real PostgreSQL (started by the harness)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from pydantic import ValidationError

from otel_llm_processor.services import Anomaly, SeriesUpdate, Storage
from otel_llm_processor.storage import StorageConfig, create_storage, open_storage
from otel_llm_processor.storage.migrations import MIGRATIONS
from otel_llm_processor.storage.rollup import bucket_value, hour_of, values_from_update

Factory = Callable[[], Awaitable[Storage]]

DAY0 = 20_000 * 24  # hour number of 2024-10-04 00:00 UTC (a Friday)


@pytest.fixture(params=["sqlite", "postgres"])
def make_storage(request: pytest.FixtureRequest, tmp_path: object) -> Factory:
    """Opens a new storage instance on the same database each call (to test sharing/reopen)."""
    if request.param == "postgres":
        config = StorageConfig(driver="postgres", dsn=request.getfixturevalue("postgres_dsn"), pool_size=3)
    else:
        config = StorageConfig(driver="sqlite")

    async def factory() -> Storage:
        return await open_storage(config, str(tmp_path))

    return factory


@pytest.fixture
async def storage(make_storage: Factory) -> AsyncIterator[Storage]:
    store = await make_storage()
    yield store
    await store.close()


async def test_migrations_are_applied_once(make_storage: Factory) -> None:
    first = await make_storage()
    assert await first.schema_version() == MIGRATIONS[-1].version  # type: ignore[attr-defined]
    await first.close()
    second = await make_storage()
    rows = await second._fetch("SELECT version, description FROM schema_version")  # type: ignore[attr-defined]
    assert [tuple(r) for r in rows] == [(m.version, m.description) for m in MIGRATIONS]
    await second.close()


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="dsn is required"):
        StorageConfig(driver="postgres")
    with pytest.raises(ValidationError, match="only for driver postgres"):
        StorageConfig(driver="sqlite", dsn="host=x")
    secret = StorageConfig(driver="postgres", dsn="postgresql://u:hunter2@db/x")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret.model_dump())
    assert "hunter2" not in repr(create_storage(secret, "/nonexistent"))


def test_sqlite_default_path(tmp_path: object) -> None:
    store = create_storage(StorageConfig(), str(tmp_path))
    assert store.path == os.path.join(str(tmp_path), "otel-llm.db")  # type: ignore[attr-defined]


async def test_alerts_upsert_get_list(storage: Storage) -> None:
    a1 = {
        "id": "a1",
        "rule": "r",
        "state": "pending",
        "severity": "WARNING",
        "updated_at": 10.0,
        "labels": {"m": "x"},
    }
    a2 = {"id": "a2", "rule": "r", "state": "firing", "severity": "ERROR", "updated_at": 20.0}
    await storage.upsert_alert(a1)
    await storage.upsert_alert(a2)
    assert await storage.get_alert("a1") == a1
    assert await storage.get_alert("missing") is None
    assert [a["id"] for a in await storage.list_alerts()] == ["a2", "a1"]
    assert [a["id"] for a in await storage.list_alerts(state="firing")] == ["a2"]
    a1_firing = {**a1, "state": "firing", "updated_at": 30.0}
    await storage.upsert_alert(a1_firing)
    assert await storage.get_alert("a1") == a1_firing
    assert [a["id"] for a in await storage.list_alerts(state="firing")] == ["a1", "a2"]
    assert [a["id"] for a in await storage.list_alerts(state="firing", limit=1)] == ["a1"]
    assert await storage.list_alerts(state="pending") == []
    with pytest.raises(ValueError, match="needs an 'id'"):
        await storage.upsert_alert({"state": "firing"})


async def test_transitions_and_acknowledgements(storage: Storage) -> None:
    await storage.add_transition("a1", "pending", "firing", 100.0)
    await storage.add_transition("a1", "firing", "acknowledged", 150.5, by="alice")
    await storage.add_transition("a2", "pending", "firing", 120.0)
    await storage.add_transition("a1", "acknowledged", "resolved", 200.0)
    assert await storage.list_transitions("a1") == [
        {"alert_id": "a1", "from_state": "pending", "to_state": "firing", "at": 100.0, "by": ""},
        {"alert_id": "a1", "from_state": "firing", "to_state": "acknowledged", "at": 150.5, "by": "alice"},
        {"alert_id": "a1", "from_state": "acknowledged", "to_state": "resolved", "at": 200.0, "by": ""},
    ]
    assert await storage.list_transitions("nope") == []


def _anomaly(i: int, t: float) -> Anomaly:
    return Anomaly(
        id=f"an{i}",
        time=t,
        series={"service": "svc", "model": "gpt-4o"},
        metric="duration_s.p95",
        value=2.5 + i,
        expected=1.0 if i % 2 else None,
        band=(0.5, 1.5) if i % 2 else None,
        score=4.25,
        severity="WARNING",
        detector="zscore",
        message=f"slow {i}",
        exemplars=(("ab" * 16, "cd" * 8),) if i % 2 else (),
    )


async def test_anomalies_round_trip(storage: Storage) -> None:
    anomalies = [_anomaly(i, 1000.0 + i) for i in range(5)]
    for anomaly in anomalies:
        await storage.add_anomaly(anomaly)
    assert await storage.list_anomalies() == list(reversed(anomalies))
    assert await storage.list_anomalies(since=1003.0) == [anomalies[4], anomalies[3]]
    assert await storage.list_anomalies(limit=2) == [anomalies[4], anomalies[3]]
    assert (await storage.list_anomalies())[1].band == (0.5, 1.5)  # a tuple again


async def test_rules_crud(storage: Storage) -> None:
    await storage.put_rule({"id": "b", "metric": "error_rate", "op": "gt", "threshold": 0.1})
    await storage.put_rule({"name": "a", "metric": "cost_usd", "op": "gt", "threshold": 5})
    await storage.put_rule({"id": "b", "metric": "error_rate", "op": "gt", "threshold": 0.2})
    assert await storage.list_rules() == [
        {"name": "a", "metric": "cost_usd", "op": "gt", "threshold": 5},
        {"id": "b", "metric": "error_rate", "op": "gt", "threshold": 0.2},
    ]
    assert await storage.delete_rule("b") is True
    assert await storage.delete_rule("b") is False
    assert [r["name"] for r in await storage.list_rules()] == ["a"]
    with pytest.raises(ValueError, match="needs an 'id'"):
        await storage.put_rule({"metric": "x"})


async def test_outbox_claim_retry_done(storage: Storage) -> None:
    e1 = await storage.outbox_put("slack", {"dedup_key": "k1", "n": 1}, not_before=100.0)
    e2 = await storage.outbox_put("slack", {"dedup_key": "k2", "n": 2}, not_before=100.0)
    e3 = await storage.outbox_put("slack", {"dedup_key": "k1", "n": 3}, not_before=100.0)
    e4 = await storage.outbox_put("pagerduty", {"n": 4}, not_before=500.0)
    assert await storage.outbox_size() == 4
    assert await storage.outbox_size("slack") == 3
    assert await storage.outbox_due("slack", now=99.0) == []
    # e3 waits behind e1 (same dedup key); claimed entries are invisible for the lease (60 s).
    assert await storage.outbox_due("slack", now=100.0) == [
        (e1, {"dedup_key": "k1", "n": 1}, 0),
        (e2, {"dedup_key": "k2", "n": 2}, 0),
    ]
    assert await storage.outbox_due("slack", now=101.0) == []
    await storage.outbox_retry(e1, not_before=130.0, error="HTTP 503")
    await storage.outbox_done(e2)
    assert await storage.outbox_due("slack", now=120.0) == []  # e1 backs off, e3 still behind it
    assert await storage.outbox_due("slack", now=130.0) == [(e1, {"dedup_key": "k1", "n": 1}, 1)]
    await storage.outbox_done(e1)
    assert await storage.outbox_due("slack", now=131.0) == [(e3, {"dedup_key": "k1", "n": 3}, 0)]
    # an unfinished claim (a crashed replica) becomes due again when its lease ends
    assert await storage.outbox_due("slack", now=131.0 + 59.0) == []
    assert await storage.outbox_due("slack", now=131.0 + 61.0) == [(e3, {"dedup_key": "k1", "n": 3}, 0)]
    assert await storage.outbox_due("pagerduty", now=600.0, limit=10) == [(e4, {"n": 4}, 0)]
    await storage.outbox_done(e3)
    await storage.outbox_done(e4)
    assert await storage.outbox_size() == 0


async def test_outbox_concurrent_claims_never_overlap(make_storage: Factory) -> None:
    first, second = await make_storage(), await make_storage()
    try:
        ids = [await first.outbox_put("w", {"n": i}, not_before=0.0) for i in range(60)]
        claims = await asyncio.gather(
            *(store.outbox_due("w", now=1.0, limit=7) for store in (first, second) for _ in range(6))
        )
        claimed = [entry_id for batch in claims for entry_id, _, _ in batch]
        assert len(claimed) == len(set(claimed))
        rest = await first.outbox_due("w", now=1.0, limit=100)
        assert sorted(claimed + [entry_id for entry_id, _, _ in rest]) == ids
    finally:
        await first.close()
        await second.close()


async def test_state_survives_reopen(make_storage: Factory) -> None:
    store = await make_storage()
    await store.upsert_alert({"id": "x", "state": "firing", "updated_at": 1.0})
    entry = await store.outbox_put("w", {"a": 1}, not_before=0.0)
    await store.close()
    store = await make_storage()
    assert await store.get_alert("x") == {"id": "x", "state": "firing", "updated_at": 1.0}
    assert await store.outbox_due("w", now=1.0) == [(entry, {"a": 1}, 0)]
    await store.close()


def _update(
    model: str, t: float, calls: int, errors: int, durations: list[float], cost: float
) -> SeriesUpdate:
    return SeriesUpdate(
        labels={"service": "svc", "model": model},
        time=t,
        calls=calls,
        errors=errors,
        input_tokens=100 * calls,
        output_tokens=10 * calls,
        cached_tokens=0,
        cost_usd=cost,
        durations_s=durations,
        ttfts_s=[],
        exemplars=(),
    )


async def test_rollups_and_trends(storage: Storage) -> None:
    day = DAY0 * 3600.0
    updates = [
        _update("gpt-4o", day + 3600 * 1, 10, 1, [0.1] * 9 + [2.0], 1.25),
        _update("gpt-4o", day + 3600 * 5, 10, 0, [0.2] * 10, 0.75),
        _update("claude", day + 3600 * 2, 4, 2, [1.0] * 4, 0.5),
        _update("gpt-4o", day + 86400 + 60, 20, 0, [0.3] * 20, 3.0),
    ]
    for update in updates:
        await storage.add_rollup(hour_of(update.time), update.labels, values_from_update(update))

    cost = await storage.trends("cost_usd", ["model"], since_hour=DAY0, bucket_hours=24)
    assert cost == [
        {"hour": DAY0, "time": DAY0 * 3600, "labels": {"model": "claude"}, "value": 0.5},
        {"hour": DAY0, "time": DAY0 * 3600, "labels": {"model": "gpt-4o"}, "value": 2.0},
        {"hour": DAY0 + 24, "time": (DAY0 + 24) * 3600, "labels": {"model": "gpt-4o"}, "value": 3.0},
    ]
    total = await storage.trends("calls", [], since_hour=DAY0, bucket_hours=24)
    assert [(p["hour"], p["labels"], p["value"]) for p in total] == [(DAY0, {}, 24.0), (DAY0 + 24, {}, 20.0)]

    p95 = await storage.trends("duration_s.p95", ["model"], since_hour=DAY0, bucket_hours=24)
    # day 0 gpt-4o: 20 samples (9 x 0.1, 10 x 0.2, 1 x 2.0): rank 19 falls in 0.2's bucket
    assert [(p["labels"]["model"], p["value"]) for p in p95] == [
        ("claude", pytest.approx(bucket_value(0))),
        ("gpt-4o", pytest.approx(bucket_value(-9))),
        ("gpt-4o", 0.3),  # the bucket's middle (0.324) is above the observed max: clamped
    ]
    assert abs(p95[0]["value"] - 1.0) < 0.09 and abs(p95[1]["value"] - 0.2) / 0.2 < 0.09
    avg = await storage.trends("duration_s.avg", ["model"], since_hour=DAY0, bucket_hours=24)
    assert [p["value"] for p in avg] == [
        pytest.approx(1.0),
        pytest.approx((0.9 + 2.0 + 2.0) / 20),
        pytest.approx(0.3),
    ]
    peak = await storage.trends("duration_s.max", [], since_hour=DAY0, bucket_hours=24)
    assert [p["value"] for p in peak] == [2.0, 0.3]

    # DAY0 is a Friday: an ISO week bucket starts on the Monday before, both days fall in it
    weekly = await storage.trends("error_rate", [], since_hour=DAY0, bucket_hours=168)
    assert weekly == [{"hour": DAY0 - 96, "time": (DAY0 - 96) * 3600, "labels": {}, "value": 3 / 44}]
    later = await storage.trends("error_rate", ["model"], since_hour=DAY0 + 24, bucket_hours=24)
    assert later == [
        {"hour": DAY0 + 24, "time": (DAY0 + 24) * 3600, "labels": {"model": "gpt-4o"}, "value": 0.0}
    ]
    assert await storage.trends("ttft_s.p95", [], since_hour=DAY0, bucket_hours=24) == []

    with pytest.raises(ValueError, match="unknown trend metric"):
        await storage.trends("bogus", [], since_hour=0, bucket_hours=24)
    with pytest.raises(ValueError, match="unknown rollup value"):
        await storage.add_rollup(DAY0, {"model": "x"}, {"latency": 1.0})


async def test_rollups_concurrent_adds_are_exact(storage: Storage) -> None:
    labels = {"model": "m"}
    await asyncio.gather(
        *(
            storage.add_rollup(
                DAY0, labels, {"calls": 1.0, "cost_usd": 0.5, "duration_s:0": 1.0, "duration_s_max": i}
            )
            for i in range(40)
        )
    )
    calls = await storage.trends("calls", ["model"], since_hour=DAY0, bucket_hours=1)
    assert calls == [{"hour": DAY0, "time": DAY0 * 3600, "labels": {"model": "m"}, "value": 40.0}]
    cost = await storage.trends("cost_usd", [], since_hour=DAY0, bucket_hours=1)
    assert cost[0]["value"] == 20.0
    peak = await storage.trends("duration_s.max", [], since_hour=DAY0, bucket_hours=1)
    assert peak == []  # no duration count was added: the statistic is undefined
