"""Cost in USD of one call: the ``genai-prices`` catalogue plus user overrides.

Never touches the network: only the catalogue bundled with the installed ``genai-prices`` is read
(its ``UpdatePrices`` auto-updater is never started here). Unknown models give ``None``, never a
guess. Lookups are cached per (provider, model) in a bounded map; the per-call work is a handful of
float multiplications.

Token convention (as in the GenAI semantic conventions and genai-prices): ``input_tokens`` includes
the cache-read and cache-write tokens; ``output_tokens`` includes reasoning tokens.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = [
    "PRICES_FILE_ENV",
    "Price",
    "PriceBook",
    "default_price_book",
    "load_price_file",
]

_log = logging.getLogger(__name__)

PRICES_FILE_ENV = "OTEL_LLM_PRICES_FILE"
_CACHE_LIMIT = 1024

# gen_ai.provider.name -> genai-prices provider id (only where they differ or are known to exist).
_PROVIDER_IDS: Mapping[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    "groq": "groq",
    "deepseek": "deepseek",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "perplexity": "perplexity",
    "cohere": "cohere",
}


@dataclass(frozen=True)
class Price:
    """USD per million tokens. Cache prices default to the input price when not given."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None
    source: str = ""

    def cost(
        self,
        input_tokens: int | None,
        output_tokens: int | None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
    ) -> float:
        cache_read = cache_read_tokens or 0
        cache_write = cache_write_tokens or 0
        uncached = max((input_tokens or 0) - cache_read - cache_write, 0)
        read_price = self.input_per_mtok if self.cache_read_per_mtok is None else self.cache_read_per_mtok
        write_price = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        total = (
            uncached * self.input_per_mtok
            + cache_read * read_price
            + cache_write * write_price
            + (output_tokens or 0) * self.output_per_mtok
        )
        return total / 1_000_000.0


class _Tiered:
    """A catalogue entry whose price depends on volume: computed by genai-prices per call."""

    __slots__ = ("context", "model", "provider_id", "source")

    def __init__(
        self, model: str, provider_id: str | None, source: str, context: Mapping[str, str] | None = None
    ) -> None:
        self.model = model
        self.provider_id = provider_id
        self.source = source
        self.context = context  # genai-prices' price_context (the service tier), or None

    def cost(
        self,
        input_tokens: int | None,
        output_tokens: int | None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
    ) -> float | None:
        import genai_prices

        usage = genai_prices.Usage(
            input_tokens=input_tokens or 0,
            output_tokens=output_tokens or 0,
            cache_read_tokens=cache_read_tokens or 0,
            cache_write_tokens=cache_write_tokens or 0,
        )
        try:
            result = genai_prices.calc_price(
                usage, self.model, provider_id=self.provider_id, price_context=self.context
            )
        except Exception:
            return None
        return float(result.total_price)


_MISS = object()


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (Decimal, int, float)):
        return float(value)
    raise TypeError("tiered")


