"""Safety of the session store: concurrent writers, damaged and newer databases, moving the data dir."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from moot.agents.events import ChatStarted, MessagePosted, Stopped, TokenDelta
from moot.memory import SessionStore, SessionStoreError
from moot.paths import data_dir
from moot.memory.sessions import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]
WRITER = """
import sys
from moot.agents.events import ChatStarted, MessagePosted, Stopped, TokenDelta
from moot.memory import SessionStore
store = SessionStore.open_default()
for s in range(int(sys.argv[2])):
    rec = store.recorder(title=f"{sys.argv[1]}-{s}")
    rec(ChatStarted("c", initiator="a", participants=("a", "b")))
    for i in range(200):
        rec(TokenDelta("c", agent="a", message_id=f"m{i}", text="x" * 50))
        rec(MessagePosted("c", message_id=f"m{i}", sender="a", recipient="b", role="assistant", content=f"{sys.argv[1]} {i}"))
    rec(Stopped("c", reason="done", condition="max_turns"))
    rec.close()
"""


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_processes_write_sessions_at_once():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, name, "3"], env=env, stderr=subprocess.PIPE, text=True)
             for name in ("p1", "p2")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    store = SessionStore.open_default()
    sessions = store.list()
    assert sorted(s.title for s in sessions) == [f"p{n}-{s}" for n in (1, 2) for s in range(3)]
    for s in sessions:
        assert s.status == "stopped" and s.messages == 200
        contents = [e["content"] for e in store.events(s.id) if e["type"] == "message"]
        assert contents == [f"{s.title.split('-')[0]} {i}" for i in range(200)]
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_opening_a_second_store_keeps_the_first_ones_locks_while_another_process_writes():
    """Closing any descriptor of the file drops every POSIX lock the process holds on it: opening
    a second store must not read the file with open()/close() while the first one writes."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = SessionStore.open_default()
    rec = first.recorder(title="kept")
    rec(ChatStarted("c", initiator="a", participants=("a", "b")))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, "other", "4"], env=env, stderr=subprocess.PIPE, text=True)
    for i in range(300):
        if i % 20 == 0:
            SessionStore.open_default()  # the app opens stores as it goes (Home, the sessions list)
        rec(MessagePosted("c", message_id=f"k{i}", sender="a", recipient="b", role="assistant", content=f"kept {i}"))
    rec(Stopped("c", reason="done", condition="max_turns"))
    rec.close()
    _, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    store = SessionStore.open_default()
    kept = [s for s in store.list() if s.title == "kept"]
    assert len(kept) == 1 and kept[0].messages == 300
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_damaged_database_is_reported_and_never_touched():
    path = data_dir() / "sessions.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(4096))
    before = digest(path)
    with pytest.raises(SessionStoreError) as info:
        SessionStore.open_default()
    text = str(info.value)
    assert str(path) in text and "damaged" in text and "not an SQLite database" in text and "Move it aside" in text
    assert digest(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["sessions.db"]


def test_a_database_with_damaged_pages_is_reported_and_never_touched():
    path = data_dir() / "sessions.db"
    store = SessionStore.open_default()
    rec = store.recorder(title="x")
    rec(MessagePosted("c", message_id="m", sender="a", recipient="b", role="assistant", content="hi"))
    rec.close()
    store.close()
    data = bytearray(path.read_bytes())
    data[100:4096] = os.urandom(3996)  # the header survives, the schema page does not
    path.write_bytes(bytes(data))
    before = digest(path)
    with pytest.raises(SessionStoreError, match="damaged.*SQLite"):
        SessionStore.open_default()
    assert digest(path) == before


def test_a_newer_schema_is_reported_and_never_touched():
    path = data_dir() / "sessions.db"
    SessionStore.open_default().close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.commit()
    db.close()
    before = digest(path)
    with pytest.raises(SessionStoreError) as info:
        SessionStore.open_default()
    text = str(info.value)
    assert str(path) in text and f"schema version {SCHEMA_VERSION + 5}" in text and "Upgrade moot" in text
    assert digest(path) == before


def test_cli_reports_a_damaged_store_with_exit_code_2(session_env, moot):
    path = data_dir() / "sessions.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database at all" * 100)
    before = digest(path)
    listed = moot("sessions", "list", cwd=session_env)
    assert listed.returncode == 2 and "damaged" in listed.stderr and "sessions.db" in listed.stderr
    run = moot("--models", "models.toml", "run", "duo.toml", "--task", "x", cwd=session_env)
    assert run.returncode == 2 and "damaged" in run.stderr
    assert digest(path) == before


