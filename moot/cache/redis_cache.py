"""``autogen.cache.redis_cache``: a cache on a Redis server (needs the ``redis`` package)."""

from __future__ import annotations

import pickle
from typing import Any

__all__ = ("RedisCache",)


class RedisCache:
    """Values on a Redis server, under ``autogen:<seed>:<key>`` as AutoGen keeps them. Raises
    ``ImportError`` saying what to install when the ``redis`` package is missing."""

    def __init__(self, seed: str | int, redis_url: str):
        try:
            import redis  # optional: only this cache needs it
        except ImportError:
            raise ImportError("Cache.redis needs the redis package, which is not installed: pip install redis "
                              "(or use Cache.disk)") from None
        self.seed = seed
        self.cache = redis.Redis.from_url(redis_url)

    def _key(self, key: str) -> str:
        return f"autogen:{self.seed}:{key}"

    def get(self, key: str, default: Any | None = None) -> Any | None:
        raw = self.cache.get(self._key(key))
        return default if raw is None else pickle.loads(raw)

    def set(self, key: str, value: Any) -> None:
        self.cache.set(self._key(key), pickle.dumps(value))

    def close(self) -> None:
        self.cache.close()

    def __enter__(self) -> RedisCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
