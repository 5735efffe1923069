"""``autogen.io`` for ported scripts: where agents print and ask the human (``IOStream``)."""

from typing import Any

from moot.agents._iostream import IOConsole, InputStream, IOStream, OutputStream

__all__ = ("IOConsole", "IOStream", "InputStream", "OutputStream")


def __getattr__(name: str) -> Any:
    if name == "IOWebsockets":
        raise AttributeError("moot has no IOWebsockets: give IOStream.set_default() your own stream (any object with "
                             "print() and input()), or serve a team over HTTP with `moot serve`")
    raise AttributeError(f"module 'moot.io' has no attribute {name!r}")
