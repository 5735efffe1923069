"""``autogen.io`` for ported scripts: where agents print and ask the human (``IOStream``)."""

from typing import Any

from moot.agents._iostream import IOConsole, InputStream, IOStream, OutputStream

__all__ = ("IOConsole", "IOStream", "IOWebsockets", "InputStream", "OutputStream")


class IOWebsockets:
    """AutoGen's websocket stream has no counterpart in moot: making one says what to use instead."""

    def __init__(self, *args: Any, **kwargs: Any):
        raise NotImplementedError("moot has no IOWebsockets: give IOStream.set_default() your own stream (any object "
                                  "with print() and input()), or serve a team over HTTP with `moot serve`")

    @staticmethod
    def run_server_in_thread(*args: Any, **kwargs: Any) -> Any:
        IOWebsockets()
