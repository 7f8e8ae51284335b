"""The ``llm_metrics`` connector (the spanmetrics analogue for LLM spans).

``config`` (what users write), ``factory`` (``FACTORY``), ``connector`` (the component and the
``LlmMetricsView`` it publishes); ``aggregator``, ``part``, ``expohist``, ``windows``, ``summary``,
``otlp`` and ``pricing`` are its parts.
"""

from __future__ import annotations

from otel_llm_processor.connector.llm_metrics.config import Config, Dimension
from otel_llm_processor.connector.llm_metrics.connector import LlmMetricsConnector
from otel_llm_processor.connector.llm_metrics.factory import FACTORY

__all__ = ["FACTORY", "Config", "Dimension", "LlmMetricsConnector"]
