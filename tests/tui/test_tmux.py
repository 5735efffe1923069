"""As a person would: the real ``moot`` in tmux with the bundled model (SmolLM2 through llama.cpp).

Launch straight into the coder team on a small task (local executor, so each code block is
approved in the modal first), see the executor pane fill, stop, quit; launch ``moot`` again and
resume the session from the home screen's list. Slow (a real model on 2 shared cores).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.model, pytest.mark.timeout(1500)]

MOOT = Path(sys.executable).with_name("moot")
MODELS = """schema_version = 1
default = "smollm2"
[[models]]
name = "smollm2"
backend = "llama_cpp"
model_path = "bundled:smollm2"
context_length = 4096
max_output_tokens = 200   # a short script fits; keeps each turn quick on a loaded machine
temperature = 0.2
"""
TASK = "Write a Python script that prints the sum of the numbers from 1 to 10."


class Tmux:
    def __init__(self, name: str, cwd: Path, env: dict[str, str]):
        self.name, self.cwd, self.env = name, cwd, env

    def start(self, args: str) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        # COLUMNS/LINES from the test's own environment would pin the app to 80x24.
        command = (f"cd {shlex.quote(str(self.cwd))} && env -u COLUMNS -u LINES {exports} "
                   f"{shlex.quote(str(MOOT))} {args}")
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "160", "-y", "48", command], check=True)

    def screen(self) -> str:
        out = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True)
        return out.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.name], capture_output=True).returncode == 0

    def wait_for(self, predicate, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if predicate(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{text}")
            time.sleep(0.5)

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def tmux(tmp_path, bundled_model_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (make test installs it)")
    (tmp_path / "models.toml").write_text(MODELS)
    env = {"MOOT_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color",
           "PATH": os.environ.get("PATH", "")}
    t = Tmux(f"moot-test-{os.getpid()}", tmp_path, env)
    yield t
    t.kill()


def test_coder_team_runs_code_then_the_session_resumes(tmux):
    tmux.start(f"--team coder --executor local --task {shlex.quote(TASK)}")
    tmux.wait_for(lambda s: "moot · coder" in s, 30, "the chat screen")

    # Approve code blocks as they come (Ctrl+R: a deliberate key; Enter approves nothing) until one has run.
    def ran(s: str) -> bool:  # an entry's footer: "✓ exit 0 · 0.12 s" or "✗ exit 1 · ..."
        return "No code has run yet." not in s and ("✓ exit" in s or "✗ exit" in s)

    deadline = time.monotonic() + 900
    while True:
        screen = tmux.screen()
        if ran(screen):
            break
        if "Run this code?" in screen:
            tmux.keys("C-r")
            time.sleep(1)
            continue
        if "■ stopped" in screen:
            raise AssertionError(f"the chat stopped before any code ran:\n{screen}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no code ran within 15 minutes:\n{screen}")
        time.sleep(1)
    # the executor pane shows the run: its code, its output and how it ended
    assert "python · executor" in screen or "✓ exit" in screen or "✗ exit" in screen

    # Stop: it asks first. The model may have written the next block already; its approval is a
    # modal (app keys wait under it), so that one is skipped (Esc) first.
    deadline = time.monotonic() + 120
    while "Stop the run of coder?" not in tmux.screen():
        if "Run this code?" in tmux.screen():
            tmux.keys("Escape")
            time.sleep(1)
        tmux.keys("C-x")
        time.sleep(2)
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for the stop to ask; the screen:\n{tmux.screen()}")
    tmux.keys("y")
    stopped = tmux.wait_for(lambda s: "■ stopped" in s, 120, "the stop")
    assert "stopped by the user (Stop)" in stopped or "■ stopped:" in stopped
    tmux.keys("C-q")
    deadline = time.monotonic() + 20
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not tmux.alive(), "moot did not quit on Ctrl+Q"

    # Relaunch: the session is in the list; resume it
    tmux.start("")
    home = tmux.wait_for(lambda s: "Recent sessions" in s and "Write a Python script" in s, 60, "home with the session")
    assert "coder" in home
    tmux.keys("Tab")
    time.sleep(0.5)
    tmux.keys("r")
    resumed = tmux.wait_for(lambda s: "resumed" in s.lower() and ("✓ exit" in s or "✗ exit" in s), 60,
                            "the resumed session with its executor pane")
    # The resumed chat holds the task (it may have scrolled out of sight: search for it).
    if "Write a Python script that prints the sum" not in resumed:
        tmux.keys("C-f")
        time.sleep(0.5)
        tmux.keys("-l", "Write a Python script")
        tmux.wait_for(lambda s: re.search(r"\b1/\d+\b", s) is not None, 30, "the task found in the resumed chat")
    tmux.keys("C-q")
