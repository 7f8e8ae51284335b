"""Per-token prices of a series, so cost can be computed for a whole batch with numpy.

Prices come from ``otel_llm``'s price book (genai-prices plus user overrides). A flat price becomes
four per-token rates. A volume-tiered one (genai-prices' "cliff" tiers: every token of a call is
priced at the tier its input token count falls in, e.g. above 200 k input tokens) becomes one set
of rates per tier, measured through the book itself and checked against it once, so the vectorised
cost equals the book's; when that check fails the model is priced call by call through the book.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from otel_llm._core.cost import Price, PriceBook, default_price_book

__all__ = ["Pricer", "Rates", "TieredRates"]

_log = logging.getLogger(__name__)
_CACHE_LIMIT = 1024
_TOLERANCE = 1e-9  # relative; the book computes in Decimal, the rates in float64


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token; ``input`` applies to input tokens that were neither read from nor written to cache."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    def cost(self, inp: float, out: float, cache_read: float, cache_write: float) -> float:
        uncached = max(inp - cache_read - cache_write, 0.0)
        return (
            uncached * self.input
            + out * self.output
            + cache_read * self.cache_read
            + cache_write * self.cache_write
        )


@dataclass(frozen=True, slots=True)
class TieredRates:
    """Rates per tier: ``table[k]`` applies when ``thresholds[k-1] < input tokens <= thresholds[k]``."""

    thresholds: np.ndarray  # int64 (t,), ascending
    table: np.ndarray  # float64 (t + 1, 4): input, output, cache read, cache write per token

    def bands(self, input_tokens: np.ndarray) -> np.ndarray:
        """Tier of each call (its input token count is above the tier's start, as genai-prices)."""
        return np.searchsorted(self.thresholds, input_tokens, side="left")


class Pricer:
    """``rates(provider, model)``: :class:`Rates`, :class:`TieredRates`, ``"tiered"`` (call by call) or ``None``."""

    def __init__(self, book: PriceBook | None = None) -> None:
        self._book = book if book is not None else default_price_book()
        self._tiered: dict[tuple[str, str], TieredRates | str] = {}

    def rates(self, provider: str, model: str) -> Rates | TieredRates | str | None:
        if not model:
            return None
        try:
            price = self._book.lookup(provider, model)
        except Exception:
            return None
        if price is None:
            return None
        if not isinstance(price, Price):
            return self._tiered_rates(provider, model, price)
        read = price.input_per_mtok if price.cache_read_per_mtok is None else price.cache_read_per_mtok
        write = price.input_per_mtok if price.cache_write_per_mtok is None else price.cache_write_per_mtok
        return Rates(price.input_per_mtok / 1e6, price.output_per_mtok / 1e6, read / 1e6, write / 1e6)

    def cost(
        self,
        provider: str,
        model: str,
        input_tokens: int | None,
        output_tokens: int | None,
        cache_read: int | None,
        cache_write: int | None,
    ) -> float | None:
        """One call, through the book (prices that could not be vectorised, overflow series)."""
        result = self._book.cost(provider, model, input_tokens, output_tokens, cache_read, cache_write)
        return None if result is None else result[0]

    # -- tiered prices -----------------------------------------------------------------------
    def _tiered_rates(self, provider: str, model: str, price: Any) -> TieredRates | str:
        key = (provider, model)
        hit = self._tiered.get(key)
        if hit is None:
            try:
                hit = _measure(self, provider, model, _tier_starts(price))
            except Exception:
                _log.debug(
                    "llm_metrics: tiered price of %s/%s not vectorised", provider, model, exc_info=True
                )
                hit = "tiered"
            if len(self._tiered) >= _CACHE_LIMIT:
                self._tiered.clear()
            self._tiered[key] = hit
        return hit


def _tier_starts(price: Any) -> list[int]:
    """Tier starts of a genai-prices entry (``price`` is the book's tiered entry)."""
    from genai_prices import data_snapshot
    from genai_prices.types import TieredPrices

    _, info = data_snapshot.get_snapshot().find_provider_model(price.model, None, price.provider_id, None)
    prices = info.get_prices(datetime.now(timezone.utc))
    starts: set[int] = set()
    for value in vars(prices).values():
        if isinstance(value, TieredPrices):
            starts.update(int(t.start) for t in value.tiers)
    return sorted(starts)


def _measure(pricer: Pricer, provider: str, model: str, starts: list[int]) -> TieredRates | str:
    """Per-token rates of each tier, read off the book's own answers, then checked against it."""
    if not starts or starts[0] < 16:
        return "tiered"
    rows: list[tuple[float, float, float, float]] = []
    for band in range(len(starts) + 1):
        total = starts[0] if band == 0 else starts[band - 1] + 1
        if band < len(starts) and band > 0 and total > starts[band]:
            return "tiered"
        half, out = total // 2, 1000

        def book(inp: int, o: int, cr: int, cw: int) -> float:
            usd = pricer.cost(provider, model, inp, o, cr, cw)
            if usd is None:
                raise LookupError(model)
            return usd

        base = book(total, 0, 0, 0)
        r_in = base / total
        rates = Rates(
            r_in,
            (book(total, out, 0, 0) - base) / out,
            (book(total, 0, half, 0) - (total - half) * r_in) / half,
            (book(total, 0, 0, half) - (total - half) * r_in) / half,
        )
        probe = (total, 777, total // 4, total // 8)
        expected = book(*probe)
        if abs(rates.cost(*probe) - expected) > _TOLERANCE * max(abs(expected), 1e-12):
            return "tiered"
        rows.append((rates.input, rates.output, rates.cache_read, rates.cache_write))
    return TieredRates(np.asarray(starts, dtype=np.int64), np.asarray(rows, dtype=np.float64))
