"""Keep notifier secrets out of other libraries' logs.

httpx logs every request's full URL at INFO; a Slack webhook URL is itself the credential. A
filter on the ``httpx`` logger replaces any argument containing a registered secret.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["REDACTED", "redact_in_logs"]

REDACTED = "<redacted>"


class _SecretFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()

    def _clean(self, value: object) -> object:
        text = str(value)
        return REDACTED if any(secret in text for secret in self.secrets) else value

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            if isinstance(record.args, tuple):
                record.args = tuple(self._clean(arg) for arg in record.args)
            record.msg = self._clean(record.msg)
        return True


_filter = _SecretFilter()
_lock = threading.Lock()
_installed = False
_LOGGERS = ("httpx", "httpcore")


def redact_in_logs(*secrets: str) -> None:
    """Register secrets (non-empty strings) to be masked in the HTTP client libraries' logs."""
    global _installed
    with _lock:
        _filter.secrets = _filter.secrets | {s for s in secrets if s and len(s) >= 4}
        if not _installed:
            for name in _LOGGERS:
                logging.getLogger(name).addFilter(_filter)
            _installed = True
