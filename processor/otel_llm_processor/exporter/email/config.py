"""``exporters: email: {host, port, starttls, tls, username, password, from_addr, to, ...}``."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from otel_llm_processor.exporter.notify.config import NotifierConfig

__all__ = ["Config"]


class Config(NotifierConfig):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(default=True, description="upgrade the connection with STARTTLS")
    tls: bool = Field(default=False, description="implicit TLS (SMTPS, usually port 465)")
    verify_tls: bool = True
    username: str = ""
    password: SecretStr | None = None
    from_addr: str = Field(min_length=3)
    to: list[str] = Field(min_length=1)
    subject_prefix: str = "[otel-llm]"

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.tls and self.starttls:
            raise ValueError("choose either tls (implicit) or starttls, not both")
        if self.password is not None and not self.username:
            raise ValueError("password needs a username")
        return self
