"""The suites moot ships, by name, and a user's JSONL file by path."""

from __future__ import annotations

from pathlib import Path

from ._bfcl import BfclSuite
from ._humaneval import HumanEvalSuite
from ._micro import MemorySuite, SelectionSuite, StallSuite
from ._suites import JsonlSuite, Suite, SuiteError

__all__ = ["SUITES", "load_suite", "suite_names"]

SUITES: dict[str, type[Suite]] = {
    "humaneval": HumanEvalSuite,
    "bfcl": BfclSuite,
    "selection": SelectionSuite,
    "stall": StallSuite,
    "memory": MemorySuite,
}
_LOADED: dict[str, Suite] = {}  # one per process: a worker reads a suite's data once


def suite_names() -> list[str]:
    return [*SUITES, *(f"bfcl:{c}" for c in BfclSuite.CATEGORIES)]


def load_suite(name: str) -> Suite:
    """A shipped suite (``humaneval``, ``bfcl``, ``bfcl:simple``, ``selection``...) or a JSONL file."""
    key = name
    if Path(name).is_file():  # a suite file read again when it changed
        stat = Path(name).stat()
        key = f"{Path(name).resolve()}@{stat.st_mtime_ns}:{stat.st_size}"
    if key in _LOADED:
        return _LOADED[key]
    base, _, option = name.partition(":")
    if base in SUITES:
        suite = SUITES[base](option) if option else SUITES[base]()
    elif name.endswith(".jsonl") or Path(name).is_file():
        if not Path(name).is_file():
            raise SuiteError(f"{name}: no such suite file")
        suite = JsonlSuite(name)
    else:
        raise SuiteError(f"no suite named {name!r} (suites: {', '.join(suite_names())}; or a JSONL file of tasks)")
    suite.tasks()  # a malformed file fails here, before any task runs
    _LOADED[key] = suite
    return suite
