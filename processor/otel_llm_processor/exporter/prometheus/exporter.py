"""The ``prometheus`` exporter: keeps the latest state of the metrics it consumes and exposes it.

Its prometheus-client ``CollectorRegistry`` is published as ``host.services["prometheus_registry"]``
(the API's ``/metrics`` serves it); with ``endpoint`` set, prometheus-client's own HTTP server also
serves it there (content negotiation included: OpenMetrics, with exemplars, when asked for).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from otel_llm_processor.component import CreateSettings, Host, MetricsBatch
from otel_llm_processor.exporter.prometheus.collector import StoreCollector
from otel_llm_processor.exporter.prometheus.config import Config
from otel_llm_processor.exporter.prometheus.store import MetricsStore

__all__ = ["REGISTRY_SERVICE", "PrometheusExporter"]

_log = logging.getLogger(__name__)
REGISTRY_SERVICE = "prometheus_registry"


class PrometheusExporter:
    def __init__(self, settings: CreateSettings, config: Config) -> None:
        self._id = str(settings.id)
        self._telemetry = settings.telemetry
        self._config = config
        self.store = MetricsStore(
            config.bounds_for,
            max_series=config.max_series,
            expiration=config.metric_expiration,
            namespace=config.namespace,
            on_drop=self._dropped,
        )
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(
            StoreCollector(
                self.store, self._telemetry if config.self_telemetry else None, self._before_collect
            )
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        for name, text in (
            ("metric_points_received", "Metric data points the prometheus exporter received"),
            (
                "prometheus_series_dropped",
                "Series the prometheus exporter refused (limit, type or bounds conflict)",
            ),
            ("prometheus_series_expired", "Series removed after metric_expiration without updates"),
            ("prometheus_series", "Series held by the prometheus exporter"),
        ):
            self._telemetry.describe(name, text)

    def _dropped(self, reason: str, n: int) -> None:
        self._telemetry.add(self._id, "prometheus_series_dropped", n, reason=reason)

    def _before_collect(self) -> None:
        expired = self.store.expire()
        if expired:
            self._telemetry.add(self._id, "prometheus_series_expired", expired)
        self._telemetry.set(self._id, "prometheus_series", self.store.series_count)

    async def start(self, host: Host) -> None:
        host.services.setdefault(REGISTRY_SERVICE, self.registry)
        if self._config.endpoint is None or self._server is not None:
            return
        addr, _, port = self._config.endpoint.rpartition(":")
        self._server, self._thread = start_http_server(
            int(port), addr=addr.strip("[]") or "0.0.0.0", registry=self.registry
        )
        self.port = self._server.server_port
        _log.info("%s: serving /metrics on %s:%s", self._id, addr, self.port)

    async def shutdown(self, deadline: float) -> None:
        server, self._server = self._server, None
        if server is not None:
            await asyncio.to_thread(server.shutdown)  # waits for serve_forever's poll (<= 0.5 s)
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
            self._thread = None

    async def consume_metrics(self, batch: MetricsBatch) -> None:
        self.store.add(batch.request)
        self._telemetry.add(self._id, "metric_points_received", batch.point_count)
