"""A team's code runs in the private Docker daemon end to end (`moot run` as a process), and a
missing daemon stops the run plainly instead of running the code on this machine."""

from __future__ import annotations

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
