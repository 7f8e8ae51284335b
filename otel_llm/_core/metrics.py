"""Optional GenAI client metrics, created only when a MeterProvider is given or configured globally."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider

from otel_llm import semconv

__all__ = ["Instruments", "create_instruments", "resolve_meter"]


@dataclass(frozen=True)
class Instruments:
    duration: Histogram
    token_usage: Histogram
    time_to_first_chunk: Histogram
    attach_failures: Counter


def resolve_meter(instrumenting_module: str, version: str, meter_provider: Any) -> Meter | None:
    """A meter from the given provider, else from the global one if an SDK provider is set, else None."""
    provider: MeterProvider | None = meter_provider
    if provider is None:
        provider = metrics.get_meter_provider()
        # The API's default is a proxy (nothing configured) or a no-op: no metrics then.
        if type(provider).__name__ in ("_ProxyMeterProvider", "NoOpMeterProvider"):
            return None
    try:
        return provider.get_meter(instrumenting_module, version)
    except Exception:
        return None


def create_instruments(instrumenting_module: str, version: str, meter_provider: Any) -> Instruments | None:
    meter = resolve_meter(instrumenting_module, version, meter_provider)
    if meter is None:
        return None
    return Instruments(
        duration=meter.create_histogram(
            semconv.METRIC_CLIENT_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS),
        ),
        token_usage=meter.create_histogram(
            semconv.METRIC_CLIENT_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(semconv.TOKEN_BUCKETS),
        ),
        time_to_first_chunk=meter.create_histogram(
            semconv.METRIC_CLIENT_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time from the request to the first chunk of a streamed response",
            explicit_bucket_boundaries_advisory=list(semconv.DURATION_BUCKETS),
        ),
        attach_failures=meter.create_counter(
            semconv.METRIC_INSTRUMENTATION_ATTACH_FAILURES,
            unit="{target}",
            description="otel_llm wrap targets that failed to attach (their calls produce no spans)",
        ),
    )
