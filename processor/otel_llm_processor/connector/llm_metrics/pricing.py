"""Per-token prices of a series, so cost can be computed for a whole batch with numpy.

Prices come from ``otel_llm``'s price book (genai-prices plus user overrides). A flat price becomes
four per-token rates; a volume-tiered one (rare) is priced call by call through the book.
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_llm._core.cost import Price, PriceBook, default_price_book

__all__ = ["Pricer", "Rates"]


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token; ``input`` applies to input tokens that were neither read from nor written to cache."""

    input: float
    output: float
    cache_read: float
    cache_write: float


class Pricer:
    """``rates(provider, model)``: :class:`Rates`, ``"tiered"``, or ``None`` for an unknown model."""

    def __init__(self, book: PriceBook | None = None) -> None:
        self._book = book if book is not None else default_price_book()

    def rates(self, provider: str, model: str) -> Rates | str | None:
        if not model:
            return None
        try:
            price = self._book.lookup(provider, model)
        except Exception:
            return None
        if price is None:
            return None
        if not isinstance(price, Price):
            return "tiered"
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
        """One call, through the book (tiered prices, overflow series)."""
        result = self._book.cost(provider, model, input_tokens, output_tokens, cache_read, cache_write)
        return None if result is None else result[0]
