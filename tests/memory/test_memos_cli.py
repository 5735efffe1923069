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


MEMO_FIELDS = {"id", "kind", "agent", "match", "recall", "pending", "replaces", "session_id", "message_id",
               "created", "updated"}


def test_list_and_search_json_and_piped_rows(tmp_path):
    home = tmp_path / "home"
    taught = f"""
import os
os.environ["MOOT_HOME"] = {str(home)!r}
from moot.memory.memos import Memo, MemoStore
MemoStore().put([Memo(id="mem-taught000001", match="when do we deploy", recall="Deploys happen on Fridays.",
                      agent="release-coordinator-agent", session_id="0123456789ab", message_id="m-abc-7",
                      created=1700000000.0, updated=1700000100.0),
                 Memo(id="mem-pending00002", match="the user's cat", recall="The cat is called Miso.", pending=True,
                      replaces="mem-taught000001")])
"""
    subprocess.run([sys.executable, "-c", taught], cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    tabs = added_id(moot("add", "The user indents Python code with tabs, never spaces.", "--kind", "preference",
                         home=home))

    listed = moot("list", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["store"] == str(home / "memory")
    memos = {m["id"]: m for m in data["memos"]}
    assert set(memos) == {"mem-taught000001", tabs}  # a pending proposal is not a memo yet
    for m in memos.values():
        assert set(m) == MEMO_FIELDS
    assert memos["mem-taught000001"] == {
        "id": "mem-taught000001", "kind": "fact", "agent": "release-coordinator-agent", "match": "when do we deploy",
        "recall": "Deploys happen on Fridays.", "pending": False, "replaces": None, "session_id": "0123456789ab",
        "message_id": "m-abc-7", "created": 1700000000.0, "updated": 1700000100.0}
    assert memos[tabs]["kind"] == "preference" and memos[tabs]["agent"] == "shared"
    assert memos[tabs]["session_id"] is None and memos[tabs]["match"] == memos[tabs]["recall"]
    pending = json.loads(moot("list", "--pending", "--json", home=home).stdout)["memos"]
    assert [(m["id"], m["pending"], m["replaces"]) for m in pending] == [("mem-pending00002", True, "mem-taught000001")]

    found = moot("search", "which day are deploys?", "--json", "-k", "2", home=home)
    assert found.returncode == 0, found.stderr
    data = json.loads(found.stdout)
    assert data["query"] == "which day are deploys?" and data["store"] == str(home / "memory")
    hits = data["memos"]
    assert [h["id"] for h in hits] == ["mem-taught000001", tabs]  # best first
    assert set(hits[0]) == MEMO_FIELDS | {"distance"}
    assert 0 <= hits[0]["distance"] < hits[1]["distance"] <= 2
    assert json.loads(moot("search", "anything", "--json", "--agent", "nobody", "--kind", "task_advice",
                           home=home).stdout)["memos"] == []

    env = {**os.environ, "MOOT_HOME": str(home), "COLUMNS": "40", "FORCE_COLOR": "", "TTY_COMPATIBLE": ""}
    piped = subprocess.run([sys.executable, "-m", "moot", "memory", "list"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and "…" not in piped.stdout and "│" not in piped.stdout
    row = next(ln for ln in piped.stdout.splitlines() if ln.startswith("mem-taught000001 "))
    assert re.split(r"\s{2,}", row)[1:5] == ["fact", "release-coordinator-agent", "Deploys happen on Fridays.",
                                             "when do we deploy"]
    assert next(ln for ln in piped.stdout.splitlines() if ln.startswith(tabs)).count(
        "The user indents Python code with tabs, never spaces.") == 1
