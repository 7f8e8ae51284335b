"""otel-llm-processor: an OTLP-receiving service for LLM telemetry."""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"
