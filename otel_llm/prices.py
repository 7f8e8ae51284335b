"""Price overrides for private deployments and negotiated prices.

    import otel_llm.prices
    otel_llm.prices.set_price("my-finetune", input_per_mtok=0.5, output_per_mtok=1.5)
    otel_llm.prices.set_price("gpt-4o", provider="azure.ai.openai", input_per_mtok=2.0, output_per_mtok=8.0)

Or point ``OTEL_LLM_PRICES_FILE`` at a YAML/JSON file (read once, at first instrumentation)::

    prices:
      - {model: my-finetune, input_per_mtok: 0.5, output_per_mtok: 1.5}
      - {model: gpt-4o, provider: azure.ai.openai, input_per_mtok: 2.0, output_per_mtok: 8.0,
         cache_read_per_mtok: 1.0}

Prices are USD per million tokens (numbers >= 0); cache prices default to the input price. Every
row needs ``model``, ``input_per_mtok`` and ``output_per_mtok``; a row with another key, a missing
price or a negative one makes the whole file refused (a warning names the row), so a typo never
prices a model at 0. YAML needs PyYAML (``pip install 'otel-llm[yaml]'``); JSON needs nothing.

Code overrides win over the file, which wins over the ``genai-prices`` catalogue. A call is priced
by the model that answered (``gen_ai.response.model``), else by the one requested: overrides of
either name come before the catalogue, so an override for ``gpt-4o`` also prices the answers of
``gpt-4o-2024-08-06``. Spans then carry ``otel_llm.cost.source = "override:code"`` (or
``"override:<file name>"``).
"""

from __future__ import annotations

from otel_llm._core.cost import Price, _opt_price, _price, default_price_book

__all__ = ["clear_prices", "cost", "set_price"]


def set_price(
    model: str,
    *,
    input_per_mtok: float,
    output_per_mtok: float,
    cache_read_per_mtok: float | None = None,
    cache_write_per_mtok: float | None = None,
    provider: str | None = None,
) -> None:
    """Override the price of ``model`` (for ``provider`` only, a ``gen_ai.provider.name``, or any).

    Raises ``ValueError`` for a price that is not a number >= 0."""
    price = Price(
        input_per_mtok=_price(input_per_mtok),
        output_per_mtok=_price(output_per_mtok),
        cache_read_per_mtok=_opt_price(cache_read_per_mtok),
        cache_write_per_mtok=_opt_price(cache_write_per_mtok),
        source="override:code",
    )
    default_price_book().set_price(model, price, provider=provider)


def clear_prices() -> None:
    """Remove every code override (file overrides stay)."""
    default_price_book().clear_overrides()


def cost(
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    request_model: str | None = None,
    service_tier: str | None = None,
) -> tuple[float, str] | None:
    """(usd, source) as a span would record it, or None for an unknown model. ``model`` is the
    model that answered; ``request_model`` the one requested, when it differs; ``service_tier``
    the tier that served the call (``openai.response.service_tier``: ``flex``, ``priority``...)."""
    return default_price_book().cost(
        provider,
        model,
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_write_tokens,
        request_model,
        service_tier,
    )
