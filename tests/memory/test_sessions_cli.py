"""``moot run`` records, ``moot sessions ...`` as a person uses them: real subprocesses, kill -9."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from moot.memory import SessionStore
from moot.paths import data_dir

ROOT = Path(__file__).resolve().parents[2]


def session_id_of(stderr: str) -> str:
    match = re.search(r"session ([0-9a-f]{12})", stderr)
    assert match, stderr
    return match.group(1)


def test_kill_9_mid_turn_then_resume_finishes_the_chat(session_env, moot, moot_argv, replies):
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    proc = subprocess.Popen(moot_argv("--models", "slow.toml", "run", "trio.toml", "--task", "Plan it"),
                            cwd=session_env, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    # wait until the third reply is streaming: two completed replies are stored, the third has begun
    db = data_dir() / "sessions.db"
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.05)
        if not db.exists():
            continue
        store = SessionStore(db)
        try:
            rows = store.db.execute("SELECT type, message_id, payload FROM events").fetchall()
        finally:
            store.close()
        posted = {m for t, m, _ in rows if t == "message"}
        partial = "".join(json.loads(p)["text"] for t, m, p in rows if t == "token_delta" and m not in posted)
        if len(posted) == 3 and partial:
            break
    else:
        proc.kill()
        raise AssertionError("the run never reached its third reply")
    os.kill(proc.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=10)
    sid = session_id_of(err)

    listed = moot("sessions", "list", cwd=session_env)
    assert listed.returncode == 0 and sid in listed.stdout and "interrupted" in listed.stdout
    store = SessionStore.open_default()
    info = store.get(sid)
    assert info.status == "interrupted" and info.interrupted_message_id
    assert "reviewer was replying" in info.stop_reason
    shown = moot("sessions", "show", sid, "--raw", cwd=session_env)
    assert "## reviewer (interrupted)" in shown.stdout and "*This reply was cut off" in shown.stdout
    cut_text = shown.stdout.split("cut off before it was finished:*")[1].split("---")[0].strip()
    assert cut_text and replies[2].startswith(cut_text) and cut_text != replies[2]

    resumed = moot("sessions", "resume", sid, cwd=session_env)
    assert resumed.returncode == 0, resumed.stderr
    assert "stopped: max_round reached (6 messages) [max_round]" in resumed.stderr
    msgs = [(e["sender"], e.get("content")) for e in store.events(sid) if e["type"] == "message"]
    # every completed message is there once, then the chat went on from where it was cut
    assert msgs == [("user", "Plan it"), ("planner", replies[0]), ("coder", replies[1]), ("reviewer", replies[2]),
                    ("planner", replies[3]), ("coder", replies[4])]
    info = store.get(sid)
    assert info.status == "stopped" and info.stop_condition == "max_round"
    md = moot("sessions", "export", sid, "--format", "md", cwd=session_env).stdout
    assert "## reviewer (interrupted)" in md and "*resumed after message 3" in md
    assert md.rstrip().endswith("**Summary:** Fifth answer.")


def test_run_records_and_the_sessions_commands_work(session_env, moot, tmp_path):
    run = moot("--models", "models.toml", "run", "duo.toml", "--task", "Do the thing", cwd=session_env)
    assert run.returncode == 0, run.stderr
    sid = session_id_of(run.stderr)

    listed = moot("sessions", "list", cwd=session_env)
    assert listed.returncode == 0 and sid in listed.stdout and "stopped" in listed.stdout and "duo" in listed.stdout

    shown = moot("sessions", "show", sid[:8], "--raw", cwd=session_env)
    assert shown.returncode == 0 and "## 1. alice → bob" in shown.stdout

    exported = moot("sessions", "export", sid, "--format", "json", "-o", str(tmp_path / "s.json"), cwd=session_env)
    assert exported.returncode == 0
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["session"]["id"] == sid and len([e for e in data["events"] if e["type"] == "message"]) == 6

    finished = moot("sessions", "resume", sid, cwd=session_env)
    assert finished.returncode == 1 and "there is nothing to resume" in finished.stderr

    forked = moot("sessions", "fork", sid, "--at", "2", cwd=session_env)
    assert forked.returncode == 0
    fork = forked.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{12}", fork)
    resumed = moot("sessions", "resume", fork, cwd=session_env)
    assert resumed.returncode == 0 and "[max_turns]" in resumed.stderr

    replayed = moot("sessions", "replay", sid, "-q", cwd=session_env)
    assert replayed.returncode == 0 and "the transcript is identical" in replayed.stderr

    bad_fork = moot("sessions", "fork", sid, "--at", "99", cwd=session_env)
    assert bad_fork.returncode == 1 and "there is no message 99" in bad_fork.stderr
    missing = moot("sessions", "show", "nosuchsession", cwd=session_env)
    assert missing.returncode == 1 and "no session 'nosuchsession'" in missing.stderr

    deleted = moot("sessions", "delete", fork, cwd=session_env)
    assert deleted.returncode == 0 and f"deleted session {fork}" in deleted.stderr
    assert fork not in moot("sessions", "list", cwd=session_env).stdout

    imported = moot("sessions", "import", str(tmp_path / "s.json"), cwd=session_env)
    assert imported.returncode == 0 and imported.stdout.strip() != sid


SESSION_FIELDS = {"id", "title", "team", "task", "status", "outcome", "resumable", "messages", "stop_reason",
                  "stop_condition", "created", "updated", "parent_id", "fork_message_id", "default_model"}


def moot_piped(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m moot`` as a script runs it: stdout a pipe, a narrow COLUMNS Rich would fold at."""
    env = dict(os.environ, COLUMNS="40", FORCE_COLOR="", TTY_COMPATIBLE="")
    return subprocess.run([sys.executable, "-m", "moot", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_sessions_json_and_piped_rows(session_env, replies):
    long_team = "planner-coder-reviewer-duo"
    duo = (session_env / "duo.toml").read_text()
    (session_env / "long.toml").write_text(duo.replace('name = "duo"', f'name = "{long_team}"'))
    task = "Plan the migration of the billing service"
    run = moot_piped("--models", "models.toml", "run", "long.toml", "--task", task, cwd=session_env)
    assert run.returncode == 0, run.stderr
    sid = session_id_of(run.stderr)
    fork = moot_piped("sessions", "fork", sid, "--at", "2", cwd=session_env).stdout.strip()

    listed = moot_piped("sessions", "list", "--json", cwd=session_env)
    assert listed.returncode == 0, listed.stderr
    sessions = {s["id"]: s for s in json.loads(listed.stdout)["sessions"]}
    assert list(sessions) == [fork, sid]  # most recent first
    for s in sessions.values():
        assert set(s) == SESSION_FIELDS
    done = sessions[sid]
    assert done["team"] == long_team and done["title"] == task and done["task"] == task
    assert done["status"] == "stopped" and done["outcome"] == "completed" and done["resumable"] is False
    assert done["messages"] == 6 and done["stop_condition"] == "max_turns" and done["default_model"] == "s"
    assert done["parent_id"] is None and done["created"] <= done["updated"]
    forked = sessions[fork]
    assert forked["parent_id"] == sid and forked["messages"] == 2 and forked["resumable"] is True
    assert forked["outcome"] == "interrupted" and forked["stop_condition"] == "fork"

    shown = moot_piped("sessions", "show", sid[:6], "--json", cwd=session_env)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["session"] == done
    stored = [e for e in SessionStore.open_default().events(sid) if e["type"] == "message"]
    assert [(m["id"], m["sender"], m["recipient"], m["content"]) for m in data["messages"]] == \
        [(e["message_id"], e["sender"], e["recipient"], e["content"]) for e in stored]
    assert [m["sender"] for m in data["messages"]] == ["alice", "bob"] * 3
    assert data["messages"][0]["content"] == task and data["messages"][1]["content"] == replies[0]
    assert data["messages"][2]["content"] == replies[1]  # a reply with a newline and a code fence, whole
    assert forked["fork_message_id"] == data["messages"][1]["id"]
    assert len({m["chat_id"] for m in data["messages"]}) == 1

    table = moot_piped("sessions", "list", cwd=session_env)
    assert table.returncode == 0 and "…" not in table.stdout and "│" not in table.stdout
    row = next(ln for ln in table.stdout.splitlines() if ln.startswith(sid))
    assert re.split(r"\s{2,}", row)[2:] == [long_team, "stopped", "6", task]
    row = next(ln for ln in table.stdout.splitlines() if ln.startswith(fork))
    assert f"{forked['status']} (fork of {sid})" in row and row.endswith(f"{task} (fork at 2)")

    missing = moot_piped("sessions", "show", "nosuchsession", "--json", cwd=session_env)
    assert missing.returncode == 1 and "no session 'nosuchsession'" in missing.stderr and missing.stdout == ""


def test_markdown_export_keeps_every_run_of_a_continued_session(session_env, moot, replies):
    """A finished run, then a new message to the same chat: `show` and the Markdown export hold
    every message of both runs, in order, numbered as `fork --at N` counts them."""
    run = moot("--models", "models.toml", "run", "duo.toml", "--task", "Do the thing", cwd=session_env)
    assert run.returncode == 0, run.stderr
    sid = session_id_of(run.stderr)
    more = moot("--models", "models.toml", "sessions", "resume", sid, "--message", "Go on please", cwd=session_env)
    assert more.returncode == 0, more.stderr
    events = SessionStore.open_default().events(sid)
    stored = [e["content"] for e in events if e["type"] == "message"]
    assert len(stored) == 12 and stored[6] == "Go on please"
    # one root chat; the session's status and outcome are the last run's (not "interrupted")
    assert len({e["chat_id"] for e in events if e["type"] == "message"}) == 1
    assert [e["type"] for e in events].count("chat_started") == 1
    info = SessionStore.open_default().get(sid)
    assert (info.status, info.outcome, info.stop_condition, info.resumable) == ("stopped", "completed", "max_turns", False)
    shown = json.loads(moot("sessions", "show", sid, "--json", cwd=session_env).stdout)
    assert [m["content"] for m in shown["messages"]] == stored and shown["session"]["outcome"] == "completed"
    exported = json.loads(moot("sessions", "export", sid, "--format", "json", cwd=session_env).stdout)
    assert [e["content"] for e in exported["events"] if e["type"] == "message"] == stored
    for args in (("export", sid, "--format", "md"), ("show", sid, "--raw")):
        md = moot("sessions", *args, cwd=session_env).stdout
        lines = md.splitlines()
        headings = [i for i, line in enumerate(lines) if line.startswith("## ")]
        assert [lines[i].split(".")[0] for i in headings] == [f"## {n}" for n in range(1, 13)], args
        assert [lines[i + 2] for i in headings] == [c.splitlines()[0] for c in stored], args
        # the first run's stop stays between the runs; the last one closes the transcript
        assert md.count("**Stopped:**") == 2 and md.rstrip().endswith(f"**Summary:** {stored[-1]}")
