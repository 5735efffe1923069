"""Fixtures for the memory tests: scripted models and small teams for the session store, and
helpers to run ``moot`` as a subprocess on the test's data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from moot.backends.config import models_document, toml_document

ROOT = Path(__file__).resolve().parents[2]
REPLIES = [
    "Here is the first answer, long enough to stream in several pieces.",
    "Second answer:\n```python\nprint(1 + 1)\n```\nThat is it.",
    "Third answer.",
    "Fourth answer.",
    "Fifth answer.",
    "Sixth answer.",
    "Seventh answer.",
]

sys.path.insert(0, str(Path(__file__).parent))
try:  # the memo tests' fixtures live beside these
    from conftest_memos import *  # noqa: F401,F403,E402
except ModuleNotFoundError as exc:
    if exc.name != "conftest_memos":
        raise


def models_text(chunk_delay_s: float = 0.0) -> str:
    """A models.toml (for the ``moot`` subprocess) with one scripted model "s" streaming REPLIES."""
    models = {"s": {"replies": REPLIES, "options": {"chunk_delay_s": chunk_delay_s, "chunk_size": 4}}}
    return toml_document(models_document(models, default="s"))


DUO = """schema_version = 1
name = "duo"
[[members]]
name = "alice"
role = "user_proxy"
model = "s"
human_input_mode = "NEVER"
max_consecutive_auto_reply = 10
[[members]]
name = "bob"
role = "assistant"
[chat]
initiator = "alice"
max_turns = 3
"""

TRIO = """schema_version = 1
name = "trio"
[[members]]
name = "planner"
[[members]]
name = "coder"
[[members]]
name = "reviewer"
[chat]
speaker_selection = "round_robin"
max_round = 6
[termination]
stall = false
"""


@pytest.fixture
def replies() -> list[str]:
    return list(REPLIES)


@pytest.fixture
def moot():
    """``moot(*args, cwd=...)``: run the CLI as a subprocess on this test's data dir."""
    return run_moot


@pytest.fixture
def moot_argv():
    return moot_cmd


@pytest.fixture
def session_env(tmp_path):
    """A folder with models.toml (scripted, no delay), slow.toml (streams slowly), duo.toml and trio.toml."""
    (tmp_path / "models.toml").write_text(models_text(0.0))
    (tmp_path / "slow.toml").write_text(models_text(0.05))
    (tmp_path / "duo.toml").write_text(DUO)
    (tmp_path / "trio.toml").write_text(TRIO)
    return tmp_path


def moot_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "moot", *args]


def run_moot(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    return subprocess.run(moot_cmd(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
