"""AutoGen 0.2 notebook-style scripts (tests/compat/ports/) ported by sed, changing only their
import lines, and run as scripts: on scripted models, and the code loop on the bundled model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from moot.backends.config import models_document, toml_document
from moot.memory.memos import MemoStore

PORTS = Path(__file__).with_name("ports")
# The whole port: `import autogen` -> `import moot as autogen`, `from autogen.x import` -> `from moot.x import`.
SED = ["sed", "-E", "-e", r"s/^import autogen$/import moot as autogen/",
       "-e", r"s/^from autogen(\.[A-Za-z_.]+)? import/from moot\1 import/"]


def port(name: str, into: Path) -> Path:
    text = subprocess.run([*SED, str(PORTS / name)], capture_output=True, text=True, check=True).stdout
    assert not re.search(r"^(import|from) autogen", text, re.M)
    changed = [a for a, b in zip((PORTS / name).read_text().splitlines(), text.splitlines()) if a != b]
    assert changed and all(line.startswith(("import autogen", "from autogen")) for line in changed)
    path = into / name
    path.write_text(text)
    return path


def run(script: Path, config_list: list[dict], models: dict | None, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OAI_CONFIG_LIST": json.dumps(config_list), "NO_COLOR": "1"}
    if models is not None:
        models_file = tmp_path / "models.toml"
        models_file.write_text(toml_document(models_document(models)))
        env["MOOT_MODELS"] = str(models_file)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def printed(done: subprocess.CompletedProcess, label: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if line.startswith(label + ":"))


FIB = "```python\n# filename: fib.py\na, b = 0, 1\nfor _ in range(10):\n    a, b = b, a + b\nprint(a)\n```"


def test_the_code_loop_runs_its_code_with_the_local_executor(tmp_path):
    script = port("code_loop.py", tmp_path)
    done = run(script, [{"model": "coder", "tags": ["coding"]}, {"model": "other", "tags": ["chat"]}],
               {"coder": [FIB, "The 10th Fibonacci number is 55. TERMINATE"], "other": ["never asked"]}, tmp_path)
    assert printed(done, "TURNS") == "4"
    assert "Code output: 55" in printed(done, "EXECUTION")
    work_dir = Path(printed(done, "WORK_DIR"))
    assert (work_dir / "fib.py").read_text().startswith("# filename: fib.py")


def test_the_review_group_follows_its_transition_graph(tmp_path):
    script = port("review_group.py", tmp_path)
    config_list = [{"model": "coder", "tags": ["coder"]}, {"model": "reviewer", "tags": ["reviewer"]},
                   {"model": "manager", "tags": ["manager"]}]
    models = {"coder": ["def reverse(s):\n    return s[::-1]", "def reverse(s):\n    return ''.join(reversed(s))"],
              "reviewer": ["Use slicing, it is clearer. APPROVED", "APPROVED"],
              "manager": ["admin", "admin", "admin"]}
    done = run(script, config_list, models, tmp_path)
    speakers = json.loads(printed(done, "SPEAKERS").replace("'", '"'))
    assert speakers[:5] == ["admin", "coder", "reviewer", "admin", "coder"]
    allowed = {"admin": {"coder"}, "coder": {"reviewer"}, "reviewer": {"coder", "admin"}}
    assert all(b in allowed[a] for a, b in zip(speakers, speakers[1:]))


def test_the_teachable_agent_learns_in_one_chat_and_recalls_in_the_next(tmp_path, monkeypatch):
    monkeypatch.setenv("TEACHABLE_DB", str(tmp_path / "teachable_db"))
    script = port("teachable.py", tmp_path)
    learnt = {"memos": [{"kind": "fact", "match": "the name of the user's cat", "recall": "The user's cat is called Miso.",
                         "replaces": None}]}
    config_list = [{"model": "chat", "tags": ["chat"]}, {"model": "learner", "tags": ["learner"]}]
    models = {"chat": ["I will remember that.", "Your cat is called Miso."], "learner": [json.dumps(learnt)]}
    done = run(script, config_list, models, tmp_path)
    assert printed(done, "ANSWER") == "Your cat is called Miso."
    memos = MemoStore(tmp_path / "teachable_db").list()
    assert [m.recall for m in memos] == ["The user's cat is called Miso."]


@pytest.mark.model
def test_the_code_loop_runs_unchanged_on_the_bundled_model(tmp_path, bundled_model_path):
    script = port("code_loop.py", tmp_path)
    done = run(script, [{"model": "smollm2", "tags": ["coding"]}], None, tmp_path)
    assert 2 <= int(printed(done, "TURNS")) <= 8  # the chat ran and stopped within max_consecutive_auto_reply


@pytest.mark.model
def test_the_review_group_runs_unchanged_on_the_bundled_model(tmp_path, bundled_model_path):
    script = port("review_group.py", tmp_path)
    config_list = [{"model": "smollm2", "tags": ["coder", "reviewer", "manager"]}]
    speakers = json.loads(printed(run(script, config_list, None, tmp_path), "SPEAKERS").replace("'", '"'))
    allowed = {"admin": {"coder"}, "coder": {"reviewer"}, "reviewer": {"coder", "admin"}}
    assert speakers[0] == "admin" and all(b in allowed[a] for a, b in zip(speakers, speakers[1:]))


@pytest.mark.model
def test_the_teachable_agent_runs_unchanged_on_the_bundled_model(tmp_path, monkeypatch, bundled_model_path):
    monkeypatch.setenv("TEACHABLE_DB", str(tmp_path / "teachable_db"))
    script = port("teachable.py", tmp_path)
    done = run(script, [{"model": "smollm2", "tags": ["chat", "learner"]}], None, tmp_path)
    assert printed(done, "ANSWER")  # the small model answered; what it learnt is its own business
