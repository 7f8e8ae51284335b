"""Process-wide settings for a processor process (``otel-llm-processor run`` and its workers).

The cyclic garbage collector runs a young-generation pass every 700 net allocations of container
objects by default, and every tenth of those passes also walks the middle generation, every
hundredth the whole heap. The processor allocates tuples, lists and protobuf wrappers per span
that die with their batch (reference counting frees them; they form no cycles), so at 100k+
spans/s those passes cost about 15 % of the CPU while finding almost nothing. A server process
therefore freezes what exists once it is set up (imported modules, configuration: never garbage)
and lets the young generation grow to 50,000 objects first. Cycles are still collected, later.
"""

from __future__ import annotations

import gc

__all__ = ["GC_GEN0", "tune_gc"]

GC_GEN0 = 50_000


def tune_gc(gen0: int = GC_GEN0) -> None:
    """Freeze the objects alive now and raise the young-generation threshold to ``gen0``."""
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, gen1, gen2)
