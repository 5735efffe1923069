"""``autogen.cache.abstract_cache_base``: what every cache offers."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol

__all__ = ("AbstractCache",)


class AbstractCache(Protocol):
    """A key-value store for model replies: ``get``/``set``/``close``, and a context manager
    (leaving it closes the cache; a closed cache opens again when used)."""

    def get(self, key: str, default: Any | None = None) -> Any | None: ...

    def set(self, key: str, value: Any) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> AbstractCache: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc_value: BaseException | None,
                 traceback: TracebackType | None) -> None: ...
