"""Shared test configuration."""

import importlib.util

# Real-peer fixtures (postgres_dsn, alertmanager_server); absent in the instrumentation-only venv.
pytest_plugins = (
    ["otel_llm_processor.testing.pytest_plugin"] if importlib.util.find_spec("otel_llm_processor") else []
)
