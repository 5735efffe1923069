"""Where agents print messages and ask the human: AutoGen's ``IOStream`` (``moot.io``).

The default is the console. ``with IOStream.set_default(stream):`` sends the chats run inside the
block to ``stream`` (its ``print(*objects, sep=, end=, flush=)`` and ``input(prompt, password=)``);
``IOStream.set_global_default(stream)`` changes the default everywhere.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, runtime_checkable

__all__ = ["IOConsole", "IOStream", "InputStream", "OutputStream"]


@runtime_checkable
class OutputStream(Protocol):
    def print(self, *objects: Any, sep: str = " ", end: str = "\n", flush: bool = False) -> None: ...


@runtime_checkable
class InputStream(Protocol):
    def input(self, prompt: str = "", *, password: bool = False) -> str: ...


class IOConsole:
    """The terminal: ``print`` and ``input`` (``getpass`` for a password)."""

    def print(self, *objects: Any, sep: str = " ", end: str = "\n", flush: bool = False) -> None:
        print(*objects, sep=sep, end=end, flush=flush)

    def input(self, prompt: str = "", *, password: bool = False) -> str:
        return getpass.getpass(prompt or "Password: ") if password else input(prompt)


_global: list[Any] = [IOConsole()]
_current: ContextVar[Any] = ContextVar("moot_iostream", default=None)


@runtime_checkable
class IOStream(InputStream, OutputStream, Protocol):
    """An input and output stream (any object with AutoGen's ``print`` and ``input``)."""

    @staticmethod
    def set_global_default(stream: Any) -> None:
        _global[0] = stream

    @staticmethod
    def get_global_default() -> Any:
        return _global[0]

    @staticmethod
    def get_default() -> Any:
        """The stream of this context: the innermost ``set_default``, else the global default."""
        stream = _current.get()
        return _global[0] if stream is None else stream

    @staticmethod
    @contextmanager
    def set_default(stream: Any) -> Iterator[None]:
        token = _current.set(stream)
        try:
            yield
        finally:
            _current.reset(token)
