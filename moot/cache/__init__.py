"""``autogen.cache``: an opt-in cache of model replies (``Cache.disk``, ``Cache.redis``), handed to
``initiate_chat(..., cache=cache)`` or ``generate_reply(..., cache=cache)``."""

from .abstract_cache_base import AbstractCache
from .cache import Cache

__all__ = ("AbstractCache", "Cache")
