"""The ``otlp`` exporter: gRPC or HTTP/protobuf, queued, retried, optionally persistent."""

from __future__ import annotations

from otel_llm_processor.exporter.otlp.config import Config, TLSConfig
from otel_llm_processor.exporter.otlp.exporter import OtlpExporter
from otel_llm_processor.exporter.otlp.factory import FACTORY

__all__ = ["FACTORY", "Config", "OtlpExporter", "TLSConfig"]
