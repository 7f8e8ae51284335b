"""Exponential backoff with full jitter, as a pure function of the attempt number.

``delay = uniform(0, min(max_interval, initial_interval * multiplier ** attempt))``; a server's
throttling hint (gRPC ``RetryInfo.retry_delay``, HTTP ``Retry-After``) raises the delay to at least
the hint. The random source is passed in so tests use a seeded ``random.Random``.
"""

from __future__ import annotations

import random

__all__ = ["backoff_cap", "next_delay"]

_MAX_EXPONENT = 64  # 1.5 ** 64 already dwarfs any max_interval; avoids float overflow


def backoff_cap(attempt: int, initial: float, maximum: float, multiplier: float) -> float:
    """Upper bound of the jittered delay before retry number ``attempt`` (0-based)."""
    return min(maximum, initial * multiplier ** min(max(attempt, 0), _MAX_EXPONENT))


def next_delay(
    attempt: int,
    initial: float,
    maximum: float,
    multiplier: float,
    rng: random.Random,
    throttle: float | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt``: full jitter, at least ``throttle`` if given."""
    delay = rng.uniform(0.0, backoff_cap(attempt, initial, maximum, multiplier))
    if throttle is not None and throttle > delay:
        return throttle
    return delay
