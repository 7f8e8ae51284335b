"""Test harnesses shipped with the package: real peers (PostgreSQL, Alertmanager) on loopback.

``otel_llm_processor.testing.pytest_plugin`` exposes them as pytest fixtures.
"""

from __future__ import annotations

__all__: list[str] = []
