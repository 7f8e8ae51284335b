"""Persistent state: SQLite by default, PostgreSQL when several replicas share state.

``open_storage(config, data_dir)`` returns an opened :class:`services.Storage` with the schema
migrated to the newest version.
"""

from __future__ import annotations

import os

from otel_llm_processor.services import Storage
from otel_llm_processor.storage.config import StorageConfig

__all__ = ["DEFAULT_FILENAME", "StorageConfig", "create_storage", "open_storage"]

DEFAULT_FILENAME = "otel-llm.db"


def create_storage(config: StorageConfig, data_dir: str) -> Storage:
    """The configured backend, not yet opened."""
    if config.driver == "postgres":
        from otel_llm_processor.storage.postgres import PostgresStorage  # psycopg is optional

        assert config.dsn is not None  # checked by StorageConfig
        return PostgresStorage(
            config.dsn.get_secret_value(),
            pool_size=config.pool_size,
            outbox_lease_s=config.outbox_lease_s,
            connect_timeout_s=config.connect_timeout_s,
        )
    from otel_llm_processor.storage.sqlite import SqliteStorage

    path = config.path or os.path.join(data_dir, DEFAULT_FILENAME)
    return SqliteStorage(path, outbox_lease_s=config.outbox_lease_s, busy_timeout_s=config.connect_timeout_s)


async def open_storage(config: StorageConfig, data_dir: str) -> Storage:
    storage = create_storage(config, data_dir)
    await storage.open()
    return storage
