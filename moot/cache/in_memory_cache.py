"""``autogen.cache.in_memory_cache``: a cache that lives as long as the object."""

from __future__ import annotations

from typing import Any

__all__ = ("InMemoryCache",)


class InMemoryCache:
    """A dict, one namespace per seed (``seed`` keeps two experiments apart)."""

    def __init__(self, seed: str | int = ""):
        self._prefix = f"{seed}_" if seed else ""
        self._cache: dict[str, Any] = {}

    def _prefixed_key(self, key: str) -> str:
        return self._prefix + key

    def get(self, key: str, default: Any | None = None) -> Any | None:
        return self._cache.get(self._prefixed_key(key), default)

    def set(self, key: str, value: Any) -> None:
        self._cache[self._prefixed_key(key)] = value

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> InMemoryCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
