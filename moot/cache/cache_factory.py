"""``autogen.cache.cache_factory``: the cache a configuration asks for."""

from __future__ import annotations

import os
from typing import Any

from .abstract_cache_base import AbstractCache
from .disk_cache import DiskCache
from .redis_cache import RedisCache

__all__ = ("CacheFactory",)


class CacheFactory:
    @staticmethod
    def cache_factory(seed: str | int, redis_url: str | None = None, cache_path_root: str | None = ".cache",
                      cosmosdb_config: dict[str, Any] | None = None) -> AbstractCache:
        """A ``RedisCache`` when ``redis_url`` is given (``ImportError`` without the redis
        package: moot does not quietly write to disk instead), else a ``DiskCache`` in
        ``<cache_path_root>/<seed>``. Cosmos DB is not supported (``ValueError``)."""
        if cosmosdb_config:
            raise ValueError("a Cosmos DB cache is not supported in moot: use Cache.disk or Cache.redis")
        if redis_url:
            return RedisCache(seed, redis_url)
        return DiskCache(os.path.join(cache_path_root or ".cache", str(seed)))
