"""Test helpers shipped with the package: in-memory telemetry, an OpenAI-compatible stub server
(``stub_openai``) and a tiny OTLP gRPC sink (``otlp_sink``). Needs ``opentelemetry-sdk``."""

from __future__ import annotations

from otel_llm.testing.spans import Telemetry, attributes_of, metric_points

__all__ = ["Telemetry", "attributes_of", "metric_points"]
