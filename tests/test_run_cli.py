"""`moot run TEAM --task TEXT`, run as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port


def moot(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180):
    return subprocess.run([sys.executable, "-m", "moot", *args], cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def write_models(folder: Path, extra: str = "") -> Path:
    path = folder / "models.toml"
    path.write_text(f"""
schema_version = 1
default = "coderbot"
[[models]]
name = "coderbot"
backend = "scripted"
replies = [
  "Let me compute it.\\n\\n```python\\nprint(6 * 7)\\n```",
  "The answer is 42. DONE",
]
{extra}
""")
    return path


TEAM = """
schema_version = 1
[[members]]
name = "runner"
role = "user_proxy"
human_input_mode = "NEVER"
[members.code_execution]
executor = "local"
timeout = 10
work_dir = "work"
[[members]]
name = "coder"
model = "{model}"
[chat]
max_turns = 4
[termination]
text = "DONE"
"""


def test_run_streams_the_chat_to_stdout_and_the_rest_to_stderr(tmp_path):
    write_models(tmp_path)
    (tmp_path / "team.toml").write_text(TEAM.format(model="coderbot"))
    result = moot("run", "team.toml", "--task", "What is six times seven?", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # Each turn under its speaker's name, in order; executor output set apart.
    assert out.index(" runner ") < out.index("What is six times seven?") < out.index("\n coder ") < out.index("print(6 * 7)")
    assert "executor: running python" in out and "\n42\n" in out and "exit 0" in out
    assert "exitcode: 0 (execution succeeded)" in out
    assert "The answer is 42. DONE" in out
    # The stop reason and usage go to stderr, never into the chat on stdout.
    assert "stopped:" in result.stderr and "[TextMention]" in result.stderr
    assert "usage: coderbot:" in result.stderr
    assert "stopped:" not in out and "usage:" not in out
    assert (tmp_path / "work").is_dir()


def test_config_errors_exit_2_before_anything_runs(tmp_path):
    write_models(tmp_path)
    (tmp_path / "team.toml").write_text(TEAM.format(model="ghost"))
    result = moot("run", "team.toml", "--task", "x", cwd=tmp_path)
    assert result.returncode == 2
    assert "field 'model': no model named 'ghost'" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_model_missing_its_key_is_a_config_error(tmp_path):
    write_models(tmp_path, '[[models]]\nname = "remote"\nbackend = "openai"\nmodel = "m"\napi_key_env = "MOOT_NO_SUCH_KEY"\n')
    (tmp_path / "team.toml").write_text(TEAM.format(model="remote"))
    result = moot("run", "team.toml", "--task", "x", cwd=tmp_path, env={"MOOT_NO_SUCH_KEY": ""})
    assert result.returncode == 2
    assert "MOOT_NO_SUCH_KEY is not set" in result.stderr


def test_an_unavailable_backend_exits_1_with_a_clear_message(tmp_path):
    port = free_port()
    write_models(tmp_path, f'[[models]]\nname = "down"\nbackend = "openai"\nmodel = "m"\n'
                           f'base_url = "http://127.0.0.1:{port}"\ntimeout_s = 5\n')
    (tmp_path / "team.toml").write_text(TEAM.format(model="down"))
    result = moot("run", "team.toml", "--task", "x", cwd=tmp_path)
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert "[backend_error]" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_cleanly(tmp_path):
    write_models(tmp_path, '[[models]]\nname = "slow"\nbackend = "scripted"\nreplies = ["' + "word " * 400 + '"]\n'
                           'options = { chunk_delay_s = 0.02, chunk_size = 4 }\n')
    (tmp_path / "team.toml").write_text(TEAM.format(model="slow"))
    proc = subprocess.Popen([sys.executable, "-m", "moot", "run", "team.toml", "--task", "talk"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    seen = ""
    while "word word" not in seen and time.monotonic() < deadline:
        seen += proc.stdout.read(1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "cancelled; resume it with `moot sessions resume" in err
    assert "Traceback" not in err
    listed = moot("sessions", "list", "--json", cwd=tmp_path)
    session = json.loads(listed.stdout)["sessions"][0]
    assert session["outcome"] == "cancelled" and session["resumable"] is True and session["status"] == "stopped"


def test_unknown_team_lists_the_known_ones(tmp_path):
    result = moot("run", "no-such-team", "--task", "x", cwd=tmp_path)
    assert result.returncode == 2
    assert "no team named 'no-such-team'" in result.stderr and "coder" in result.stderr


@pytest.mark.model
def test_the_coder_team_on_the_bundled_model_ends_with_a_stop_reason(tmp_path):
    """The real coder + executor team on SmolLM2 (the local executor: the Docker path is covered by
    tests/executors). The tiny model rarely solves the task: what must hold is a clean run. Replies
    are capped at 160 tokens to keep the test short."""
    (tmp_path / "models.toml").write_text('schema_version = 1\n[[models]]\nname = "smollm2"\nbackend = "llama_cpp"\n'
                                          'model_path = "bundled:smollm2"\nmax_output_tokens = 160\n')
    result = moot("run", "coder", "--executor", "local", "--task", "Print the sum of 2 and 3.", cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "stopped:" in result.stderr
    assert "coder" in result.stdout and "executor" in result.stdout
    assert "usage: smollm2:" in result.stderr


def test_run_shows_the_context_meter_compactions_and_reasoning_apart(tmp_path):
    """A scripted model whose replies think first (``<think>``, split off by the backend) in a
    600-token window: each model turn shows ``ctx N/600``, the compactions are notices on stderr,
    and the reasoning is shown but never part of the message the other agent gets."""
    replies = ", ".join(f'"<think>planning step {i}</think>answer {i}: ' + "a long explanation " * 12 + '"'
                        for i in range(12))
    (tmp_path / "models.toml").write_text(f"""
schema_version = 1
default = "bot"
[[models]]
name = "bot"
backend = "scripted"
context_length = 600
max_output_tokens = 48
replies = [{replies}]
""")
    (tmp_path / "team.toml").write_text("""
schema_version = 1
[[members]]
name = "user"
role = "user_proxy"
model = false
human_input_mode = "NEVER"
max_consecutive_auto_reply = 20
default_auto_reply = "go on, with more details please"
[[members]]
name = "bot"
model = "bot"
[chat]
max_turns = 10
[termination]
stall = false
""")
    result = moot("run", "team.toml", "--task", "Explain tides.", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out, err = result.stdout, result.stderr
    assert "ctx " in out and "/600" in out
    assert "[compacted] bot: context: bot's prompt compacted by sliding window" in err
    assert "context: bot ctx " in err
    assert "(thinking) planning step 0" in out
    assert "<think>" not in out and "answer 0: a long" in out
    # What the user agent got (the message) holds no reasoning: its reply quotes none of it.
    assert out.count("planning step 0") == 1
