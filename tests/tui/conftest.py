"""Fixtures for the terminal app's tests: scripted models built in Python (``scripted_models``),
team files in a temp folder, and an app wired to them (no user config, no real model)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import moot.agents._models as models_module
from moot.backends.config import scripted_models


@pytest.fixture(autouse=True)
def _fresh_registry():
    saved = models_module._registry
    yield
    models_module._registry = saved


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Run where ./teams and ./coding are the test's own."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "teams").mkdir()


def app_models(**models: Any):
    """The app's models: ``coder-model`` (a script that writes code, then ends) unless given, plus
    these (a list: a scripted model's replies; a table: the entry's fields); ``coder-model`` is the default."""
    models.setdefault("coder-model", [CODE_REPLY, DONE_REPLY])
    return scripted_models(models, default="coder-model", source="test-models.toml")


CODE_REPLY = "Here is the script:\n\n```python\nprint(6 * 7)\n```"
DONE_REPLY = "The script printed 42. TERMINATE"


@pytest.fixture
def make_models():
    """``make_models(name=[replies] | {fields}, ...)``: see ``app_models``."""
    return app_models


TWO_AGENT_TEAM = """
schema_version = 1
name = "{name}"
description = "A scripted coder and a local executor."

[[members]]
name = "executor"
role = "user_proxy"
human_input_mode = "{human}"
max_consecutive_auto_reply = 3
termination_text = "TERMINATE"
[members.code_execution]
executor = "local"
timeout = 20
work_dir = "coding"

[[members]]
name = "coder"
model = "{model}"
system_message = "You write Python."

[chat]
initiator = "executor"
max_turns = {max_turns}
"""

GROUP_TEAM = """
schema_version = 1
name = "trio"
description = "Three scripted agents taking turns."

[[members]]
name = "planner"
model = "planner-model"

[[members]]
name = "writer"
model = "writer-model"

[[members]]
name = "critic"
model = "critic-model"

[chat]
speaker_selection = "round_robin"
max_round = {max_round}

[termination]
stall = false
"""


@pytest.fixture
def write_team(tmp_path):
    def write(text: str, name: str) -> Path:
        path = tmp_path / "teams" / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        return path
    return write


@pytest.fixture
def coder_team(write_team):
    def make(name: str = "scripted-coder", human: str = "NEVER", model: str = "coder-model", max_turns: int = 3) -> str:
        write_team(TWO_AGENT_TEAM.format(name=name, human=human, model=model, max_turns=max_turns), name)
        return name
    return make


def settings_for_tests(approve: bool = True) -> None:
    """Approval of local code on or off for the app under test (written where the app reads it)."""
    from moot.tui.settings import save_settings

    save_settings({"theme": "textual-dark", "approve_local_code": approve, "approve_all_code": False})


@pytest.fixture
def no_approval():
    settings_for_tests(approve=False)


@pytest.fixture
def app_factory(make_models):
    from moot.tui.app import MootApp

    def make(models=None, **kwargs):
        return MootApp(models=models if models is not None else make_models(), **kwargs)
    return make


async def wait_until(pilot, predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Let the app run until ``predicate()`` holds (checked after each idle), or fail saying what."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


@pytest.fixture(autouse=True)
def _no_env_models(monkeypatch):
    monkeypatch.delenv("MOOT_MODELS", raising=False)
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


async def wait_home(pilot, app):
    """The home screen with its lists mounted and filled (they come just after the first frame)."""
    from moot.tui.screens.home import HomeScreen

    await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
    await wait_until(pilot, lambda: app.screen.executors_planned, what="home's executor lines")
    await pilot.pause()
    return app.screen
