"""Config of the ``debug`` exporter."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["Config"]


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # basic: one line per batch; detailed: the batch as protobuf text (can be large)
    verbosity: Literal["basic", "detailed"] = "basic"
