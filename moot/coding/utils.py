"""File names from a block's first line, and quiet pip installs."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["filename_from_content", "silence_pip"]

# A first-line comment naming the file: "# filename: a.py", "// a.js", "/* a.css */", "<!-- a.html -->".
_NAME_COMMENTS = [
    re.compile(r"^<!--\s*(filename:)?\s*(.+?)\s*-->"),
    re.compile(r"^/\*\s*(filename:)?\s*(.+?)\s*\*/"),
    re.compile(r"^//\s*(filename:)?\s*(.+?)\s*$"),
    re.compile(r"^#\s*(filename:)?\s*(.+?)\s*$"),
]
_LOOKS_LIKE_A_FILE = re.compile(r"^[\w./-]+\.\w+$")


def filename_from_content(code: str, work_dir: Path) -> str | None:
    """The file a block asks to be saved as, relative to ``work_dir``; None when it names none.

    The first line is a comment: ``# filename: a.py`` (or ``//``, ``/* */``, ``<!-- -->``), or
    the bare name ``# a.py``. Unlike AutoGen, a bare comment counts only when it looks like a
    file name (one word with an extension), so ``# compute the primes`` names no file. A name
    outside the work dir (``/tmp/x.py``, ``../x.py``) raises ``ValueError``.
    """
    first = code.split("\n", 1)[0].strip()
    for pattern in _NAME_COMMENTS:
        match = pattern.match(first)
        if match is None:
            continue
        name = match[2].strip()
        if not match[1] and not _LOOKS_LIKE_A_FILE.match(name):
            return None
        root = work_dir.resolve()
        path = Path(name) if Path(name).is_absolute() else root / name
        return str(path.resolve().relative_to(root))  # ValueError when outside
    return None


def silence_pip(code: str, lang: str) -> str:
    """Add ``-qqq`` to the ``pip install`` lines of a python (``!pip install``) or shell block,
    so that installing prints nothing unless it fails."""
    if lang == "python":
        start = re.compile(r"^! ?pip install")
    elif lang in ("bash", "shell", "sh", "pwsh", "powershell", "ps1"):
        start = re.compile(r"^pip install")
    else:
        return code
    lines = code.split("\n")
    for i, line in enumerate(lines):
        match = start.search(line)
        if match and "-qqq" not in line:
            lines[i] = line[:match.end()] + " -qqq" + line[match.end():]
    return "\n".join(lines)
