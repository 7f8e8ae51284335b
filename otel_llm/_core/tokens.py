"""Local token estimates for streams whose provider reported no usage.

tiktoken is used only when the BPE file of the encoding is ALREADY in tiktoken's local cache (and
matches tiktoken's own checksum, so tiktoken will not try to re-fetch it); it is loaded in a
background thread started at instrument time, never on the app's call path and never over the
network. Until it is loaded, or without it, a heuristic (characters / 4) is used. The method used
is recorded beside the estimate (``otel_llm.usage.estimate_method``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "HEURISTIC_METHOD",
    "TokenCounter",
    "cached_tiktoken_file",
    "default_token_counter",
]

_log = logging.getLogger(__name__)

HEURISTIC_METHOD = "heuristic:chars/4"
_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
# sha256 of each file as tiktoken checks it (tiktoken_ext.openai_public).
_EXPECTED_SHA256: Mapping[str, str] = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
_DEFAULT_ENCODING = "o200k_base"

Loader = Callable[[str], Any]  # encoding name -> object with .encode(str) -> list[int]


def _cache_dir() -> str:
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return os.environ["TIKTOKEN_CACHE_DIR"]
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return os.environ["DATA_GYM_CACHE_DIR"]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def cached_tiktoken_file(encoding: str) -> str | None:
    """Path of the encoding's BPE file in tiktoken's cache if present and intact, else None."""
    expected = _EXPECTED_SHA256.get(encoding)
    cache_dir = _cache_dir()
    if expected is None or not cache_dir:
        return None
    path = os.path.join(cache_dir, hashlib.sha1(_BLOB.format(encoding).encode()).hexdigest())
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return path if hashlib.sha256(data).hexdigest() == expected else None


def _tiktoken_loader(encoding: str) -> Any:
    if cached_tiktoken_file(encoding) is None:
        return None
    import tiktoken

    return tiktoken.get_encoding(encoding)


def _encoding_for_model(model: str | None) -> str:
    if not model:
        return _DEFAULT_ENCODING
    try:
        from tiktoken.model import encoding_name_for_model

        name = encoding_name_for_model(model)
    except Exception:
        return _DEFAULT_ENCODING
    return name if name in _EXPECTED_SHA256 else _DEFAULT_ENCODING


class TokenCounter:
    """Counts tokens of texts; tiktoken when its encodings loaded, else the heuristic."""

    def __init__(self, loader: Loader | None = _tiktoken_loader, encodings: Iterable[str] = ()) -> None:
        self._encoders: dict[str, Any] = {}
        self._ready = threading.Event()
        names = tuple(encodings) or tuple(_EXPECTED_SHA256)
        if loader is None:
            self._ready.set()
            return
        thread = threading.Thread(
            target=self._load, args=(loader, names), name="otel_llm-tiktoken", daemon=True
        )
        thread.start()

    def _load(self, loader: Loader, names: tuple[str, ...]) -> None:
        try:
            for name in names:
                try:
                    enc = loader(name)
                except Exception:
                    _log.debug("otel_llm: tiktoken encoding %s not loaded", name, exc_info=True)
                    continue
                if enc is not None:
                    self._encoders[name] = enc
        finally:
            self._ready.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until background loading finished (tests, benchmarks)."""
        return self._ready.wait(timeout)

    def method_for(self, model: str | None) -> str:
        name = _encoding_for_model(model)
        return f"tiktoken:{name}" if name in self._encoders else HEURISTIC_METHOD

    def count(self, model: str | None, texts: Iterable[str | None]) -> tuple[int, str]:
        """(tokens, method) for the concatenation of ``texts``."""
        kept: list[str] = [t for t in texts if t]
        name = _encoding_for_model(model)
        enc = self._encoders.get(name)
        if enc is not None:
            try:
                total = 0
                for text in kept:
                    total += len(enc.encode(text, disallowed_special=()))
                return total, f"tiktoken:{name}"
            except Exception:
                _log.debug("otel_llm: tiktoken count failed", exc_info=True)
        chars = sum(len(t) for t in kept)
        return (chars + 3) // 4, HEURISTIC_METHOD


_default: TokenCounter | None = None
_default_lock = threading.Lock()


def default_token_counter() -> TokenCounter:
    """The process-wide counter; the first call starts loading cached tiktoken encodings."""
    global _default
    with _default_lock:
        if _default is None:
            _default = TokenCounter()
        return _default
