"""``moot.code_utils`` as AutoGen 0.2 scripts call it."""

from __future__ import annotations

import shutil
import subprocess
from types import SimpleNamespace

import pytest

import moot as autogen
from moot.backends.config import scripted_models
from moot.code_utils import (
    CODE_BLOCK_PATTERN,
    UNKNOWN,
    check_can_use_docker_or_throw,
    content_str,
    create_virtual_env,
    decide_use_docker,
    execute_code,
    extract_code,
    get_powershell_command,
    improve_function,
    in_docker_container,
    infer_lang,
    is_docker_running,
)


def test_extract_code_gives_tags_as_written_and_untagged_blocks_as_empty():
    text = "Plan:\n```python\nprint('a')\n```\nthen\n```\nls -l\n```\n and ``` bash \r\necho hi\r\n```"
    assert extract_code(text) == [("python", "print('a')"), ("", "ls -l"), ("bash", "echo hi")]
    assert extract_code("no code here") == [(UNKNOWN, "no code here")]
    assert extract_code([{"type": "text", "text": "```sh\nls\n```"}]) == [("sh", "ls")]


def test_extract_code_indented_fences_and_a_pattern_of_ones_own():
    assert extract_code("Example:\n   ```python\n   x = 1\n   ```\n") == [("python", "   x = 1")]
    assert extract_code("<code>a</code>", pattern=r"<code>()(.*?)</code>") == [("", "a")]
    assert CODE_BLOCK_PATTERN.startswith("```")


def test_single_line_code_is_found_when_asked():
    line = "Run `source setup.sh` from a terminal"
    assert extract_code(line) == [(UNKNOWN, line)]
    assert extract_code(line, detect_single_line_code=True) == [("", "source setup.sh")]
    assert extract_code("```py\nx = 1\n```", detect_single_line_code=True) == [("py", "x = 1")]


def test_infer_lang():
    assert infer_lang("print('hello')") == "python"
    assert infer_lang("pip install numpy") == "sh"
    assert infer_lang("python3 run.py") == "sh"
    assert infer_lang("print('unbalanced'))") == UNKNOWN
    assert infer_lang("just some words") == UNKNOWN


def test_content_str():
    assert content_str(None) == "" and content_str("text") == "text" and content_str([]) == ""
    assert content_str([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "u"}},
                        {"type": "text", "text": "b"}]) == "a<image>b"
    with pytest.raises(ValueError, match="Wrong content format"):
        content_str([{"type": "audio", "data": "..."}])
    with pytest.raises(TypeError):
        content_str(["a string part"])
    with pytest.raises(TypeError):
        content_str(42)


def test_execute_code_locally_saves_runs_and_reruns_a_file(tmp_path):
    exit_code, output, image = execute_code("print('hello world')", filename="hello.py", work_dir=str(tmp_path),
                                            use_docker=False)
    assert (exit_code, output, image) == (0, "hello world\n", None)
    assert (tmp_path / "hello.py").read_text() == "print('hello world')"
    assert execute_code(filename="hello.py", work_dir=str(tmp_path), use_docker=False) == (0, "hello world\n", None)
    assert execute_code("python hello.py", lang="sh", work_dir=str(tmp_path), use_docker=False)[:2] == (0, "hello world\n")


def test_execute_code_failure_hides_the_work_dir_and_removes_unnamed_files(tmp_path):
    exit_code, output, _ = execute_code("assert 1 == 2", work_dir=str(tmp_path), use_docker=False)
    assert exit_code == 1 and "AssertionError" in output and 'File "' in output
    assert str(tmp_path) not in output
    assert list(tmp_path.iterdir()) == []


def test_execute_code_timeout(tmp_path):
    assert execute_code("import time; time.sleep(30)", timeout=1, work_dir=str(tmp_path), use_docker=False) == (
        1, "Timeout", None)


def test_execute_code_needs_code_or_a_file_and_a_language_it_can_run(tmp_path):
    with pytest.raises(AssertionError, match="give the code to run"):
        execute_code(code=None, filename=None)
    with pytest.raises(NotImplementedError, match="'ruby' code cannot be run here"):
        execute_code("puts 1", lang="ruby", work_dir=str(tmp_path), use_docker=False)


def test_execute_code_keeps_keys_from_the_code(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-seen-by-code-123456")
    output = execute_code("import os; print(os.environ.get('OPENAI_API_KEY'))", work_dir=str(tmp_path), use_docker=False)[1]
    assert output == "None\n"


def test_execute_code_defaults_to_moots_executor_and_respects_autogen_use_docker(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGEN_USE_DOCKER", "0")
    assert execute_code("print(2 + 2)", work_dir=str(tmp_path)) == (0, "4\n", None)


@pytest.mark.parametrize("value, expected", [("1", True), ("True", True), ("yes", True), ("t", True), ("0", False),
                                             ("false", False), ("No", False), ("f", False), ("none", None)])
def test_decide_use_docker_reads_the_variable(monkeypatch, value, expected):
    monkeypatch.setenv("AUTOGEN_USE_DOCKER", value)
    assert decide_use_docker(None) is expected
    assert decide_use_docker(False) is False and decide_use_docker(True) is True


def test_decide_use_docker_defaults_to_true_and_refuses_nonsense(monkeypatch):
    monkeypatch.delenv("AUTOGEN_USE_DOCKER", raising=False)
    assert decide_use_docker(None) is True
    monkeypatch.setenv("AUTOGEN_USE_DOCKER", "maybe")
    with pytest.raises(ValueError, match="AUTOGEN_USE_DOCKER='maybe' is not understood"):
        decide_use_docker(None)


def test_asking_for_docker_without_a_daemon_is_a_runtime_error(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    assert is_docker_running() is False
    check_can_use_docker_or_throw(None)
    check_can_use_docker_or_throw(False)
    if in_docker_container():  # AutoGen's check lets code inside a container through
        check_can_use_docker_or_throw(True)
    else:
        with pytest.raises(RuntimeError, match="no Docker daemon answers"):
            check_can_use_docker_or_throw(True)
    # execute_code never runs Docker-bound code in this process instead
    with pytest.raises(RuntimeError, match=r"execute_code\(use_docker=True\): Docker was asked for, but no Docker daemon answered"):
        execute_code("print(1)", work_dir=str(tmp_path), use_docker=True)
    assert list(tmp_path.iterdir()) == []


def test_create_virtual_env(tmp_path):
    context = create_virtual_env(str(tmp_path / "env"), with_pip=False)
    assert isinstance(context, SimpleNamespace) and context.env_name == "env"
    out = subprocess.run([context.env_exe, "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
                         capture_output=True, text=True)
    assert out.stdout.strip() == "True"


@pytest.mark.skipif(bool(shutil.which("powershell") or shutil.which("pwsh")), reason="PowerShell is installed here")
def test_without_powershell_get_powershell_command_says_so():
    with pytest.raises(FileNotFoundError, match="Neither powershell nor pwsh is installed"):
        get_powershell_command()


def test_improve_function_asks_the_model(tmp_path):
    autogen.use_models(scripted_models({"helper": ["def add(a, b):\n    return a + b"]}, source="test"))
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    return a - b\n")
    improved, cost = improve_function(str(source), "add", "add correctly", config_list=[{"model": "helper"}])
    assert improved == "def add(a, b):\n    return a + b" and cost == 0.0

