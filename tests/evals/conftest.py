"""Fixtures for the eval tests: scripted models files and JSONL suites on disk, and ``moot`` run
as a subprocess on the test's data dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from moot.backends.config import models_document, toml_document

ROOT = Path(__file__).resolve().parents[2]

CODE_REPLIES = ["Here:\n\n```python\nprint(sum(range(10)))\n```", "It printed 45. TERMINATE"]


def write_models(folder: Path, replies: list, *, name: str = "s", chunk_delay_s: float = 0.0, **more) -> Path:
    """A models.toml with one scripted model (the default) serving ``replies``."""
    models = {name: {"replies": replies, "options": {"chunk_delay_s": chunk_delay_s, "chunk_size": 4}}, **more}
    path = folder / "models.toml"
    path.write_text(toml_document(models_document(models, default=name)), encoding="utf-8")
    return path


def write_suite(folder: Path, tasks: list[dict], name: str = "suite.jsonl") -> Path:
    path = folder / name
    path.write_text("".join(json.dumps(t) + "\n" for t in tasks), encoding="utf-8")
    return path


SUM_SUITE = [
    {"id": "sum", "task": "print the sum of 0..9", "contains": "45", "exit_code": 0},
    {"id": "wrong", "task": "print the sum of 0..10", "contains": "55"},
    {"id": "expr", "task": "say it", "expr": "len(messages) >= 3 and final.endswith('TERMINATE')"},
    {"id": "regex", "task": "any", "regex": r"^It printed \d+\."},
]


def moot(*args: str, cwd: Path, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "moot", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)


@pytest.fixture
def scripted(tmp_path) -> Path:
    """A models.toml whose default model writes code that prints 45, then says TERMINATE."""
    return write_models(tmp_path, CODE_REPLIES)
