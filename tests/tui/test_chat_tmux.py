"""The chat screen as a person drives it, in tmux (the real ``moot``, a scripted model so it is quick):
a bracketed paste of four lines is kept whole, Ctrl+J starts a line, Up recalls, Ctrl+G writes the
message in $EDITOR, F3 leaves a streaming chat running and Home takes you back."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TWO_AGENT_TEAM
from test_tmux import Tmux

MOOT = Path(sys.executable).with_name("moot")
MODELS = """schema_version = 1
default = "coder-model"
[[models]]
name = "coder-model"
backend = "scripted"
replies = ["{reply}", "Done. TERMINATE"]
options = {{ chunk_delay_s = 0.05, chunk_size = 2 }}
"""
EDITOR = """#!/bin/sh
printf 'written in the editor\\nsecond line\\n' > "$1"
"""


@pytest.fixture
def tmux(tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed (make test installs it)")
    reply = " ".join(f"word{i}" for i in range(300))
    (tmp_path / "models.toml").write_text(MODELS.format(reply=reply))
    (tmp_path / "teams" / "coder.toml").write_text(TWO_AGENT_TEAM.format(name="coder", human="NEVER", model="coder-model",
                                                                        max_turns=3))
    editor = tmp_path / "editor.sh"
    editor.write_text(EDITOR)
    editor.chmod(0o755)
    env = {"MOOT_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color",
           "PATH": os.environ.get("PATH", ""), "MOOT_MODELS": str(tmp_path / "models.toml"), "EDITOR": str(editor)}
    t = Tmux(f"moot-chat-{os.getpid()}", tmp_path, env)
    yield t
    t.kill()


def paste(tmux: Tmux, text: str) -> None:
    subprocess.run(["tmux", "set-buffer", "-b", "moot-test", text], check=True)
    subprocess.run(["tmux", "paste-buffer", "-p", "-d", "-b", "moot-test", "-t", tmux.name], check=True)


def test_paste_keys_editor_and_leaving_a_running_chat(tmux):
    tmux.start("--team coder")
    tmux.wait_for(lambda s: "moot · coder" in s and "Describe the task" in s, 30, "the chat screen")
    paste(tmux, "Write a script that:\n- reads numbers.txt\n- sums them\n- prints the total")
    screen = tmux.wait_for(lambda s: "- prints the total" in s, 10, "the pasted lines in the input bar")
    assert "- reads numbers.txt" in screen and "- sums them" in screen
    tmux.keys("C-j")
    tmux.keys("-l", "and says so")
    tmux.wait_for(lambda s: "and says so" in s, 10, "the line after Ctrl+J")
    tmux.keys("Enter")
    # the task went whole as the first turn; the coder streams
    streaming = tmux.wait_for(lambda s: "word20" in s, 30, "the coder streaming")
    assert "Write a script that:" in streaming and "• prints the total" in streaming and "and says so" in streaming
    # F3 while it streams: Home marks it running; Enter takes us back, the run went on meanwhile
    tmux.keys("F3")
    home = tmux.wait_for(lambda s: "Recent sessions" in s, 20, "home")
    assert "running" in home and "NoMatches" not in home
    time.sleep(2)
    tmux.keys("Enter")
    back = tmux.wait_for(lambda s: "moot · coder" in s, 20, "the chat again")
    assert "NoMatches" not in back
    tmux.wait_for(lambda s: "■ stopped" in s, 60, "the run to end (it went on)")
    # Up recalls the task; Ctrl+G replaces the draft with what the editor wrote
    tmux.keys("Up")
    tmux.wait_for(lambda s: "- prints the total" in s.split("■ stopped")[-1], 10, "the task recalled in the input bar")
    tmux.keys("C-g")
    tmux.wait_for(lambda s: "written in the editor" in s and "second line" in s, 20, "the editor's text in the bar")
    tmux.keys("C-q")
    deadline = time.monotonic() + 20
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not tmux.alive(), "moot did not quit on Ctrl+Q"


def test_quitting_a_running_chat_asks(tmux):
    tmux.start(f"--team coder --task {shlex.quote('talk')}")
    tmux.wait_for(lambda s: "word10" in s, 30, "the coder streaming")
    tmux.keys("C-q")
    tmux.wait_for(lambda s: "still running" in s, 10, "the quit question")
    tmux.keys("n")
    time.sleep(1)
    assert tmux.alive()
    tmux.keys("C-q")
    tmux.wait_for(lambda s: "still running" in s, 10, "the quit question")
    tmux.keys("y")
    deadline = time.monotonic() + 20
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not tmux.alive(), "moot did not quit after yes"