class PriceBook:
    """Resolves a (provider, model) to a price: code overrides, then the file, then genai-prices."""

    def __init__(self, file_overrides: Mapping[tuple[str | None, str], Price] | None = None) -> None:
        self._file: dict[tuple[str | None, str], Price] = dict(file_overrides or {})
        self._code: dict[tuple[str | None, str], Price] = {}
        # (provider, model) or (provider, model, request model) -> what prices it
        self._cache: dict[tuple[str, ...], Price | _Tiered | None] = {}
        # (provider, model, request model or None, service tier) -> what prices it in that tier
        self._tiers: dict[tuple[str, str, str | None, str], Price | _Tiered | None] = {}
        self._lock = threading.Lock()
        self._catalogue_source: str | None = None

    # -- overrides ---------------------------------------------------------------------------
    def set_price(self, model: str, price: Price, provider: str | None = None) -> None:
        with self._lock:
            self._code[(provider, model.lower())] = price
            self._cache.clear()
            self._tiers.clear()

    def clear_overrides(self) -> None:
        with self._lock:
            self._code.clear()
            self._cache.clear()
            self._tiers.clear()

    # -- lookup ------------------------------------------------------------------------------
    def lookup(self, provider: str, model: str) -> Price | _Tiered | None:
        return self._lookup((provider, model))

    def _lookup(self, key: tuple[str, ...]) -> Price | _Tiered | None:
        """What prices ``key``: (provider, model) or (provider, model, request model), cached."""
        hit = self._cache.get(key, _MISS)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        return self._remember(self._cache, key, self._resolve(key[0], key[1:]))

    def _remember(
        self, cache: dict[Any, Any], key: Any, found: Price | _Tiered | None
    ) -> Price | _Tiered | None:
        """Store ``found`` under ``key`` in one of the bounded caches (cleared when full)."""
        with self._lock:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[key] = found
        return found

    def cost(
        self,
        provider: str,
        model: str | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cache_read_tokens: int | None = None,
        cache_write_tokens: int | None = None,
        request_model: str | None = None,
        service_tier: str | None = None,
    ) -> tuple[float, str] | None:
        """(usd, source) or None when the model is unknown or there is no usage at all.

        ``model`` is the model that answered (the response's); ``request_model``, when given, the
        one asked for, the fallback when ``model`` has no price. Overrides win over the catalogue
        for either name: an override set for ``gpt-4o`` prices a response from
        ``gpt-4o-2024-08-06`` (the name OpenAI answers with), and a private model the server
        reports under another name is priced by its request name.

        ``service_tier``: the tier that served the call (OpenAI's ``flex``, ``priority``...); the
        catalogue's price for that tier where it has one (``flex`` is half price, ``priority``
        about double), else its standard price. ``None`` and ``"default"`` are the standard
        price. An override is one price for every tier."""
        if not model or (input_tokens is None and output_tokens is None):
            return None
        try:
            price: Any
            if type(service_tier) is str and service_tier != "default":
                tier_key = (provider, model, request_model if request_model != model else None, service_tier)
                price = self._tiers.get(tier_key, _MISS)
                if price is _MISS:
                    price = self._lookup_tier(tier_key)
            else:
                if request_model is None or request_model == model:
                    key: tuple[str, ...] = (provider, model)
                else:
                    key = (provider, model, request_model)
                price = self._cache.get(key, _MISS)
                if price is _MISS:  # lookup() stays the one overridable entry for a single name
                    price = self.lookup(provider, model) if len(key) == 2 else self._lookup(key)
            if price is None:
                return None
            usd = price.cost(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        except Exception:
            _log.debug("otel_llm: cost lookup failed for %s/%s", provider, model, exc_info=True)
            return None
        if usd is None:
            return None
        return usd, price.source

    def _lookup_tier(self, key: tuple[str, str, str | None, str]) -> Price | _Tiered | None:
        """What prices (provider, model, request model, tier), cached: an override of either
        name, else the catalogue's price in that tier for either name."""
        provider, model, request_model, tier = key
        models = (model,) if request_model is None else (model, request_model)
        return self._remember(self._tiers, key, self._resolve(provider, models, {"service_tier": tier}))

    def _override(self, provider: str, model: str) -> Price | None:
        lowered = model.lower()
        for table in (self._code, self._file):
            price = table.get((provider, lowered)) or table.get((None, lowered))
            if price is not None:
                return price
        return None

    def _resolve(
        self, provider: str, models: tuple[str, ...], context: Mapping[str, str] | None = None
    ) -> Price | _Tiered | None:
        """The first override of any of ``models``, else the first catalogue price of any (in
        genai-prices' price ``context``: the service tier)."""
        for model in models:
            price = self._override(provider, model)
            if price is not None:
                return price
        for model in models:
            found = self._from_catalogue(provider, model, context)
            if found is not None:
                return found
        return None

    def _from_catalogue(
        self, provider: str, model: str, context: Mapping[str, str] | None = None
    ) -> Price | _Tiered | None:
        provider_id = _PROVIDER_IDS.get(provider)
        if provider_id is None:
            return None
        try:
            import genai_prices
            from genai_prices import data_snapshot

            source = self._catalogue_source or f"genai-prices {genai_prices.__version__}"
            self._catalogue_source = source
            snapshot = data_snapshot.get_snapshot()
            _, info = snapshot.find_provider_model(model, None, provider_id, None)
            from datetime import datetime, timezone

            prices = info.get_prices(datetime.now(timezone.utc), context)
        except LookupError:
            return None
        except Exception:
            _log.debug("otel_llm: genai-prices lookup failed for %s/%s", provider, model, exc_info=True)
            return None
        try:
            input_price = _as_float(getattr(prices, "input_mtok", None))
            output_price = _as_float(getattr(prices, "output_mtok", None))
            read_price = _as_float(getattr(prices, "cache_read_mtok", None))
            write_price = _as_float(getattr(prices, "cache_write_mtok", None))
        except TypeError:
            return _Tiered(model, provider_id, source, context)
        if input_price is None and output_price is None:
            return None
        return Price(
            input_per_mtok=input_price or 0.0,
            output_per_mtok=output_price or 0.0,
            cache_read_per_mtok=read_price,
            cache_write_per_mtok=write_price,
            source=source,
        )


def load_price_file(path: str) -> dict[tuple[str | None, str], Price]:
    """Read an override file (YAML or JSON).

    Shape::

        prices:
          - model: my-private-model        # matched case-insensitively
            provider: openai               # optional; without it the row matches any provider
            input_per_mtok: 0.5
            output_per_mtok: 1.5
            cache_read_per_mtok: 0.05      # optional, defaults to input_per_mtok
            cache_write_per_mtok: 0.6      # optional, defaults to input_per_mtok
    """
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    data: Any
    if path.endswith(".json"):
        data = json.loads(text)
    else:
        try:
            import yaml
        except ImportError as exc:  # PyYAML is not a dependency of otel-llm
            raise ValueError(
                f"{path}: reading YAML needs PyYAML (pip install PyYAML), or use a .json file"
            ) from exc
        data = yaml.safe_load(text)
    rows = data.get("prices") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise ValueError(f"{path}: expected a list under 'prices'")
    out: dict[tuple[str | None, str], Price] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("model"), str):
            raise ValueError(f"{path}: prices[{i}] needs a string 'model'")
        # A misspelled or missing price would silently price the model at 0: refuse the file.
        unknown = sorted(str(key) for key in row if key not in _ROW_KEYS)
        if unknown:
            raise ValueError(f"{path}: prices[{i}]: unknown key(s) {', '.join(unknown)}")
        missing = [key for key in ("input_per_mtok", "output_per_mtok") if row.get(key) is None]
        if missing:
            raise ValueError(f"{path}: prices[{i}] ({row['model']}): missing {', '.join(missing)}")
        try:
            price = Price(
                input_per_mtok=_price(row["input_per_mtok"]),
                output_per_mtok=_price(row["output_per_mtok"]),
                cache_read_per_mtok=_opt_price(row.get("cache_read_per_mtok")),
                cache_write_per_mtok=_opt_price(row.get("cache_write_per_mtok")),
                source=f"override:{os.path.basename(path)}",
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: prices[{i}] ({row['model']}): {exc}") from exc
        provider = row.get("provider")
        if provider is not None and not isinstance(provider, str):
            raise ValueError(f"{path}: prices[{i}] ({row['model']}): 'provider' must be a string")
        out[(provider, row["model"].lower())] = price
    return out


_ROW_KEYS = frozenset(
    ("model", "provider", "input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok")
)


def _price(value: Any) -> float:
    """A price in USD per million tokens: a finite number >= 0 (no bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"not a number: {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"not a price >= 0: {value!r}")
    return number


def _opt_price(value: Any) -> float | None:
    return None if value is None else _price(value)


_default: PriceBook | None = None
_default_lock = threading.Lock()


def default_price_book() -> PriceBook:
    """The process-wide book: the env override file (read once) plus code overrides."""
    global _default
    with _default_lock:
        if _default is None:
            overrides: dict[tuple[str | None, str], Price] = {}
            path = os.environ.get(PRICES_FILE_ENV)
            if path:
                try:
                    overrides = load_price_file(path)
                except Exception as exc:
                    _log.warning("otel_llm: %s=%s not loaded: %s", PRICES_FILE_ENV, path, exc)
            _default = PriceBook(overrides)
        return _default


def reset_default_price_book() -> None:
    """Forget the process-wide book (tests; or after changing the env var)."""
    global _default
    with _default_lock:
        _default = None
