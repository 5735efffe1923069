"""How the list commands print: a Rich table on a terminal, plain whole rows when piped, JSON with --json.

On a terminal a table fits the window (Rich wraps and shortens cells). Piped into ``grep``, ``cut``
or a file it must not: ``planner-coder-reviewer`` folded into ``planner-coder-re…`` and cells split
over two lines break every script. So when stdout is not a terminal the table becomes aligned
plain rows, every cell whole on its row. ``--json`` is the form for programs; its field names are
listed in the README and kept stable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["Column", "print_json", "print_table"]

Cell = str | Text


@dataclass(frozen=True)
class Column:
    """A table column; ``no_wrap`` and ``overflow`` only matter on a terminal."""

    name: str
    no_wrap: bool = False
    overflow: str = "ellipsis"
    justify: str = "left"


def _plain(cell: Cell) -> str:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return " ".join(text.split()) if ("\n" in text or "\t" in text or "\r" in text) else text


def plain_rows(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> list[str]:
    """The header and rows as lines, columns padded to their widest cell, two spaces apart."""
    table = [[c.name for c in columns], *([_plain(cell) for cell in row] for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    lines = []
    for r in table:
        cells = [cell.rjust(widths[i]) if columns[i].justify == "right" else cell.ljust(widths[i])
                 for i, cell in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    return lines


def print_table(console: Console, title: str | None, columns: Sequence[Column],
                rows: Sequence[Sequence[Cell]]) -> None:
    """A Rich table on a terminal; the title line and whole plain rows otherwise."""
    if not console.is_terminal:
        lines = ([title] if title else []) + plain_rows(columns, rows)
        console.file.write("\n".join(lines) + "\n")
        console.file.flush()
        return
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c.name, no_wrap=c.no_wrap, overflow=c.overflow, justify=c.justify)  # type: ignore[arg-type]
    for row in rows:
        # plain strings are data (a title may hold "[x]"), never Rich markup
        table.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in row))
    console.print(table)


def print_json(console: Console, data: Any) -> None:
    """``data`` as indented JSON on the console's file, nothing else (no colour, no wrapping)."""
    console.file.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    console.file.flush()
