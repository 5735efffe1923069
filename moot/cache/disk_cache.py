"""``autogen.cache.disk_cache``: a cache in a folder, one SQLite file (the standard library's
``sqlite3``; no extra package)."""

from __future__ import annotations

import pickle
import sqlite3
import threading
from pathlib import Path
from typing import Any

__all__ = ("DiskCache",)

FILE_NAME = "moot_cache.sqlite"


class DiskCache:
    """Values kept in ``<folder>/moot_cache.sqlite`` (AutoGen: ``.cache/<seed>``). The folder
    and the file are made on the first ``set``, never before: a cache only read writes nothing.
    Values are pickled, as AutoGen's disk cache does, so only read a cache folder you made."""

    def __init__(self, seed: str | int | Path):
        self.path = Path(seed)
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = None

    def _connection(self, create: bool) -> sqlite3.Connection | None:
        if self._con is None:
            db = self.path / FILE_NAME
            if not db.exists():
                if not create:
                    return None
                try:
                    self.path.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise OSError(f"the cache folder {str(self.path)!r} cannot be made: {exc.strerror or exc}") from None
            try:
                self._con = sqlite3.connect(db, check_same_thread=False)
                self._con.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
            except sqlite3.Error as exc:
                raise OSError(f"the cache file {str(db)!r} cannot be used: {exc}") from None
        return self._con

    def get(self, key: str, default: Any | None = None) -> Any | None:
        with self._lock:
            con = self._connection(create=False)
            if con is None:
                return default
            row = con.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return default if row is None else pickle.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        blob = pickle.dumps(value)
        with self._lock:
            con = self._connection(create=True)
            assert con is not None
            with con:
                con.execute("INSERT OR REPLACE INTO cache (key, value) VALUES (?, ?)", (key, blob))

    def close(self) -> None:
        """Let the file go (the next ``get``/``set`` opens it again)."""
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def __enter__(self) -> DiskCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
