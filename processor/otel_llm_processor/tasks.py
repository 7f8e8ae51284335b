"""Background-task lifecycle shared by components that work off an internal queue."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["drain_and_cancel"]


async def drain_and_cancel(
    queue: asyncio.Queue[Any] | None, tasks: Sequence[asyncio.Task[Any]], deadline: float
) -> None:
    """Let ``queue`` drain until ``deadline`` (a ``time.monotonic()`` value), then cancel and await
    ``tasks``. Nothing to drain when there are no tasks left to consume the queue."""
    if queue is not None and tasks:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(queue.join(), max(deadline - time.monotonic(), 0.0))
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
