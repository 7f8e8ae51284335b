"""Attach user, session, conversation and tenant ids to every LLM span in a scope.

    from otel_llm.context import llm_context

    with llm_context(user_id="u-42", session_id="s-1", conversation_id="c-9", tenant_id="acme"):
        client.chat.completions.create(...)   # the span carries user.id, session.id, ...

Scopes nest (inner values override outer ones, unset inner values inherit) and follow
``contextvars`` semantics, so they are safe across threads and asyncio tasks. A scope exited in
another ``contextvars.Context`` than it was entered in (around a generator whose steps run in
copies of the context, as a Starlette ``StreamingResponse``'s do) raises nothing and writes nothing
there.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from otel_llm import semconv

__all__ = ["current_attributes", "llm_context"]

_ATTRS: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "otel_llm_context", default=()
)


@contextmanager
def llm_context(
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    conversation_id: str | None = None,
    tenant_id: str | None = None,
) -> Iterator[None]:
    """Every LLM span started inside gets these ids (``None`` leaves an outer value in place)."""
    merged = dict(_ATTRS.get())
    for key, value in (
        (semconv.USER_ID, user_id),
        (semconv.SESSION_ID, session_id),
        (semconv.GEN_AI_CONVERSATION_ID, conversation_id),
        (semconv.OTEL_LLM_TENANT_ID, tenant_id),
    ):
        if value is not None:
            merged[key] = str(value)
    token = _ATTRS.set(tuple(merged.items()))
    try:
        yield
    finally:
        # In another Context than the one the token was made in (a step of a Starlette
        # StreamingResponse, another thread or task) reset raises: that Context never had these
        # ids, and nothing is written there (the outer ids would go to whatever runs there next).
        with suppress(ValueError):
            _ATTRS.reset(token)


def current_attributes() -> tuple[tuple[str, str], ...]:
    """The (key, value) pairs of the innermost scope; empty outside any scope."""
    return _ATTRS.get()
