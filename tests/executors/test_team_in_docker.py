"""A team's code runs in the private Docker daemon end to end (`moot run` as a process), and a
missing daemon stops the run plainly instead of running the code on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MODELS = """
schema_version = 1
[[models]]
name = "coderbot"
backend = "scripted"
replies = [
  "```python\\nimport os, socket\\nprint('uid', os.getuid())\\nprint(6 * 7)\\n```",
  "It printed 42. DONE",
]
"""
TEAM = """
schema_version = 1
[[members]]
name = "runner"
role = "user_proxy"
human_input_mode = "NEVER"
[members.code_execution]
executor = "docker"
timeout = 20
work_dir = "work"
[[members]]
name = "coder"
model = "coderbot"
[chat]
max_turns = 3
[termination]
text = "DONE"
"""


def run(tmp_path: Path, docker_host: str):
    (tmp_path / "models.toml").write_text(MODELS)
    (tmp_path / "team.toml").write_text(TEAM)
    return subprocess.run([sys.executable, "-m", "moot", "run", "team.toml", "--task", "six times seven"],
                          cwd=tmp_path, env={**os.environ, "DOCKER_HOST": docker_host}, capture_output=True,
                          text=True, timeout=180, stdin=subprocess.DEVNULL)


def test_a_team_runs_its_code_in_the_sandbox(tmp_path, private_docker, docker_containers):
    result = run(tmp_path, private_docker.host)
    assert result.returncode == 0, result.stderr
    assert "\n42\n" in result.stdout and "exitcode: 0 (execution succeeded)" in result.stdout
    assert "uid 65534" in result.stdout or f"uid {os.getuid()}" in result.stdout
    assert "uid 0\n" not in result.stdout  # never root inside the container
    assert "[TextMention]" in result.stderr


def test_no_daemon_stops_the_run_and_runs_nothing_locally(tmp_path):
    result = run(tmp_path, f"unix://{tmp_path}/no-docker.sock")
    assert result.returncode == 1
    assert "[executor_unavailable]" in result.stderr
    assert "no Docker daemon answered" in result.stderr
    assert "\n42\n" not in result.stdout  # the code did not run anywhere


def moot(tmp_path: Path, docker_host: str, *args: str):
    return subprocess.run([sys.executable, "-m", "moot", *args], cwd=tmp_path,
                          env={**os.environ, "DOCKER_HOST": docker_host}, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)


def test_docker_down_fails_resumably_and_the_chat_finishes_once_it_answers(tmp_path, private_docker,
                                                                          docker_containers):
    """Docker asked for and not answering: the run's outcome is failed and the session resumable;
    with the daemon up, `moot sessions resume` goes on in the same chat and finishes it."""
    down = run(tmp_path, f"unix://{tmp_path}/no-docker.sock")
    assert down.returncode == 1 and "[executor_unavailable]" in down.stderr
    listed = json.loads(moot(tmp_path, private_docker.host, "sessions", "list", "--json").stdout)["sessions"]
    assert len(listed) == 1
    session = listed[0]
    assert session["outcome"] == "failed" and session["status"] == "failed" and session["resumable"] is True
    assert session["messages"] == 1  # the task only: it stopped before the first model call

    resumed = moot(tmp_path, private_docker.host, "sessions", "resume", session["id"])
    assert resumed.returncode == 0, resumed.stderr
    assert "\n42\n" in resumed.stdout and "[TextMention]" in resumed.stderr
    shown = json.loads(moot(tmp_path, private_docker.host, "sessions", "show", session["id"], "--json").stdout)
    assert shown["session"]["outcome"] == "completed" and shown["session"]["resumable"] is False
    messages = shown["messages"]
    assert [m["sender"] for m in messages] == ["runner", "coder", "runner", "coder"]
    assert len({m["chat_id"] for m in messages}) == 1  # one root chat across both runs
    assert "exitcode: 0" in messages[2]["content"] and messages[3]["content"] == "It printed 42. DONE"
    again = moot(tmp_path, private_docker.host, "sessions", "resume", session["id"])
    assert again.returncode == 1 and "nothing to resume" in again.stderr
