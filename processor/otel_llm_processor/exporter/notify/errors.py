"""Delivery errors with a retry decision and a low-cardinality reason, and the HTTP mapping.

HTTP: 2xx delivered; 408, 429 and 5xx transient (``Retry-After`` honoured); other 4xx permanent;
timeouts and connection errors transient. Messages never contain URLs, headers or bodies sent
(webhook URLs and keys are secrets).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from otel_llm_processor.component import PermanentError, RetryableError

__all__ = ["PermanentDeliveryError", "TransientDeliveryError", "check_status", "post_json"]

_MAX_RETRY_AFTER_S = 3600.0


class PermanentDeliveryError(PermanentError):
    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TransientDeliveryError(RetryableError):
    def __init__(self, message: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after)
        self.reason = reason


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER_S) if value else None
    except ValueError:
        return None  # an HTTP-date: fall back to our own backoff


def check_status(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = f"http_{status}"
    if status in (408, 429) or status >= 500:
        raise TransientDeliveryError(f"HTTP {status}", reason, _retry_after(response))
    raise PermanentDeliveryError(f"HTTP {status}", reason)


async def post_json(
    client: httpx.AsyncClient, url: str, body: Any, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    try:
        response = await client.post(url, json=body, headers=dict(headers or {}))
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"timeout ({type(exc).__name__})", "timeout") from None
    except httpx.TransportError as exc:
        raise TransientDeliveryError(f"connection error ({type(exc).__name__})", "connection") from None
    check_status(response)
    return response
