"""Backoff with full jitter and the shared config blocks: pure functions, seeded RNG."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from otel_llm_processor.exporterhelper import (
    QueueConfig,
    RetryConfig,
    backoff_cap,
    next_delay,
    parse_duration,
)


def test_cap_grows_exponentially_up_to_max_interval() -> None:
    caps = [backoff_cap(a, initial=1.0, maximum=10.0, multiplier=2.0) for a in range(7)]
    assert caps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert [backoff_cap(a, 5.0, 30.0, 1.5) for a in range(5)] == [5.0, 7.5, 11.25, 16.875, 25.3125]
    assert backoff_cap(10_000, 5.0, 30.0, 1.5) == 30.0  # no overflow for huge attempt numbers
    assert backoff_cap(-3, 5.0, 30.0, 1.5) == 5.0


def test_full_jitter_draws_uniformly_below_the_cap() -> None:
    rng, reference = random.Random(42), random.Random(42)
    delays = [next_delay(a, 1.0, 10.0, 2.0, rng) for a in range(8)]
    expected = [reference.uniform(0.0, min(10.0, 2.0**a)) for a in range(8)]
    assert delays == expected
    assert all(0.0 <= d <= min(10.0, 2.0**a) for a, d in enumerate(delays))
    assert len(set(delays)) == 8  # jittered: no two retries wait the same


def test_jitter_spreads_over_the_whole_interval() -> None:
    rng = random.Random(7)
    samples = [next_delay(3, 1.0, 100.0, 2.0, rng) for _ in range(2000)]
    assert min(samples) < 0.1 and max(samples) > 7.9  # cap is 8.0
    assert 3.6 < sum(samples) / len(samples) < 4.4  # mean of U(0, 8) is 4


def test_throttle_hint_sets_a_floor() -> None:
    rng, reference = random.Random(1), random.Random(1)
    assert next_delay(0, 1.0, 10.0, 2.0, rng, throttle=30.0) == 30.0  # server asked for longer
    reference.uniform(0.0, 1.0)
    jitter = reference.uniform(0.0, 2.0)
    assert next_delay(1, 1.0, 10.0, 2.0, rng, throttle=0.0) == jitter  # hint shorter: keep jitter
    assert next_delay(1, 1.0, 10.0, 2.0, random.Random(5), throttle=None) <= 2.0


def test_durations_and_validation() -> None:
    assert parse_duration("250ms") == 0.25
    assert parse_duration("5s") == 5.0
    assert parse_duration("2m") == 120.0
    assert parse_duration("1h") == 3600.0
    assert parse_duration(3) == 3
    retry = RetryConfig.model_validate(
        {"initial_interval": "100ms", "max_interval": "2s", "max_elapsed_time": 0}
    )
    assert (retry.initial_interval, retry.max_interval, retry.max_elapsed_time) == (0.1, 2.0, 0.0)
    with pytest.raises(ValidationError, match="must be a duration"):
        RetryConfig.model_validate({"initial_interval": "soon"})
    with pytest.raises(ValidationError, match="must be >= initial_interval"):
        RetryConfig.model_validate({"initial_interval": "10s", "max_interval": "1s"})
    with pytest.raises(ValidationError, match="must be > 0"):
        RetryConfig.model_validate({"initial_interval": 0})
    with pytest.raises(ValidationError):
        QueueConfig.model_validate({"queue_size": 0})
    with pytest.raises(ValidationError):
        QueueConfig.model_validate({"storage": "redis"})
    with pytest.raises(ValidationError):
        QueueConfig.model_validate({"unknown": 1})
    assert QueueConfig() == QueueConfig(enabled=True, queue_size=1000, num_consumers=10, storage="none")
