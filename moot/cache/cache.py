"""``autogen.cache.cache``: ``Cache``, the one object a script makes and hands to a chat."""

from __future__ import annotations

from typing import Any

from .abstract_cache_base import AbstractCache
from .cache_factory import CacheFactory
from .in_memory_cache import InMemoryCache

__all__ = ("Cache",)


class Cache:
    """A cache of model replies, opt-in: nothing is cached (or written) unless a script makes
    one and passes it to a chat::

        with Cache.disk(cache_seed=7) as cache:
            user.initiate_chat(assistant, message="...", cache=cache)

    An identical request (same model and settings, same messages and tools) then gets the
    stored reply without a model call. The request is hashed into the key; no API key is part
    of it. ``cache_seed`` keeps separate stores (``.cache/<seed>`` for ``disk``).
    """

    ALLOWED_CONFIG_KEYS = ["cache_seed", "redis_url", "cache_path_root", "cosmos_db_config"]

    @staticmethod
    def redis(cache_seed: str | int = 42, redis_url: str = "redis://localhost:6379/0") -> Cache:
        """A cache on a Redis server (needs the ``redis`` package)."""
        return Cache({"cache_seed": cache_seed, "redis_url": redis_url})

    @staticmethod
    def disk(cache_seed: str | int = 42, cache_path_root: str = ".cache") -> Cache:
        """A cache in ``<cache_path_root>/<cache_seed>``, made on the first reply stored."""
        return Cache({"cache_seed": cache_seed, "cache_path_root": cache_path_root})

    @staticmethod
    def in_memory(cache_seed: str | int = 42) -> Cache:
        """A cache that lives as long as this object (moot's addition: nothing on disk)."""
        cache = Cache.__new__(Cache)
        cache.config = {"cache_seed": str(cache_seed)}
        cache.cache = InMemoryCache(str(cache_seed))
        return cache

    def __init__(self, config: dict[str, Any]):
        unknown = [k for k in config if k not in self.ALLOWED_CONFIG_KEYS]
        if unknown:
            raise ValueError(f"Invalid config key: {unknown[0]} (a Cache config takes "
                             f"{', '.join(self.ALLOWED_CONFIG_KEYS)})")
        self.config = dict(config)
        self.config["cache_seed"] = str(self.config.get("cache_seed", 42))
        self.cache: AbstractCache = CacheFactory.cache_factory(
            seed=self.config["cache_seed"], redis_url=self.config.get("redis_url"),
            cache_path_root=self.config.get("cache_path_root"), cosmosdb_config=self.config.get("cosmos_db_config"))

    def __enter__(self) -> AbstractCache:
        return self.cache.__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        return self.cache.__exit__(*exc_info)

    def get(self, key: str, default: Any | None = None) -> Any | None:
        return self.cache.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.cache.set(key, value)

    def close(self) -> None:
        self.cache.close()
