"""Secrets out of everything moot shows, stores or sends: one list of known secrets, one redactor.

A known secret is the value of every environment variable a models.toml names in ``api_key_env``
and of every variable whose name looks like a key or token (``*KEY*``, ``*TOKEN*``, ``*SECRET*``,
``*PASSW*``, ``*CREDENTIAL*``, ``*AUTH*``), eight characters or longer. ``Redactor.feed`` works on
a stream: it holds back a tail as long as the longest secret less one character, so a key printed
in two writes is caught whole.

Like ``moot.paths``, this sits in the top package so that the engine, the executors' caller and
the session store share it without importing one another.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

__all__ = ["Redactor", "secret_values"]

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.I)
MIN_LENGTH = 8  # shorter values are too likely to be ordinary words or numbers


def secret_values(extra_names: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(value, variable name) of every known secret in the environment, longest first."""
    names = set(extra_names)
    found = [(value, name) for name, value in os.environ.items()
             if (name in names or SECRET_NAME.search(name)) and len(value) >= MIN_LENGTH]
    found.sort(key=lambda pair: -len(pair[0]))
    return found


class Redactor:
    """Replaces each known secret by ``[$NAME redacted]``, in whole texts or in a stream."""

    def __init__(self, secrets: list[tuple[str, str]] | None = None):
        self.secrets = secret_values() if secrets is None else secrets
        self._hold = max((len(v) for v, _ in self.secrets), default=1) - 1
        self._tail = ""

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def redact(self, text: str) -> str:
        for value, name in self.secrets:
            if value in text:
                text = text.replace(value, f"[${name} redacted]")
        return text

    def feed(self, chunk: str) -> str:
        """The part of the stream so far that is safe to pass on (a tail that may begin a secret
        is held back until the next chunk or ``flush``)."""
        if not self.secrets:
            return chunk
        text = self.redact(self._tail + chunk)
        if self._hold <= 0:
            self._tail = ""
            return text
        self._tail = text[-self._hold:]
        return text[:-self._hold]

    def flush(self) -> str:
        """What was held back, at the end of the stream."""
        text, self._tail = self._tail, ""
        return self.redact(text)
