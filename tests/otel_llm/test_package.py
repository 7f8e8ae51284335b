from __future__ import annotations

import otel_llm
from otel_llm import semconv


def test_version_and_public_api() -> None:
    assert otel_llm.__version__ == "0.1.0"
    assert otel_llm.__all__ == ["__version__", "instrument", "uninstrument"]


def test_semconv_names_are_the_standard_strings() -> None:
    assert semconv.GEN_AI_PROVIDER_NAME == "gen_ai.provider.name"
    assert semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS == "gen_ai.usage.cache_read.input_tokens"
    assert semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK == "gen_ai.response.time_to_first_chunk"
    assert semconv.TOKEN_BUCKETS[0] == 1.0 and semconv.TOKEN_BUCKETS[-1] == 4.0**13
    assert len(semconv.DURATION_BUCKETS) == 14
