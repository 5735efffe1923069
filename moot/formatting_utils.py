"""``autogen.formatting_utils``: ``colored(text, color)`` for terminal output (no colour when
``NO_COLOR`` is set or the color is unknown)."""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["colored"]

_COLORS = {"black": 30, "grey": 30, "red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36,
           "light_grey": 37, "dark_grey": 90, "light_red": 91, "light_green": 92, "light_yellow": 93,
           "light_blue": 94, "light_magenta": 95, "light_cyan": 96, "white": 97}
_ATTRIBUTES = {"bold": 1, "dark": 2, "underline": 4, "blink": 5, "reverse": 7, "concealed": 8}


def colored(text: object, color: str | None = None, on_color: str | None = None,
            attrs: Iterable[str] | None = None, *, no_color: bool | None = None, force_color: bool | None = None) -> str:
    """``text`` wrapped in ANSI codes for ``color`` (``"red"``, ``"light_blue"``, ...), the
    background ``on_color`` (``"on_red"``) and ``attrs`` (``"bold"``, ``"underline"``)."""
    text = str(text)
    if no_color or (os.environ.get("NO_COLOR") and not force_color):
        return text
    codes = [_COLORS[color]] if color in _COLORS else []
    if on_color and on_color.removeprefix("on_") in _COLORS:
        codes.append(_COLORS[on_color.removeprefix("on_")] + 10)
    codes += [_ATTRIBUTES[a] for a in attrs or () if a in _ATTRIBUTES]
    if not codes:
        return text
    return f"\033[{';'.join(map(str, codes))}m{text}\033[0m"
