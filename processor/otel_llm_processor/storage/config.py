"""What users write under ``storage:`` in the service config.

.. code-block:: yaml

    storage:
      driver: sqlite            # sqlite (default) | postgres
      path: /var/lib/otel-llm/otel-llm.db   # sqlite only; default <data_dir>/otel-llm.db
      # dsn: postgresql://otel:secret@db:5432/otel_llm   # postgres only (required there)
      pool_size: 4              # postgres connections (sqlite: one writer thread)
      outbox_lease_s: 60        # how long a claimed outbox entry stays invisible to other replicas
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

__all__ = ["StorageConfig"]


class StorageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    driver: Literal["sqlite", "postgres"] = "sqlite"
    path: str | None = Field(default=None, description="SQLite file; default <data_dir>/otel-llm.db")
    dsn: SecretStr | None = Field(default=None, description="PostgreSQL conninfo or URL (never logged)")
    pool_size: int = Field(default=4, ge=1, le=64)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    outbox_lease_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _check_driver(self) -> StorageConfig:
        if self.driver == "postgres" and (self.dsn is None or not self.dsn.get_secret_value()):
            raise ValueError("storage.dsn is required when storage.driver is postgres")
        if self.driver == "sqlite" and self.dsn is not None:
            raise ValueError("storage.dsn is only for driver postgres (sqlite uses storage.path)")
        return self
