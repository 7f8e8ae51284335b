"""Config of the ``normalize`` processor."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Config"]


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Keep the old attribute names beside the new ones (for a migration period).
    keep_original: bool = False
    # Longest string (characters) or bytes value kept; longer ones are cut and end with a marker.
    # Applies to every span's and span event's attributes, LLM or not. 0 disables truncation.
    max_attribute_length: int = Field(default=64 * 1024, ge=0)
