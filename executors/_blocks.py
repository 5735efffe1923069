"""Code blocks: what an agent's markdown asks to run."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# Fence info-string first words, lower-cased, mapped to the language the executors know.
_ALIASES = {
    "python": "python",
    "python3": "python",
    "py": "python",
    "py3": "python",
    "sh": "sh",
    "bash": "sh",
    "shell": "sh",
    "console": "sh",
    "shell-session": "sh",
    "zsh": "sh",
}

#: The languages an executor runs; any other block is text to read, not code to run.
EXECUTABLE_LANGUAGES = frozenset({"python", "sh"})

# First words that make an untagged block a shell command rather than Python. Models often
# write ```\npip install x\n``` or ```\npython script.py\n``` without a tag.
_SHELL_FIRST_WORDS = frozenset(
    "pip pip3 python python3 sh bash ls cd cat echo mkdir rm cp mv chmod export apt apt-get".split()
)

_FENCE_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n]*)$")
_FILENAME = re.compile(r"^\s*(?:#|//)\s*filename\s*:\s*(?P<name>\S+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block from a message: its language, its code, and the file it asks to be saved as."""

    language: str
    code: str
    filename: str | None = None

    @property
    def executable(self) -> bool:
        """True when an executor can run this block (python or sh)."""
        return self.language in EXECUTABLE_LANGUAGES


def normalise_language(tag: str) -> str:
    """Map a fence tag ("Python3", "bash", "console") to "python", "sh", or the lower-cased tag."""
    tag = tag.strip().lower()
    return _ALIASES.get(tag, tag)


def _infer_language(code: str) -> str:
    """The language of an untagged block: "sh", "python", or "text" (not run)."""
    stripped = code.strip()
    if not stripped:
        return "text"
    first_word = stripped.split(None, 1)[0]
    if first_word.lstrip("$") in _SHELL_FIRST_WORDS or first_word == "$":
        return "sh"
    try:
        ast.parse(stripped)
    except (SyntaxError, ValueError):
        return "text"
    return "python"


def _console_to_script(code: str) -> str:
    """Keep the commands of a terminal transcript ("$ cmd" lines), dropping the printed output."""
    lines = code.splitlines()
    commands = [line.lstrip()[2:] for line in lines if line.lstrip().startswith("$ ")]
    return "\n".join(commands) + "\n" if commands else code


def extract_code_blocks(text: str) -> list[CodeBlock]:
    """Find the fenced markdown code blocks in a message, in order.

    Rules (CommonMark fences, read the way AutoGen reads them):
    - A fence is three or more backticks or tildes, indented at most three spaces; the block ends
      at a line with the same character repeated at least as many times. A block that is never
      closed (a reply cut off mid-block) is ignored: running half a program does more harm than good.
    - The first word of the info string is the language: python/py/python3 -> "python";
      sh/bash/shell/console/zsh -> "sh"; anything else is kept lower-cased ("json", "text"...) and
      is not executable (see `CodeBlock.executable`). A `console` block whose lines start with
      "$ " keeps only those commands.
    - An untagged block is "sh" if its first word is a common shell command (pip, python, ls, cd,
      echo...), else "python" if it parses as Python, else "text" (shown, never run).
    - A first line "# filename: name.py" (or "// filename: ...") names the file the code is saved
      as; the line stays in the code (it is a comment). `filename=name` in the info string works too.
    """
    blocks: list[CodeBlock] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.match(lines[i])
        if not opening or (opening["fence"][0] == "`" and "`" in opening["info"]):
            i += 1
            continue
        fence = opening["fence"]
        indent = len(opening["indent"])
        info = opening["info"].strip()
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not closing.match(lines[j]):
            line = lines[j]
            # Content lines lose up to the opening fence's indentation (CommonMark).
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))):])
            j += 1
        if j >= len(lines):
            break  # never closed: ignore it and everything after it is plain text
        i = j + 1
        code = "\n".join(body)
        if code and not code.endswith("\n"):
            code += "\n"
        words = info.split()
        tag = words[0] if words else ""
        filename = None
        for word in words[1:]:
            if word.lower().startswith(("filename=", "file=", "title=")):
                filename = word.split("=", 1)[1].strip("\"'") or None
        language = normalise_language(tag) if tag else _infer_language(code)
        if tag.lower() in ("console", "shell-session"):
            code = _console_to_script(code)
        first_line = code.split("\n", 1)[0]
        named = _FILENAME.match(first_line)
        if named:
            filename = named["name"]
        blocks.append(CodeBlock(language=language, code=code, filename=filename))
    return blocks
