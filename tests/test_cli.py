"""The moot command line, run as a user runs it: a real process, its exit code and its output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

SECRET = "sk-moot-test-0123456789-never-print-me"


def moot(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120):
    return subprocess.run(
        [sys.executable, "-m", "moot", *args],
        cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout,
    )


def test_version_and_help():
    assert moot("--version").stdout.startswith("moot ")
    result = moot("--help")
    assert result.returncode == 0 and "models" in result.stdout and "--models FILE" in result.stdout


def test_models_list_says_where_the_config_came_from(tmp_path):
    conf = tmp_path / "m.toml"
    conf.write_text('schema_version = 1\n[[models]]\nname = "s"\nbackend = "scripted"\nreplies = ["x"]\n'
                    '[[models]]\nname = "k"\nbackend = "openai"\nmodel = "gpt"\napi_key_env = "MOOT_UNSET_KEY"\n')
    result = moot("--models", str(conf), "models", "list", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    assert str(conf) in result.stdout and "(--models)" in result.stdout
    assert "scripted" in result.stdout and "ready" in result.stdout
    assert "MOOT_UNSET_KEY is not set" in result.stdout


def test_models_check_runs_a_tiny_completion_on_the_bundled_model(tmp_path):
    result = moot("models", "check", "smollm2", cwd=tmp_path)  # no ./models.toml: the packaged default
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok    smollm2:" in result.stdout and "tok/s" in result.stdout and "first token" in result.stdout


def test_models_check_failure_says_why_and_exits_non_zero(tmp_path):
    port = free_port()
    conf = tmp_path / "m.toml"
    conf.write_text(f'schema_version = 1\n[[models]]\nname = "down"\nbackend = "openai"\nmodel = "x"\n'
                    f'base_url = "http://127.0.0.1:{port}"\ntimeout_s = 5\n')
    result = moot("--models", str(conf), "models", "check")
    assert result.returncode == 1
    assert "fail  down:" in result.stdout and f"127.0.0.1:{port}" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_config_errors_are_listed_without_a_traceback(tmp_path):
    conf = tmp_path / "m.toml"
    conf.write_text('schema_version = 1\n[[models]]\nname = "a"\nbackend = "nope"\ncolour = 1\n')
    result = moot("--models", str(conf), "models", "list")
    assert result.returncode == 2
    assert "configuration error" in result.stderr
    assert f"{conf}: [[models]] entry 1 ('a'): field 'backend'" in result.stderr
    assert f"{conf}: [[models]] entry 1 ('a'): unknown field 'colour'" in result.stderr
    assert "Traceback" not in result.stderr


def test_ask_streams_a_reply_from_a_scripted_model(tmp_path):
    conf = tmp_path / "m.toml"
    conf.write_text('schema_version = 1\n[[models]]\nname = "s"\nbackend = "scripted"\nreplies = ["Hello from the script."]\n')
    result = moot("--models", str(conf), "ask", "hi")
    assert result.returncode == 0
    assert result.stdout.strip() == "Hello from the script."  # stdout carries only the reply
    assert "s · " in result.stderr


@pytest.mark.parametrize("command", [("models", "check"), ("ask", "hi"), ("models", "list")])
def test_a_key_is_never_printed(tmp_path, command):
    """A set key, a failing call: the key appears nowhere in what moot prints."""
    port = free_port()
    conf = tmp_path / "m.toml"
    conf.write_text(f'schema_version = 1\n[[models]]\nname = "remote"\nbackend = "openai"\nmodel = "x"\n'
                    f'base_url = "http://127.0.0.1:{port}"\napi_key_env = "MOOT_TEST_SECRET"\ntimeout_s = 5\n')
    result = moot("--models", str(conf), *command, env={"MOOT_TEST_SECRET": SECRET})
    assert SECRET not in result.stdout + result.stderr
    assert SECRET[:12] not in result.stdout + result.stderr