def test_the_data_dir_moves_by_copying(monkeypatch, tmp_path):
    store = SessionStore.open_default()
    rec = store.recorder(title="moving", task="t")
    rec(ChatStarted("c", initiator="a", participants=("a", "b")))
    rec(TokenDelta("c", agent="a", message_id="m1", text="hel"))
    rec(MessagePosted("c", message_id="m1", sender="a", recipient="b", role="assistant", content="hello"))
    rec(Stopped("c", reason="done", condition="max_turns"))
    rec.close()
    events = store.events(rec.session_id)
    store.close()
    moved = tmp_path / "elsewhere"
    shutil.copytree(data_dir(), moved)
    monkeypatch.setenv("MOOT_HOME", str(moved))
    copy = SessionStore.open_default()
    assert copy.path == moved / "sessions.db"
    assert [s.title for s in copy.list()] == ["moving"]
    assert copy.events(rec.session_id) == events


def test_flush_waits_for_a_batch_the_writer_is_still_committing(monkeypatch):
    """flush() returned early when the writer had taken a batch off the queue but not committed
    it yet (seen under load: an export right after a run held no messages)."""
    import threading

    from moot.agents import events as ev
    from moot.memory.sessions import SessionRecorder

    taken = threading.Event()
    original = SessionRecorder._rows

    def slow_rows(self, events):
        taken.set()
        threading.Event().wait(0.3)  # the writer is busy with the batch
        return original(self, events)

    monkeypatch.setattr(SessionRecorder, "_rows", slow_rows)
    store = SessionStore.open_default()
    recorder = store.recorder(title="race")
    recorder(ev.ChatStarted("c1", initiator="a", participants=("a", "b")))
    recorder(ev.MessagePosted("c1", message_id="m1", sender="a", recipient="b", role="user", content="hi"))
    assert taken.wait(5)  # the queue is empty now, and nothing is committed yet
    recorder.flush()
    assert [e["type"] for e in store.events(recorder.session_id)] == ["chat_started", "message"]
    recorder.close()


def _damage_later_pages(path: Path) -> None:
    """A store whose first pages are sound and whose later pages are garbage."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 16384, "the store should span many pages"
    data[8192:len(data) - 4096] = os.urandom(len(data) - 4096 - 8192)
    path.write_bytes(bytes(data))


def test_a_store_damaged_past_its_first_page_is_reported_by_every_command(session_env, moot):
    store = SessionStore.open_default()
    for i in range(20):
        recorder = store.recorder(title=f"s{i}")
        for j in range(40):
            recorder(MessagePosted("c", message_id=f"m{i}-{j}", sender="a", recipient="b", role="assistant",
                                   content="words " * 40))
        recorder.close()
    store.close()
    path = data_dir() / "sessions.db"
    _damage_later_pages(path)
    before = digest(path)
    for args in (("sessions", "list"), ("sessions", "show", "abc"), ("sessions", "check"),
                 ("--models", "models.toml", "run", "duo.toml", "--task", "x")):
        result = moot(*args, cwd=session_env)
        assert result.returncode == 2, (args, result.stderr[-500:])
        assert "damaged" in result.stderr and str(path) in result.stderr and "Traceback" not in result.stderr, args
    assert digest(path) == before  # never written to


def test_a_new_store_is_private(monkeypatch, tmp_path):
    monkeypatch.setenv("MOOT_HOME", str(tmp_path / "new" / "home"))  # a data dir moot creates
    store = SessionStore.open_default()
    recorder = store.recorder(title="x")
    recorder(MessagePosted("c", message_id="m", sender="a", recipient="b", role="assistant", content="hi"))
    recorder.close()
    folder = data_dir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("sessions.db", "sessions.db-wal", "sessions.db-shm"):
        if (folder / name).exists():
            assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name
    moot_check = SessionStore.open_default().check()
    assert moot_check == []
