from __future__ import annotations

from typing import Any

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


def test_an_sdk_below_the_floor_is_skipped_on_the_launcher_path_too(caplog: Any, monkeypatch: Any) -> None:
    # opentelemetry-instrument calls instrument(skip_dep_check=True) after checking only the
    # distribution's extras: the instrumentor checks its own floor itself. (Patched on the class:
    # instrumentors are singletons, and a subclass would get the parent's instance.)
    import logging

    from openai.resources.chat.completions import Completions

    from otel_llm.openai import OpenAIInstrumentor
    from otel_llm.testing import Telemetry

    monkeypatch.setattr(OpenAIInstrumentor, "instrumentation_dependencies", lambda self: ("openai >= 999",))
    telemetry = Telemetry()
    before = vars(Completions)["create"]
    inst = OpenAIInstrumentor()
    with caplog.at_level(logging.WARNING, logger="otel_llm"):
        inst.instrument(skip_dep_check=True, tracer_provider=telemetry.tracer_provider)
    try:
        assert vars(Completions)["create"] is before
        assert '"openai >= 999"' in caplog.text and "OpenAIInstrumentor" in caplog.text
    finally:
        inst.uninstrument()
        telemetry.shutdown()


def test_an_sdk_without_install_metadata_is_still_instrumented(monkeypatch: Any) -> None:
    # A vendored or frozen SDK has no dist-info: no version found is no conflict.
    from openai.resources.chat.completions import Completions
    from opentelemetry.instrumentation.dependencies import DependencyConflict

    from otel_llm.openai import OpenAIInstrumentor
    from otel_llm.testing import Telemetry

    monkeypatch.setattr(
        OpenAIInstrumentor,
        "_check_dependency_conflicts",
        lambda self: DependencyConflict("openai >= 1.0", None),
    )
    telemetry = Telemetry()
    before = vars(Completions)["create"]
    inst = OpenAIInstrumentor()
    inst.instrument(skip_dep_check=True, tracer_provider=telemetry.tracer_provider)
    try:
        assert vars(Completions)["create"] is not before
    finally:
        inst.uninstrument()
        telemetry.shutdown()
    assert vars(Completions)["create"] is before
