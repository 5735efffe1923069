"""``moot.coding`` as an AutoGen 0.2 script uses it: code blocks, the markdown extractor, the
command-line executors on their own and inside a chat."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from moot import AssistantAgent, UserProxyAgent, use_models
from moot.backends.config import scripted_models
from moot.code_utils import create_virtual_env
from moot.coding import (
    CodeBlock,
    CodeExecutor,
    CodeExecutorFactory,
    CommandLineCodeResult,
    DockerCommandLineCodeExecutor,
    LocalCommandLineCodeExecutor,
    MarkdownCodeExtractor,
)
from moot.coding.local_commandline_code_executor import LocalCommandLineCodeExecutor as ByItsModulePath


def run(executor, *blocks: tuple[str, str]) -> CommandLineCodeResult:
    return executor.execute_code_blocks([CodeBlock(code=code, language=lang) for lang, code in blocks])


def test_the_markdown_extractor_keeps_tags_and_infers_untagged_blocks():
    message = ("Run this:\n```python\nprint(1)\n```\nthen\n```bash\necho hi\n```\n"
               "and\n```\nx = 2\n```\nand\n```\nnot python at all (\n```\n")
    blocks = MarkdownCodeExtractor().extract_code_blocks(message)
    assert [(b.language, b.code) for b in blocks] == [("python", "print(1)"), ("bash", "echo hi"), ("python", "x = 2"),
                                                      ("", "not python at all (")]
    assert MarkdownCodeExtractor().extract_code_blocks("no code here") == []
    parts = [{"type": "text", "text": "```sh\nls\n```"}, {"type": "image_url", "image_url": {"url": "x"}}]
    assert MarkdownCodeExtractor().extract_code_blocks(parts) == [CodeBlock(code="ls", language="sh")]


def test_both_executors_are_code_executors():
    assert isinstance(LocalCommandLineCodeExecutor, CodeExecutor)
    assert isinstance(DockerCommandLineCodeExecutor, CodeExecutor)
    assert ByItsModulePath is LocalCommandLineCodeExecutor


def test_python_and_shell_blocks_run_in_order_in_the_work_dir(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    assert isinstance(executor, CodeExecutor) and executor.timeout == 60 and executor.work_dir == tmp_path
    result = run(executor, ("python", "print('hello')\nopen('made.txt', 'w').write('x')"), ("bash", "ls"), ("Python", "print(6*7)"))
    assert result.exit_code == 0
    assert "hello" in result.output and "made.txt" in result.output and "42" in result.output
    assert Path(result.code_file).parent == tmp_path.resolve()
    assert Path(result.code_file).read_text() == "print('hello')\nopen('made.txt', 'w').write('x')"


def test_the_first_failing_block_ends_the_run(tmp_path):
    result = run(LocalCommandLineCodeExecutor(work_dir=tmp_path), ("python", "raise SystemExit(3)"), ("sh", "echo never"))
    assert result.exit_code == 3 and "never" not in result.output
    result = run(LocalCommandLineCodeExecutor(work_dir=tmp_path), ("python", "1/0"))
    assert result.exit_code == 1 and "ZeroDivisionError" in result.output


def test_a_block_past_its_timeout_is_killed_with_exit_code_124(tmp_path):
    result = run(LocalCommandLineCodeExecutor(timeout=1, work_dir=tmp_path), ("python", "import time; time.sleep(30)"))
    assert result.exit_code == 124 and "Timeout" in result.output


def test_a_timeout_below_one_second_and_a_work_dir_without_parent_are_refused(tmp_path):
    with pytest.raises(ValueError, match="Timeout must be greater than or equal to 1"):
        LocalCommandLineCodeExecutor(timeout=0, work_dir=tmp_path)
    with pytest.raises(FileNotFoundError):
        LocalCommandLineCodeExecutor(work_dir=tmp_path / "no" / "such")


def test_a_filename_comment_names_the_saved_file(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    result = run(executor, ("python", "# filename: app/main.py\nprint('from main')"))
    assert result.exit_code == 0 and "from main" in result.output
    assert Path(result.code_file) == (tmp_path / "app" / "main.py").resolve()
    result = run(executor, ("python", "# solve.py\nprint(1)"))
    assert Path(result.code_file).name == "solve.py"
    result = run(executor, ("python", "# compute the answer\nprint(1)"))  # a comment, not a file name
    assert Path(result.code_file).name.startswith("tmp_code_")


@pytest.mark.parametrize("name", ["/tmp/elsewhere.py", "../outside.py"])
def test_a_filename_outside_the_work_dir_fails_the_run(tmp_path, name):
    (tmp_path / "w").mkdir()
    result = run(LocalCommandLineCodeExecutor(work_dir=tmp_path / "w"), ("python", f"# filename: {name}\nprint(1)"))
    assert result.exit_code == 1 and result.output == "Filename is not in the workspace"
    assert not (tmp_path / "outside.py").exists()


def test_languages_that_are_not_run_are_saved(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    result = run(executor, ("javascript", "// filename: app.js\nconsole.log('hi')"), ("html", "<!-- page.html -->\n<p>hi</p>"),
                 ("css", "/* filename: site.css */\np {}"))
    assert result.exit_code == 0 and "hi" not in result.output.replace("Code saved", "")
    assert (tmp_path / "app.js").read_text().endswith("console.log('hi')")
    assert (tmp_path / "page.html").exists() and (tmp_path / "site.css").exists()
    assert result.output.count("Code saved to ") == 3


def test_an_execution_policy_can_make_python_save_only(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, execution_policies={"python": False})
    assert executor.execution_policies["bash"] is True and executor.execution_policies["python"] is False
    result = run(executor, ("python", "# filename: x.py\nprint('ran')"))
    assert result.exit_code == 0 and "ran" not in result.output.replace(str(tmp_path), "")
    assert (tmp_path / "x.py").exists()


def test_an_unknown_language_fails_the_run(tmp_path):
    result = run(LocalCommandLineCodeExecutor(work_dir=tmp_path), ("cobol", "DISPLAY 'HI'."))
    assert result.exit_code == 1 and "unknown language cobol" in result.output


@pytest.mark.parametrize("code, why", [
    ("rm -rf /", "Use of 'rm -rf' command is not allowed."),
    ("mv notes.txt /dev/null", "Moving files to /dev/null is not allowed."),
    ("dd if=/dev/zero of=/dev/sda", "Use of 'dd' command is not allowed."),
    ("echo x > /dev/sda", "Overwriting disk blocks directly is not allowed."),
    (":(){ :|:& };:", "Fork bombs are not allowed."),
])
def test_destructive_shell_commands_are_refused_before_running(tmp_path, code, why):
    with pytest.raises(ValueError, match=f"Potentially dangerous command detected: {why}"):
        run(LocalCommandLineCodeExecutor(work_dir=tmp_path), ("bash", code))
    LocalCommandLineCodeExecutor.sanitize_command("python", code)  # only shell blocks are checked


def test_pip_install_lines_are_made_quiet(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    result = run(executor, ("sh", "# filename: install.sh\npip install --no-index nothing-by-this-name || true"))
    assert Path(result.code_file).read_text().splitlines()[1].startswith("pip install -qqq --no-index")


def test_the_code_sees_no_api_key(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-reach-code-123456")
    result = run(LocalCommandLineCodeExecutor(work_dir=tmp_path), ("python", "import os; print(os.environ.get('OPENAI_API_KEY'))"))
    assert result.output.strip() == "None"


def test_a_virtual_env_runs_python_and_comes_first_on_path(tmp_path):
    context = create_virtual_env(str(tmp_path / "venv"), with_pip=False)
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, virtual_env_context=context)
    result = run(executor, ("python", "import sys; print(sys.prefix != sys.base_prefix)"), ("sh", "command -v python"))
    assert result.exit_code == 0
    first, second = result.output.split()
    assert first == "True" and Path(second).parent.samefile(context.bin_path)


def test_restart_warns_that_it_does_nothing(tmp_path):
    with pytest.warns(UserWarning, match="No action is taken."):
        LocalCommandLineCodeExecutor(work_dir=tmp_path).restart()


def test_the_factory_returns_an_executor_object_or_makes_a_local_one(tmp_path):
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    assert CodeExecutorFactory.create({"executor": executor}) is executor
    made = CodeExecutorFactory.create({"executor": "commandline-local", "commandline-local": {"work_dir": tmp_path, "timeout": 5}})
    assert isinstance(made, LocalCommandLineCodeExecutor) and made.timeout == 5
    with pytest.raises(ValueError, match="Unknown code executor 'ipython-embedded'"):
        CodeExecutorFactory.create({"executor": "ipython-embedded"})


def test_an_agent_given_the_executor_runs_its_code_blocks_there(tmp_path):
    use_models(scripted_models({"coder": ["```python\n# filename: answer.py\nprint(6 * 7)\n```", "TERMINATE"]},
                               source="test"))
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config={"executor": executor},
                          is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""))
    result = user.initiate_chat(AssistantAgent("coder", llm_config="coder"), message="6 times 7?", max_turns=3,
                                silent=True)
    assert result.chat_history[2]["content"].startswith("exitcode: 0 (execution succeeded)\nCode output: 42")
    assert (tmp_path / "answer.py").read_text() == "# filename: answer.py\nprint(6 * 7)\n"


def test_an_agent_with_a_save_only_policy_saves_its_code_blocks(tmp_path):
    use_models(scripted_models({"coder": ["```python\n# filename: later.py\nprint('ran')\n```", "TERMINATE"]},
                               source="test"))
    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path, execution_policies={"python": False})
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config={"executor": executor},
                          is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""))
    result = user.initiate_chat(AssistantAgent("coder", llm_config="coder"), message="go", max_turns=2, silent=True)
    assert "Code saved to" in result.chat_history[2]["content"] and "ran" not in result.chat_history[2]["content"].split("Code saved")[0]
    assert (tmp_path / "later.py").exists()


def test_without_docker_the_docker_executor_says_so(monkeypatch, tmp_path):
    from moot.executors import ExecutorUnavailable

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(ExecutorUnavailable):
        DockerCommandLineCodeExecutor(work_dir=tmp_path)


def test_relative_work_dir_is_kept_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    executor = LocalCommandLineCodeExecutor(work_dir="sub")
    assert str(executor.work_dir) == "sub" and os.path.isdir(tmp_path / "sub")
    result = run(executor, ("python", "import os; print(os.getcwd())"))
    assert result.output.strip() == str((tmp_path / "sub").resolve())
