"""Rolling windows (1 m, 5 m, 1 h) as tiers of time slots holding :class:`Part` aggregates.

Three tiers, aligned to the clock: 10 s slots kept for one minute, 1 min slots kept for five
minutes, 5 min slots kept for one hour. Batches go into the open 10 s slot; a slot that closes is
compacted into one Part and handed, as a whole, to the open slot of the next tier (so each datum is
compacted once per tier, not once per batch). Every slot stores sparse histograms, so memory per
series is bounded by ``6 + 5 + 12`` slots times the number of distinct buckets it fills; closed
slots are kept :mod:`packed <.packed>` (3 to 6 bytes per bucket instead of 16, nothing lost), and
the open slot of a coarse tier is kept as one merged Part.

A window of length ``L`` reads the finest tier that spans ``L`` for its oldest part and the finer
tiers for the current, not yet closed, periods of the coarser ones; a slot counts when it starts
after ``now - L``, so a window covers between ``L - slot width`` and ``L`` seconds up to now
(``1m``: 50-60 s, ``5m``: 4-5 min, ``1h``: 55-60 min).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

from otel_llm_processor.connector.llm_metrics.packed import Packed, pack, unpack
from otel_llm_processor.connector.llm_metrics.part import EMPTY, Part, merge
from otel_llm_processor.services import WINDOWS

__all__ = ["TIERS", "Windows"]

# (slot width in seconds, slots that make up the tier's span)
TIERS: tuple[tuple[int, int], ...] = ((10, 6), (60, 5), (300, 12))
_COMPACT_EVERY = 32  # merge the open slot's pending parts when this many have piled up


class _Tier:
    __slots__ = ("closed", "compact_every", "open_index", "open_parts", "slots", "width")

    def __init__(self, width: int, slots: int, compact_every: int = _COMPACT_EVERY) -> None:
        self.width = width
        self.slots = slots
        self.compact_every = compact_every
        self.closed: deque[tuple[int, Packed]] = deque()
        self.open_index: int | None = None
        self.open_parts: list[Part] = []

    def add(self, index: int, part: Part) -> tuple[int, Part] | None:
        """Add ``part`` to slot ``index``; returns the slot this closed, if any."""
        closed = None
        if self.open_index is not None and self.open_index != index:
            closed = self.close()
        self.open_index = index
        self.open_parts.append(part)
        if len(self.open_parts) >= self.compact_every:
            self.open_parts = [merge(self.open_parts)]
        return closed

    def close(self) -> tuple[int, Part] | None:
        if self.open_index is None:
            return None
        slot = (self.open_index, merge(self.open_parts))
        self.closed.append((slot[0], pack(slot[1])))
        self.open_index = None
        self.open_parts = []
        return slot

    def trim(self, now: float) -> None:
        current = math.floor(now / self.width)
        while self.closed and self.closed[0][0] <= current - self.slots:
            self.closed.popleft()

    def parts_between(self, lo: float, hi: float) -> list[Part]:
        """Parts of slots starting in ``[lo, hi)``, the open slot included."""
        out = [unpack(p) for i, p in self.closed if lo <= i * self.width < hi]
        if self.open_index is not None and lo <= self.open_index * self.width < hi:
            self.open_parts = [merge(self.open_parts)]
            out.append(self.open_parts[0])
        return out

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for _, p in self.closed) + sum(p.nbytes for p in self.open_parts)


class Windows:
    """The tiers; ``add`` and ``parts`` take the current time (unix seconds) from the caller."""

    def __init__(self, tiers: tuple[tuple[int, int], ...] = TIERS) -> None:
        # coarse tiers receive a few large parts (closed slots): merge them at once
        self._tiers = [_Tier(w, n, _COMPACT_EVERY if k == 0 else 2) for k, (w, n) in enumerate(tiers)]

    def add(self, now: float, part: Part) -> None:
        self.advance(now)
        if part.size:
            self._tiers[0].add(math.floor(now / self._tiers[0].width), part)

    def advance(self, now: float) -> None:
        """Close every slot whose period has passed, cascading into the next tier; drop old ones."""
        for k, tier in enumerate(self._tiers):
            if tier.open_index is not None and tier.open_index < math.floor(now / tier.width):
                self._cascade(k, tier.close())
            tier.trim(now)

    def _cascade(self, k: int, slot: tuple[int, Part] | None) -> None:
        while slot is not None and k + 1 < len(self._tiers):
            index, part = slot
            nxt = self._tiers[k + 1]
            slot = nxt.add(math.floor(index * self._tiers[k].width / nxt.width), part)
            k += 1

    def part(self, window: str, now: float) -> Part:
        """Everything recorded in ``window`` (a key of ``services.WINDOWS``) up to ``now``."""
        length = WINDOWS[window]
        self.advance(now)
        parts: list[Part] = []
        hi = math.inf
        for k, tier in enumerate(self._tiers):
            last = k + 1 == len(self._tiers) or tier.width * tier.slots >= length
            if last:
                parts.extend(tier.parts_between(now - length + 1e-9, hi))
                break
            width = self._tiers[k + 1].width
            lo = math.floor(now / width) * width
            parts.extend(tier.parts_between(lo, hi))
            hi = lo
        return merge(parts) if parts else EMPTY

    def memory(self) -> Mapping[str, int]:
        return {f"{t.width}s": t.nbytes for t in self._tiers}
