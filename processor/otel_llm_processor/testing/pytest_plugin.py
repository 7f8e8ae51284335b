"""pytest fixtures for tests that need real peers; load with
``pytest_plugins = ["otel_llm_processor.testing.pytest_plugin"]`` in a top-level conftest.

- ``postgres_server`` (session): a PostgreSQL server on loopback, one per xdist worker.
- ``postgres_dsn``: a fresh, empty database on it for one test.
- ``alertmanager_server`` (module): a real Alertmanager on loopback.

A missing binary skips the test with the reason, except when the ``CI`` environment variable is
set: then it fails, so a CI machine without the peers cannot pass silently.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator

import pytest

from otel_llm_processor.testing.alertmanager import AlertmanagerServer, find_alertmanager
from otel_llm_processor.testing.postgres import PostgresServer, find_pg_bin

__all__ = ["alertmanager_server", "postgres_dsn", "postgres_server", "require_peer"]

_db_counter = itertools.count(1)


def require_peer(found: object, reason: str) -> None:
    """Skip (or fail under CI) when a peer binary is absent."""
    if found:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = find_pg_bin()
    require_peer(bin_dir, "PostgreSQL binaries not found (Debian package postgresql: initdb, pg_ctl)")
    assert bin_dir is not None
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    name = f"t{next(_db_counter)}_{uuid.uuid4().hex[:8]}"
    return postgres_server.create_database(name)


@pytest.fixture(scope="module")
def alertmanager_server() -> Iterator[AlertmanagerServer]:
    binary = find_alertmanager()
    require_peer(binary, "Alertmanager binary not found (Debian package prometheus-alertmanager)")
    assert binary is not None
    server = AlertmanagerServer(binary).start()
    try:
        yield server
    finally:
        server.stop()
