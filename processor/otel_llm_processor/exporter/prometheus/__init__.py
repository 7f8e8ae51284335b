"""The ``prometheus`` exporter: the latest metric state as a prometheus-client registry."""

from __future__ import annotations

from otel_llm_processor.exporter.prometheus.config import Config
from otel_llm_processor.exporter.prometheus.exporter import REGISTRY_SERVICE, PrometheusExporter
from otel_llm_processor.exporter.prometheus.factory import FACTORY

__all__ = ["FACTORY", "REGISTRY_SERVICE", "Config", "PrometheusExporter"]
