"""The moot command line, run as a user runs it: a real process, its exit code and its output."""

from __future__ import annotations

import json
import os
import re
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


SHIPPED_TEAMS = ("coder", "demo", "planner-coder-reviewer", "research-writer-editor")
NO_TTY_FORCING = {"FORCE_COLOR": "", "TTY_COMPATIBLE": "", "COLUMNS": "40"}  # a narrow pipe: Rich would fold


def test_teams_piped_keeps_every_name_whole_on_its_line(tmp_path):
    (tmp_path / "teams").mkdir()
    broken = tmp_path / "teams" / "a-team-whose-file-does-not-load.toml"
    broken.write_text('schema_version = 1\n[[members]]\nname = "solo"\ncolour = "red"\n')
    result = moot("teams", cwd=tmp_path, env=NO_TTY_FORCING)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert not any(ch in result.stdout for ch in "│┃…"), result.stdout  # no box, nothing cut short
    for name in SHIPPED_TEAMS:
        line = next((ln for ln in lines if ln.startswith(name + " ")), None)
        assert line is not None, f"{name} has no line of its own:\n{result.stdout}"
        assert line.rstrip().endswith(f"teams/{name}.toml")  # the whole path, on the same line
    row = re.split(r"\s{2,}", next(ln for ln in lines if ln.startswith("planner-coder-reviewer ")))
    assert row[:3] == ["planner-coder-reviewer", "user, planner, coder, reviewer", "group (auto)"]
    line = next(ln for ln in lines if ln.startswith("a-team-whose-file-does-not-load "))
    assert "unknown field 'colour'" in line and line.endswith(str(broken))


def test_teams_json_has_the_documented_fields(tmp_path):
    (tmp_path / "teams").mkdir()
    broken = tmp_path / "teams" / "broken.toml"
    broken.write_text('schema_version = 1\n[[members]]\nname = "solo"\ncolour = "red"\n')
    result = moot("teams", "--json", cwd=tmp_path, env=NO_TTY_FORCING)
    assert result.returncode == 0, result.stderr
    teams = {t["name"]: t for t in json.loads(result.stdout)["teams"]}
    assert set(SHIPPED_TEAMS) <= set(teams)
    for t in teams.values():
        assert set(t) == {"name", "file", "description", "members", "chat", "speaker_selection", "error", "warnings"}
    demo = teams["demo"]
    assert demo["chat"] == "two_agents" and demo["speaker_selection"] is None and demo["error"] is None
    assert demo["members"] == [{"name": "executor", "role": "user_proxy", "model": None},
                               {"name": "coder", "role": "assistant", "model": "demo"}]
    assert Path(demo["file"]).name == "demo.toml" and "scripted" in demo["description"]
    pcr = teams["planner-coder-reviewer"]
    assert pcr["chat"] == "group" and pcr["speaker_selection"] == "auto"
    assert [m["name"] for m in pcr["members"]] == ["user", "planner", "coder", "reviewer"]
    assert teams["broken"]["file"] == str(broken) and "unknown field 'colour'" in teams["broken"]["error"]
    assert teams["broken"]["members"] == [] and teams["broken"]["chat"] is None


def test_models_list_json_and_piped_rows(tmp_path):
    conf = tmp_path / "m.toml"
    conf.write_text('schema_version = 1\ndefault = "a-scripted-model-with-a-long-name"\n'
                    '[[models]]\nname = "a-scripted-model-with-a-long-name"\nbackend = "scripted"\nreplies = ["x"]\n'
                    '[[models]]\nname = "k"\nbackend = "openai"\nmodel = "gpt-4o-mini"\napi_key_env = "MOOT_UNSET_KEY"\n'
                    '[[models]]\nname = "local"\nbackend = "llama_cpp"\nmodel_path = "no-such-file.gguf"\n')
    result = moot("--models", str(conf), "models", "list", "--json", env={**NO_TTY_FORCING, "MOOT_UNSET_KEY": ""})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["source"] == str(conf) and data["found_by"] == "--models"
    assert data["default"] == "a-scripted-model-with-a-long-name"
    models = {m["name"]: m for m in data["models"]}
    assert list(models) == ["a-scripted-model-with-a-long-name", "k", "local"]
    for m in models.values():
        assert set(m) == {"name", "backend", "model", "model_path", "default", "capabilities", "window",
                          "window_from", "status", "reason"}
    s = models["a-scripted-model-with-a-long-name"]
    assert s["backend"] == "scripted" and s["default"] is True and s["status"] == "ready" and s["reason"] is None
    assert "streaming" in s["capabilities"]
    k = models["k"]
    assert k["model"] == "gpt-4o-mini" and k["default"] is False and k["status"] == "unavailable"
    assert "MOOT_UNSET_KEY is not set" in k["reason"]
    local = models["local"]
    assert local["model_path"] == "no-such-file.gguf" and local["model"] is None
    assert local["status"] == "unavailable" and "no such file" in local["reason"]

    piped = moot("--models", str(conf), "models", "list", env={**NO_TTY_FORCING, "MOOT_UNSET_KEY": ""})
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.splitlines()
    assert lines[0] == f"models from {conf} (--models)"
    row = next(ln for ln in lines if ln.startswith("a-scripted-model-with-a-long-name (default) "))
    assert row.split()[-1] == "ready"
    row = next(ln for ln in lines if ln.startswith("k "))
    assert "gpt-4o-mini" in row and row.endswith("the environment variable MOOT_UNSET_KEY is not set")
