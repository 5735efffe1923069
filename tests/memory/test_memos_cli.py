"""`moot memory ...` as a user runs it: a real process, its output and exit code, real store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def moot(*args: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOOT_HOME": str(home), "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "moot", "memory", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def added_id(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    match = re.search(r"added (mem-[0-9a-f]+)", result.stdout)
    assert match, result.stdout
    return match.group(1)


def test_add_list_search_edit_forget(tmp_path):
    home = tmp_path / "home"
    tabs = added_id(moot("add", "The user indents Python code with tabs.", "--kind", "preference", home=home))
    deploy = added_id(moot("add", "Deploys happen on Fridays.", "--agent", "coder", home=home))
    listed = moot("list", home=home)
    assert listed.returncode == 0 and tabs in listed.stdout and deploy in listed.stdout and "coder" in listed.stdout
    assert "2 memos" in listed.stdout
    only = moot("list", "--agent", "coder", home=home)
    assert deploy in only.stdout and tabs not in only.stdout

    found = moot("search", "when do we deploy?", home=home)
    assert found.returncode == 0
    assert found.stdout.index(deploy) < found.stdout.index(tabs)  # best match first

    edited = moot("edit", deploy, "--recall", "Deploys happen on Mondays.", home=home)
    assert edited.returncode == 0 and f"updated {deploy}" in edited.stdout
    assert "Mondays" in moot("list", home=home).stdout

    gone = moot("forget", tabs, home=home)
    assert gone.returncode == 0 and f"forgot {tabs}" in gone.stdout
    assert tabs not in moot("list", home=home).stdout


def test_export_import_between_data_dirs(tmp_path):
    home, other = tmp_path / "a", tmp_path / "b"
    first = added_id(moot("add", "The user's cat is called Miso.", home=home))
    path = tmp_path / "memos.jsonl"
    exported = moot("export", str(path), home=home)
    assert exported.returncode == 0 and "exported 1 memo " in exported.stdout
    assert json.loads(path.read_text())["id"] == first
    imported = moot("import", str(path), home=other)
    assert imported.returncode == 0 and "imported 1 memo" in imported.stdout
    assert "Miso" in moot("search", "what is my cat called", home=other).stdout


def test_clear_errors_and_exit_codes(tmp_path):
    home = tmp_path / "home"
    missing = moot("forget", "mem-000000000000", home=home)
    assert missing.returncode == 1 and "no memo mem-000000000000" in missing.stderr
    assert moot("edit", "mem-000000000000", "--recall", "x", home=home).returncode == 1
    nothing = moot("edit", "mem-000000000000", home=home)
    assert nothing.returncode == 1 and "nothing to change" in nothing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = moot("import", str(bad), home=home)
    assert result.returncode == 1 and f"{bad}:1: not a memo" in result.stderr
    assert moot("add", "x", "--kind", "gossip", home=home).returncode == 2  # argparse: a usage error
    (home / "memory").mkdir(parents=True, exist_ok=True)
    for f in (home / "memory").iterdir():
        if f.is_file():
            f.unlink()
    (home / "memory" / "chroma.sqlite3").write_text("junk" * 100)
    corrupt = moot("list", home=home)
    assert corrupt.returncode == 1 and str(home / "memory") in corrupt.stderr and "corrupt" in corrupt.stderr
    assert "Traceback" not in corrupt.stderr


def test_pending_proposals_are_listed_and_accepted(tmp_path):
    home = tmp_path / "home"
    env_code = f"""
import os
os.environ["MOOT_HOME"] = {str(home)!r}
from moot.memory.memos import Memo, MemoStore
MemoStore().put([Memo(id="mem-pending00001", match="the user's cat", recall="The cat is called Miso.", pending=True)])
"""
    subprocess.run([sys.executable, "-c", env_code], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "no memos" in moot("list", home=home).stdout
    assert "mem-pending00001" in moot("list", "--pending", home=home).stdout
    assert moot("accept", "mem-pending00001", home=home).returncode == 0
    assert "mem-pending00001" in moot("list", home=home).stdout
