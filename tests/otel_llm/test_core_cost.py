"""PriceBook: catalogue prices, overrides (file and code), unknown models, cache pricing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import otel_llm.prices
from otel_llm._core import cost
from otel_llm._core.cost import Price, PriceBook, load_price_file


def test_catalogue_price_with_cached_input() -> None:
    book = PriceBook()
    usd, source = book.cost("openai", "gpt-4o", 1000, 500, cache_read_tokens=200) or (None, None)
    assert usd == pytest.approx((800 * 2.5 + 200 * 1.25 + 500 * 10) / 1e6)
    assert source == "genai-prices 0.2.3"


def test_anthropic_cache_write_priced() -> None:
    usd, _ = PriceBook().cost("anthropic", "claude-sonnet-4-5", 1000, 500, 200, 100) or (0.0, "")
    assert usd == pytest.approx((700 * 3 + 200 * 0.3 + 100 * 3.75 + 500 * 15) / 1e6)


def test_unknown_model_or_provider_gives_none() -> None:
    book = PriceBook()
    assert book.cost("openai", "no-such-model-xyz", 10, 10) is None
    assert book.cost("some.unknown.provider", "gpt-4o", 10, 10) is None
    assert book.cost("groq", "gpt-4o", 10, 10) is None  # not a groq model: no price borrowed from openai
    assert book.cost("openai", None, 10, 10) is None
    assert book.cost("openai", "gpt-4o", None, None) is None


def test_code_override_wins_and_is_scoped_by_provider() -> None:
    book = PriceBook()
    book.set_price("gpt-4o", Price(1.0, 2.0, source="override:code"), provider="azure.ai.openai")
    assert book.cost("azure.ai.openai", "GPT-4o", 1_000_000, 1_000_000) == (3.0, "override:code")
    assert book.cost("openai", "gpt-4o", 1_000_000, 0) == (2.5, "genai-prices 0.2.3")
    book.clear_overrides()
    assert book.cost("azure.ai.openai", "my-private", 1, 1) is None


def test_override_file_yaml_and_json(tmp_path: Path) -> None:
    pytest.importorskip("yaml")
    yml = tmp_path / "prices.yaml"
    yml.write_text(
        "prices:\n"
        "  - {model: my-model, input_per_mtok: 1, output_per_mtok: 4, cache_read_per_mtok: 0.1}\n"
        "  - {model: gpt-4o, provider: openai, input_per_mtok: 2, output_per_mtok: 8}\n"
    )
    book = PriceBook(load_price_file(str(yml)))
    assert book.cost("vllm", "my-model", 1_000_000, 0, cache_read_tokens=500_000) == (
        pytest.approx(0.5 + 0.05),
        "override:prices.yaml",
    )
    assert book.cost("openai", "gpt-4o", 0, 1_000_000) == (8.0, "override:prices.yaml")
    js = tmp_path / "p.json"
    js.write_text(json.dumps({"prices": [{"model": "m", "input_per_mtok": 3, "output_per_mtok": 3}]}))
    assert PriceBook(load_price_file(str(js))).cost("x", "m", 1_000_000, 0) == (3.0, "override:p.json")


def test_bad_override_file_names_the_row(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"prices": [{"input_per_mtok": 1}]}')
    with pytest.raises(ValueError, match=r"prices\[0\] needs a string 'model'"):
        load_price_file(str(bad))


def test_env_file_and_public_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ovr.json"
    path.write_text('{"prices": [{"model": "house-model", "input_per_mtok": 10, "output_per_mtok": 10}]}')
    monkeypatch.setenv(cost.PRICES_FILE_ENV, str(path))
    cost.reset_default_price_book()
    try:
        assert otel_llm.prices.cost("openai", "house-model", 100_000, 0) == (1.0, "override:ovr.json")
        otel_llm.prices.set_price("house-model", input_per_mtok=1, output_per_mtok=1)
        assert otel_llm.prices.cost("openai", "house-model", 100_000, 0) == (0.1, "override:code")
        otel_llm.prices.clear_prices()
        assert otel_llm.prices.cost("openai", "house-model", 100_000, 0) == (1.0, "override:ovr.json")
    finally:
        cost.reset_default_price_book()


def test_genai_prices_auto_update_never_started() -> None:
    from genai_prices import data_snapshot

    PriceBook().cost("openai", "gpt-4o", 1, 1)
    assert data_snapshot.get_snapshot().from_auto_update is False


def test_request_model_names_the_price_when_the_answer_has_no_override() -> None:
    """OpenAI answers with the dated name: an override of the requested name still wins over the
    catalogue's price of the dated one; a private model reported under another name is priced
    by its request name; the catalogue prices the answering model first."""
    book = PriceBook()
    book.set_price("gpt-4o", Price(2.0, 8.0, source="override:code"), provider="azure.ai.openai")
    book.set_price("my-finetune", Price(1.0, 1.0, source="override:code"))
    assert book.cost("azure.ai.openai", "gpt-4o-2024-08-06", 1_000_000, 1_000_000, 0, 0, "gpt-4o") == (
        10.0,
        "override:code",
    )
    assert book.cost("vllm", "my-finetune:ft-2024", 1_000_000, 0, request_model="my-finetune") == (
        1.0,
        "override:code",
    )
    # No override anywhere: the answering model's catalogue price, then the requested one's.
    assert book.cost("openai", "gpt-4o-mini", 1_000_000, 0, request_model="gpt-4o") == (
        0.15,
        "genai-prices 0.2.3",
    )
    assert book.cost("openai", "no-such-snapshot", 1_000_000, 0, request_model="gpt-4o") == (
        2.5,
        "genai-prices 0.2.3",
    )
    assert book.cost("openai", "no-such-snapshot", 1_000_000, 0, request_model="nor-this") is None
    # An override of the answering model wins over one of the requested model.
    book.set_price("gpt-4o-2024-08-06", Price(3.0, 3.0, source="override:code"))
    assert book.cost("azure.ai.openai", "gpt-4o-2024-08-06", 1_000_000, 0, request_model="gpt-4o") == (
        3.0,
        "override:code",
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"model": "m", "input_per_mtoken": 5, "output_per_mtok": 1.5}, r"unknown key\(s\) input_per_mtoken"),
        ({"model": "m"}, r"prices\[0\] \(m\): missing input_per_mtok, output_per_mtok"),
        ({"model": "m", "input_per_mtok": 1}, r"missing output_per_mtok"),
        ({"model": "m", "input_per_mtok": -1, "output_per_mtok": 1}, r"not a price >= 0: -1"),
        ({"model": "m", "input_per_mtok": True, "output_per_mtok": 1}, r"not a number: True"),
        ({"model": "m", "input_per_mtok": "x", "output_per_mtok": 1}, r"could not convert"),
        (
            {"model": "m", "input_per_mtok": 1, "output_per_mtok": 1, "provider": 3},
            r"'provider' must be a string",
        ),
    ],
)
def test_price_rows_that_would_price_wrongly_refuse_the_file(
    tmp_path: Path, row: dict[str, object], message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"prices": [row]}))
    with pytest.raises(ValueError, match=message):
        load_price_file(str(bad))


def test_env_file_with_a_typo_is_refused_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "typo.json"
    path.write_text('{"prices": [{"model": "house-model", "input_per_mtoken": 10, "output_per_mtok": 10}]}')
    monkeypatch.setenv(cost.PRICES_FILE_ENV, str(path))
    cost.reset_default_price_book()
    try:
        with caplog.at_level("WARNING", logger="otel_llm._core.cost"):
            assert otel_llm.prices.cost("openai", "house-model", 100_000, 0) is None
        assert "unknown key(s) input_per_mtoken" in caplog.text and "typo.json" in caplog.text
    finally:
        cost.reset_default_price_book()


def test_set_price_refuses_a_negative_or_non_numeric_price() -> None:
    with pytest.raises(ValueError, match="not a price >= 0"):
        otel_llm.prices.set_price("m", input_per_mtok=-1, output_per_mtok=1)
    with pytest.raises(ValueError, match="not a number"):
        otel_llm.prices.set_price("m", input_per_mtok=None, output_per_mtok=1)  # type: ignore[arg-type]


def test_service_tier_prices_from_the_catalogue() -> None:
    # gpt-5-mini: $0.25 input, $0.025 cached input, $2 output per MTok; flex half; priority
    # $0.45 / $0.045 / $3.6.
    book = PriceBook()
    tokens = (1_000_000, 1_000_000, 200_000, None, None)
    standard = 0.8 * 0.25 + 0.2 * 0.025 + 2.0
    assert book.cost("openai", "gpt-5-mini", *tokens) == (pytest.approx(standard), "genai-prices 0.2.3")
    assert book.cost("openai", "gpt-5-mini", *tokens, "default") == (
        pytest.approx(standard),
        "genai-prices 0.2.3",
    )
    assert book.cost("openai", "gpt-5-mini", *tokens, "flex") == (
        pytest.approx(standard / 2),
        "genai-prices 0.2.3",
    )
    priority = 0.8 * 0.45 + 0.2 * 0.045 + 3.6
    assert book.cost("openai", "gpt-5-mini", *tokens, "priority") == (
        pytest.approx(priority),
        "genai-prices 0.2.3",
    )
    # a tier the catalogue has no price for is priced at the standard price
    assert book.cost("openai", "gpt-5-mini", *tokens, "scale") == (
        pytest.approx(standard),
        "genai-prices 0.2.3",
    )
    # the request name is the fallback in a tier too; an override is one price for every tier
    assert book.cost("openai", "my-deployment", 1_000_000, 0, None, None, "gpt-5-mini", "flex") == (
        pytest.approx(0.125),
        "genai-prices 0.2.3",
    )
    book.set_price("gpt-5-mini", Price(1.0, 1.0, source="override:code"))
    assert book.cost("openai", "gpt-5-mini", 1_000_000, 0, None, None, None, "flex") == (1.0, "override:code")
    assert book.cost("openai", "gpt-5-mini", 1_000_000, 0, None, None, None, ["odd"]) == (
        1.0,
        "override:code",
    )  # type: ignore[arg-type]


def test_span_cost_uses_the_tier_that_served_the_call() -> None:
    from otel_llm import semconv
    from otel_llm._core.settings import resolve_settings
    from otel_llm._core.span import Usage, start_call
    from otel_llm._core.tokens import TokenCounter
    from otel_llm.testing import Telemetry, attributes_of

    telemetry = Telemetry()
    settings = resolve_settings(
        "t", "0", {"tracer_provider": telemetry.tracer_provider, "token_counter": TokenCounter(loader=None)}
    )
    costs = []
    for tier in ("default", "flex"):
        call = start_call(settings, operation="chat", provider="openai", request_model="gpt-5-mini")
        call.set_response(
            "r",
            "gpt-5-mini-2025-08-07",
            ["stop"],
            Usage(input_tokens=1_000_000, output_tokens=0),
            {semconv.OPENAI_RESPONSE_SERVICE_TIER: tier},
            typed=True,
        )
        call.end()
        costs.append(attributes_of(telemetry.spans()[-1])[semconv.OTEL_LLM_COST_USD])
    assert costs == [pytest.approx(0.25), pytest.approx(0.125)]
    telemetry.shutdown()


def test_public_cost_takes_the_service_tier() -> None:
    standard = otel_llm.prices.cost("openai", "gpt-5-mini", 1_000_000, 0)
    flex = otel_llm.prices.cost("openai", "gpt-5-mini", 1_000_000, 0, service_tier="flex")
    assert standard is not None and flex is not None and flex[0] == pytest.approx(standard[0] / 2)
