"""The ``moot`` console script (the commands live in ``moot.tui.cli``)."""

from moot.tui.cli import main

__all__ = ["main"]
