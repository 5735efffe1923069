"""The session store: every event of every chat, in SQLite (WAL) under the data dir.

A chat's events are appended as they happen (``store.recorder(...)`` is a sink for the event
stream), so a crash loses at most the tokens of the turn in flight; sessions can then be listed,
shown, exported (Markdown, JSON), forked at a message, resumed and replayed (the last two run the
engine: ``agents.resume_session`` / ``agents.replay_session``).

Safety: many moot processes may share one data dir (SQLite WAL with a busy timeout; a session
being run is held by a lock file naming the process). A corrupt database, or one written by a newer
moot, is reported with its path and what to do, and is never touched. Nothing absolute is stored,
so the data dir moves by copying it.

    store = SessionStore.open_default()
    recorder = store.recorder(title="fix the bug", team=team, task=task)
    async for event in stream:
        recorder(event)
    recorder.close()
"""

from __future__ import annotations

import dataclasses
import json
import operator
import os
import re
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from moot.paths import data_dir
from moot.redact import secret_values

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; sessions are still safe through SQLite
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "SCHEMA_VERSION",
    "SessionBusy",
    "SessionInfo",
    "SessionNotFound",
    "SessionRecorder",
    "SessionStore",
    "SessionStoreError",
    "redact_models_text",
]

DB_NAME = "sessions.db"
LOCK_DIR = "sessions.locks"
STATUSES = ("running", "stopped", "interrupted", "failed")
# How a run ended (decided by the engine, ``moot.agents.outcome``; the store only keeps it) and the
# status it leaves the session in. Every outcome but completed can be resumed.
OUTCOMES = ("completed", "failed", "cancelled", "interrupted")
STATUS_OF_OUTCOME = {"completed": "stopped", "cancelled": "stopped", "failed": "failed", "interrupted": "interrupted"}
FLUSH_EVERY_S = 0.1
# Commits closer together than this are merged: a chat posting messages faster than this (a
# scripted model, a benchmark) pays for one commit per window, not one per message.
MIN_COMMIT_GAP_S = 0.02
# Events after which the recorder commits at once: a crash then loses at most the turn in flight.
_COMMIT_AT = frozenset({"message", "stopped", "chat_started", "human_input_requested", "human_reply",
                        "execution_finished", "tool_result"})


class SessionStoreError(Exception):
    """The session store cannot be used: the message says which file, what is wrong, what to do."""


class SessionNotFound(SessionStoreError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SessionBusy(SessionStoreError):
    """Another process is running this session."""


# -- migrations (append-only: never edit one that shipped; add a new one) -----------------------

def _m1_initial(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            team_name TEXT,
            team_text TEXT,
            task TEXT,
            models_source TEXT,
            models_text TEXT,
            default_model TEXT,
            options TEXT NOT NULL DEFAULT '{}',
            created REAL NOT NULL,
            updated REAL NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('running', 'stopped', 'interrupted', 'failed')),
            stop_reason TEXT,
            stop_condition TEXT,
            parent_id TEXT REFERENCES sessions(id) ON DELETE SET NULL,
            fork_message_id TEXT,
            root_chat_id TEXT,
            interrupted_message_id TEXT,
            pid INTEGER,
            host TEXT
        )""")
    db.execute("""
        CREATE TABLE events (
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            chat_id TEXT NOT NULL,
            ts REAL NOT NULL,
            message_id TEXT,
            payload TEXT NOT NULL,
            PRIMARY KEY (session_id, seq)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX events_by_message ON events(session_id, message_id) WHERE message_id IS NOT NULL")
    db.execute("CREATE INDEX sessions_by_updated ON sessions(updated)")


def _m2_outcome(db: sqlite3.Connection) -> None:
    """Sessions carry the outcome of their last run; older rows get it from what they stored."""
    db.execute("ALTER TABLE sessions ADD COLUMN outcome TEXT")
    db.execute("""
        UPDATE sessions SET outcome = CASE
            WHEN status = 'running' THEN NULL
            WHEN status = 'interrupted' OR stop_condition IN ('interrupted', 'fork') THEN 'interrupted'
            WHEN status = 'failed' OR stop_condition IN ('error', 'backend_error', 'executor_unavailable',
                                                         'summary_error') THEN 'failed'
            WHEN stop_condition IN ('cancelled', 'ExternalStop') THEN 'cancelled'
            ELSE 'completed' END""")
    db.execute("UPDATE sessions SET status = 'failed' WHERE outcome = 'failed'")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m1_initial, _m2_outcome]
SCHEMA_VERSION = len(MIGRATIONS)


# -- secrets -------------------------------------------------------------------------------------

_KEY_LINE = re.compile(r"^\s*[\"']?[A-Za-z0-9_.-]*(api_key|apikey|token|secret|password|passwd|auth)[A-Za-z0-9_.-]*[\"']?\s*=",
                       re.I)


def redact_models_text(text: str) -> str:
    """A models.toml without its key lines (``api_key = ...``, tokens, passwords), for the record.
    ``api_key_env`` names a variable, not a key, but it goes too: the record needs neither."""
    out = []
    for line in text.splitlines():
        out.append("# (a key line was left out of the session record)" if _KEY_LINE.match(line) else line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


# -- rows ----------------------------------------------------------------------------------------

@dataclass
class SessionInfo:
    """One session as stored (``events`` are fetched separately: ``store.events(id)``)."""

    id: str
    title: str
    team_name: str | None
    team_text: str | None
    task: str | None
    models_source: str | None
    models_text: str | None
    default_model: str | None
    options: dict[str, Any]
    created: float
    updated: float
    status: str
    stop_reason: str | None
    stop_condition: str | None
    parent_id: str | None
    fork_message_id: str | None
    root_chat_id: str | None
    interrupted_message_id: str | None
    pid: int | None
    host: str | None
    outcome: str | None  # of the last run: completed | failed | cancelled | interrupted; None while running
    messages: int = 0

    @property
    def resumable(self) -> bool:
        """Whether the last run can go on where it stopped (a completed one takes a new message)."""
        return self.outcome in ("failed", "cancelled", "interrupted")

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["resumable"] = self.resumable
        return out


_COLUMNS = ("id", "title", "team_name", "team_text", "task", "models_source", "models_text", "default_model", "options",
            "created", "updated", "status", "stop_reason", "stop_condition", "parent_id", "fork_message_id",
            "root_chat_id", "interrupted_message_id", "pid", "host", "outcome")


def _info(row: sqlite3.Row | tuple[Any, ...], messages: int = 0) -> SessionInfo:
    values = dict(zip(_COLUMNS, row))
    values["options"] = json.loads(values["options"] or "{}")
    return SessionInfo(**values, messages=messages)


def _event_row(session_id: str, seq: int, data: dict[str, Any]) -> tuple[Any, ...]:
    payload = {k: v for k, v in data.items() if k not in ("type", "chat_id", "ts")}
    mid = data.get("message_id") if data.get("type") in ("message", "token_delta") else None
    return (session_id, seq, data["type"], data.get("chat_id", ""), data.get("ts", 0.0), mid,
            json.dumps(payload, ensure_ascii=False, separators=(",", ":")))


def _event_dicts(row: tuple[Any, ...], out: list[dict[str, Any]]) -> None:
    """Append the events one row holds. A message row written by the recorder also holds the
    events of its turn that came before it (``_turn``: the speaker choice, the usage, ...); the
    merged token delta of a reply that streamed exactly as posted is kept there as its time
    alone. One row per turn instead of four, read back as the events they were, in order."""
    seq, kind, chat_id, ts, payload = row
    data = {"type": kind, "chat_id": chat_id, "ts": ts}
    data.update(json.loads(payload))
    if kind == "message":
        turn = data.pop("_turn", None)
        if type(turn) is list:
            for e in turn:
                if type(e) is not dict:
                    continue
                if e.get("type") == "token_delta" and "text" not in e:  # the reply as it streamed
                    e = {"type": "token_delta", "chat_id": chat_id, "ts": e.get("ts", ts), "agent": data.get("sender"),
                         "message_id": data.get("message_id"), "text": data.get("content")}
                out.append(e)
    out.append(data)


# -- event rows --------------------------------------------------------------------------------

_PAYLOAD_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], Any]]] = {}


def _payload(event: Any) -> dict[str, Any]:
    """An event's fields but its type, chat and time (those have columns), as plain data."""
    kind = type(event)
    known = _PAYLOAD_FIELDS.get(kind)
    if known is None:
        names = tuple(f.name for f in dataclasses.fields(event) if f.name not in ("chat_id", "ts"))
        getter = operator.attrgetter(*names) if len(names) > 1 else (lambda e, n=names: (getattr(e, n[0]),)) \
            if names else (lambda e: ())
        known = _PAYLOAD_FIELDS[kind] = (names, getter)
    names, getter = known
    return dict(zip(names, getter(event)))


def _dumps(data: Any) -> str:
    """Compact JSON, non-ASCII kept (orjson: the recorder encodes every event of a chat)."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:  # a value orjson does not know (an int past 64 bits, a custom object)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


# -- the JSON export (written by SessionStore.export, read by SessionStore.import_json) -------------

EXPORT_FORMAT = "moot-session"
EXPORT_VERSION = 1
# The recorded options an import keeps: none of them says how or where code runs.
IMPORTED_OPTIONS = ("human_input_mode", "replay_of")
_IMPORTED_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


def _read_export(text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SessionStoreError(f"not a moot session export: not JSON ({exc})") from None
    except RecursionError:
        raise SessionStoreError("not a moot session export: arrays or objects nested too deeply to read") from None
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise SessionStoreError("not a moot session export: no \"format\": \"moot-session\" at the top")
    if not isinstance(data.get("version"), int) or data["version"] > EXPORT_VERSION:
        raise SessionStoreError(f"this export has format version {data.get('version')!r}; this moot reads up to "
                                f"{EXPORT_VERSION}: upgrade moot to import it")
    events = data.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) and "type" in e for e in events):
        raise SessionStoreError("not a moot session export: \"events\" must be a list of events")
    return data.get("session") or {}, events


# -- the store -----------------------------------------------------------------------------------

def _reports_damage(method: Callable[..., Any]) -> Callable[..., Any]:
    """A store method whose SQLite error from a damaged file (a page that no longer parses)
    becomes the store's one clear error, naming the file and what to do; the file is not
    written to again."""
    def guarded(self: SessionStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.OperationalError:
            raise  # busy, locked, read-only: not damage
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(f"SQLite cannot read part of it ({exc})") from None

    guarded.__name__, guarded.__qualname__, guarded.__doc__ = method.__name__, method.__qualname__, method.__doc__
    return guarded



class SessionStore:
    """The sessions database at ``path`` (default: ``data_dir()/sessions.db``)."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 30.0):
        self.path = Path(path)
        self.lock_dir = self.path.parent / LOCK_DIR
        self._busy_timeout_s = busy_timeout_s
        self.db = self._connect()

    @classmethod
    def open_default(cls) -> SessionStore:
        """The store under the data dir (``$MOOT_HOME``, else the user data dir)."""
        return cls(data_dir() / DB_NAME)

    # opening: check before touching anything, so a bad file is never overwritten

    def _problem(self, what: str, todo: str) -> SessionStoreError:
        return SessionStoreError(f"session store {self.path}: {what}. {todo}")

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new data dir is private
        fresh = not path.exists()
        # The header is checked by SQLite itself (the read below), never with open()/close() here:
        # closing any descriptor of the file drops every POSIX lock this process holds on it, and
        # another process could then checkpoint and delete the WAL a connection still writes to.
        if not fresh and not os.access(path, os.R_OK):
            raise self._problem("cannot be read (permission denied)", "Check its permissions.")
        try:
            db = sqlite3.connect(path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._problem(f"cannot be opened ({exc})", "Check the folder exists and is writable.") from None
        if fresh:  # before any write: its WAL and shared-memory files take the same mode
            db.execute("PRAGMA user_version").fetchone()
            os.chmod(path, 0o600) if path.exists() else path.touch(mode=0o600)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            db.close()
            if "not a database" in str(exc):
                raise self._corrupt("it is not an SQLite database (its first bytes are not SQLite's header)") from None
            raise self._corrupt(f"SQLite cannot read it ({exc})") from None
        if version > SCHEMA_VERSION:
            db.close()
            raise self._problem(
                f"it was written by a newer moot (schema version {version}; this moot knows up to {SCHEMA_VERSION})",
                "Upgrade moot to open it, or set $MOOT_HOME to another folder. The file was left untouched.")
        try:
            self._set_wal(db)
            self._pragmas(db)
            if version < SCHEMA_VERSION:
                self._migrate(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise self._problem(f"it stayed locked by another process for {self._busy_timeout_s:g} s",
                                    "Try again when the other moot is done.") from None
            raise self._corrupt(f"SQLite failed on it ({exc})") from None
        return db

    def _pragmas(self, db: sqlite3.Connection) -> None:
        db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a process crash loses nothing committed
        db.execute("PRAGMA foreign_keys = ON")

    def _new_connection(self) -> sqlite3.Connection:
        """Another connection to the (already checked) store, e.g. for a writer thread."""
        db = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False)
        self._pragmas(db)
        return db

    def _corrupt(self, what: str) -> SessionStoreError:
        return self._problem(
            f"the file is damaged: {what}",
            f"moot will not overwrite it. Move it aside (mv {self.path} {self.path}.damaged) to start a new store, "
            f"or restore it from a backup; `sqlite3 {self.path.name} .recover` may save its contents")

    @staticmethod
    def _set_wal(db: sqlite3.Connection) -> None:
        for attempt in range(50):
            try:
                mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() == "wal":
                    return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 49:
                    raise
            time.sleep(0.05)

    def _migrate(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have migrated
            for number in range(version, SCHEMA_VERSION):
                MIGRATIONS[number](db)
                db.execute(f"PRAGMA user_version = {number + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _write(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, tuple(params))

    class _Tx:
        def __init__(self, db: sqlite3.Connection):
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, kind: Any, *rest: Any) -> None:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")

    def transaction(self) -> SessionStore._Tx:
        """``with store.transaction() as db:`` one write transaction (taken at once, so two
        processes never deadlock upgrading a read lock)."""
        return self._Tx(self.db)

    # -- sessions ------------------------------------------------------------------------------

    @_reports_damage
    def create_session(self, *, title: str = "", team_name: str | None = None, team_text: str | None = None,
                       task: str | None = None, models_source: str | None = None, models_text: str | None = None,
                       default_model: str | None = None, options: dict[str, Any] | None = None,
                       status: str = "running", parent_id: str | None = None, fork_message_id: str | None = None,
                       root_chat_id: str | None = None, session_id: str | None = None,
                       outcome: str | None = None) -> str:
        sid = session_id or uuid.uuid4().hex[:12]
        now = time.time()
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO sessions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                (sid, title, team_name, team_text, task, models_source,
                 redact_models_text(models_text) if models_text else None, default_model,
                 json.dumps(options or {}), now, now, status, None, None, parent_id, fork_message_id, root_chat_id,
                 None, os.getpid(), socket.gethostname(), outcome))
        return sid

    def _row(self, session_id: str) -> SessionInfo:
        row = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            # a unique prefix is enough, as with git
            rows = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM sessions WHERE id LIKE ? LIMIT 2",
                                   (session_id.replace("%", "").replace("_", "") + "%",)).fetchall()
            if len(rows) == 1 and session_id:
                row = rows[0]
            else:
                raise SessionNotFound(f"no session {session_id!r} in {self.path}"
                                      + (" (more than one session id starts so)" if len(rows) > 1 else
                                         " (`moot sessions list` shows them)"))
        return _info(row, self._count_messages(row[0]))

    def _count_messages(self, session_id: str) -> int:
        return self.db.execute("SELECT count(*) FROM events WHERE session_id = ? AND type = 'message'",
                               (session_id,)).fetchone()[0]

    @_reports_damage
    def get(self, session_id: str) -> SessionInfo:
        """One session (a unique id prefix will do); a run whose process died shows as interrupted."""
        info = self._row(session_id)
        if info.status == "running" and not self.is_busy(info.id):
            self._mark_interrupted(info.id)
            info = self._row(info.id)
        return info

    @_reports_damage
    def list(self, limit: int | None = None) -> list[SessionInfo]:
        """Sessions, most recently updated first."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM sessions ORDER BY updated DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        rows = self.db.execute(sql).fetchall()
        counts = dict(self.db.execute("SELECT session_id, count(*) FROM events WHERE type = 'message' "
                                      "GROUP BY session_id").fetchall())
        out = []
        for row in rows:
            info = _info(row, counts.get(row[0], 0))
            if info.status == "running" and not self.is_busy(info.id):
                self._mark_interrupted(info.id)
                info = self._row(info.id)
            out.append(info)
        return out

    @_reports_damage
    def delete(self, session_id: str) -> None:
        info = self._row(session_id)
        holder = self.lock_holder(info.id)
        if holder is not None:
            raise SessionBusy(f"session {info.id} is being run by {holder}; stop that run before deleting it")
        with self.transaction() as db:
            db.execute("DELETE FROM events WHERE session_id = ?", (info.id,))
            db.execute("DELETE FROM sessions WHERE id = ?", (info.id,))
        try:
            (self.lock_dir / f"{info.id}.lock").unlink()
        except OSError:
            pass

    @_reports_damage
    def update(self, session_id: str, **fields: Any) -> None:
        bad = set(fields) - set(_COLUMNS)
        if bad:
            raise ValueError(f"unknown session fields: {', '.join(sorted(bad))}")
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        if fields.get("outcome") is not None and fields["outcome"] not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if "options" in fields:
            fields["options"] = json.dumps(fields["options"])
        fields.setdefault("updated", time.time())
        with self.transaction() as db:
            db.execute(f"UPDATE sessions SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                       (*fields.values(), session_id))

    # -- events --------------------------------------------------------------------------------

    @_reports_damage
    def events(self, session_id: str, *, upto_seq: int | None = None) -> list[dict[str, Any]]:
        """The session's events as ``Event.to_dict()`` data, in order."""
        sid = self._row(session_id).id
        sql = "SELECT seq, type, chat_id, ts, payload FROM events WHERE session_id = ?"
        params: tuple[Any, ...] = (sid,)
        if upto_seq is not None:
            sql += " AND seq <= ?"
            params += (upto_seq,)
        out: list[dict[str, Any]] = []
        for row in self.db.execute(sql + " ORDER BY seq", params):
            _event_dicts(row, out)
        return out

    @_reports_damage
    def append_events(self, session_id: str, events: Iterable[dict[str, Any]]) -> int:
        """Append event dicts (e.g. an import); returns how many."""
        with self.transaction() as db:
            seq = db.execute("SELECT coalesce(max(seq), 0) FROM events WHERE session_id = ?", (session_id,)).fetchone()[0]
            rows = []
            for data in events:
                seq += 1
                rows.append(_event_row(session_id, seq, data))
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    @_reports_damage
    def message_seq(self, session_id: str, at: str | int) -> tuple[int, str]:
        """The seq and id of a message, given its id (or a unique prefix) or its number (1 = first)."""
        sid = self._row(session_id).id
        rows = self.db.execute("SELECT seq, message_id FROM events WHERE session_id = ? AND type = 'message' "
                               "ORDER BY seq", (sid,)).fetchall()
        text = str(at)
        if text.isdigit():
            n = int(text)
            if not 1 <= n <= len(rows):
                raise SessionStoreError(f"session {sid} has {len(rows)} messages; there is no message {n}")
            return rows[n - 1]
        hits = [r for r in rows if r[1] == text] or [r for r in rows if r[1] and r[1].startswith(text)]
        if len(hits) != 1:
            raise SessionStoreError(f"session {sid}: no message {text!r}" if not hits else
                                    f"session {sid}: more than one message id starts with {text!r}")
        return hits[0]

    # -- fork, export, import -----------------------------------------------------------------

    @_reports_damage
    def fork(self, session_id: str, at: str | int, *, title: str | None = None) -> str:
        """A new session holding the events up to message ``at`` (an id or a number, 1 = first),
        linked to its parent; resume it to go on from there."""
        parent = self._row(session_id)
        seq, message_id = self.message_seq(parent.id, at)
        number = self.db.execute("SELECT count(*) FROM events WHERE session_id = ? AND type = 'message' AND seq <= ?",
                                 (parent.id, seq)).fetchone()[0]
        new_id = uuid.uuid4().hex[:12]
        now = time.time()
        reason = f"forked from session {parent.id} at message {number}"
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO sessions ({', '.join(_COLUMNS)}) SELECT ?, ?, team_name, team_text, task, models_source, "
                f"models_text, default_model, options, ?, ?, 'interrupted', ?, 'fork', id, ?, root_chat_id, NULL, ?, ?, "
                f"'interrupted' "
                f"FROM sessions WHERE id = ?",
                (new_id, title if title is not None else f"{parent.title} (fork at {number})", now, now, reason,
                 message_id, os.getpid(), socket.gethostname(), parent.id))
            # token deltas of a turn that had not finished at the fork point stay behind
            db.execute("INSERT INTO events SELECT ?, seq, type, chat_id, ts, message_id, payload FROM events "
                       "WHERE session_id = ? AND seq <= ?", (new_id, parent.id, seq))
        return new_id

    @_reports_damage
    def export(self, session_id: str, format: str = "json") -> str:
        """The session as JSON: its facts and raw events, which ``import_json`` takes back as is.

        The Markdown transcript is the engine's (reading events as turns is not storage):
        ``moot.agents.transcript.to_markdown(store.events(id), store.get(id))``."""
        if format != "json":
            raise ValueError(f"SessionStore.export: format must be json, not {format!r} (the Markdown transcript "
                             f"is moot.agents.transcript.to_markdown(events, info))")
        info = self.get(session_id)
        meta = info.to_dict()
        for private in ("messages", "pid", "host"):
            meta.pop(private, None)
        return json.dumps({"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "session": meta,
                           "events": self.events(info.id)}, ensure_ascii=False, indent=1)

    @_reports_damage
    def import_json(self, text: str) -> str:
        """Import a JSON export; returns the id (the original one unless it is taken).

        An export is someone else's record, so how its code ran is not kept: the session is marked
        ``options["imported"]`` and its executor and work dir are dropped. Resuming it takes those
        from the user's own team and flags, and its first code block waits for approval."""
        meta, events = _read_export(text)
        if not isinstance(meta, dict):
            raise SessionStoreError("not a moot session export: \"session\" must be an object")
        given = meta.get("options") if isinstance(meta.get("options"), dict) else {}
        options: dict[str, Any] = {k: v for k, v in given.items() if k in IMPORTED_OPTIONS and isinstance(v, str)}
        options["imported"] = {"at": time.time(), "id": str(meta.get("id") or "")[:64]}
        sid = meta.get("id") if isinstance(meta.get("id"), str) and _IMPORTED_ID.fullmatch(meta["id"]) else None
        sid = sid or uuid.uuid4().hex[:12]  # an id names a lock file: never a path
        if self.db.execute("SELECT 1 FROM sessions WHERE id = ?", (sid,)).fetchone():
            sid = uuid.uuid4().hex[:12]
        outcome = meta.get("outcome") if meta.get("outcome") in OUTCOMES else None
        status = meta.get("status") if meta.get("status") in STATUSES else "stopped"
        if status == "running" or outcome is None and status == "interrupted":
            status, outcome = "interrupted", "interrupted"
        elif outcome is None:
            outcome = "failed" if status == "failed" else "completed"
        status = STATUS_OF_OUTCOME[outcome]
        self.create_session(
            session_id=sid, title=meta.get("title") or "", team_name=meta.get("team_name"),
            team_text=meta.get("team_text"), task=meta.get("task"), models_source=meta.get("models_source"),
            models_text=meta.get("models_text"), default_model=meta.get("default_model"),
            options=options, status=status, root_chat_id=meta.get("root_chat_id"), outcome=outcome)
        self.update(sid, stop_reason=meta.get("stop_reason"), stop_condition=meta.get("stop_condition"),
                    interrupted_message_id=meta.get("interrupted_message_id"),
                    created=meta.get("created") or time.time(), updated=meta.get("updated") or time.time())
        self.append_events(sid, events)
        return sid

    def check(self) -> list[str]:
        """SQLite's integrity check of the whole file: [] when it is sound, else what is wrong."""
        try:
            rows = self.db.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            return [str(exc)]
        problems = [r[0] for r in rows if r[0] != "ok"]
        return problems

    # -- who runs a session -------------------------------------------------------------------

    def _lock_path(self, session_id: str) -> Path:
        return self.lock_dir / f"{session_id}.lock"

    def lock_holder(self, session_id: str) -> str | None:
        """Who holds the session (``"process 123 on host (moot run ...) since ..."``), or None."""
        if fcntl is None:
            return None
        path = self._lock_path(session_id)
        if not path.exists():
            return None
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                try:
                    return os.read(fd, 4096).decode("utf-8", "replace").strip() or "another process"
                except OSError:
                    return "another process"
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def is_busy(self, session_id: str) -> bool:
        return self.lock_holder(session_id) is not None

    def acquire(self, session_id: str) -> int | None:
        """Take the session's lock file (held until the returned fd is closed); SessionBusy names
        the process that holds it."""
        if fcntl is None:
            return None
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        path = self._lock_path(session_id)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another process"
            finally:
                os.close(fd)
            raise SessionBusy(f"session {session_id} is being run by {holder}. Wait for it to finish, or stop it; "
                              f"(lock file {path})") from None
        os.ftruncate(fd, 0)
        argv = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200]
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()} ({argv}) since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        return fd

    @staticmethod
    def release(fd: int | None) -> None:
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _mark_interrupted(self, session_id: str) -> None:
        """A session whose process died: status interrupted; a turn that was streaming is named."""
        with self.transaction() as db:
            row = db.execute("SELECT status FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None or row[0] != "running":
                return
            posted = {r[0] for r in db.execute("SELECT message_id FROM events WHERE session_id = ? AND type = 'message'",
                                               (session_id,))}
            last = db.execute("SELECT message_id, payload FROM events WHERE session_id = ? AND type = 'token_delta' "
                              "ORDER BY seq DESC LIMIT 1", (session_id,)).fetchone()
            partial = last[0] if last is not None and last[0] not in posted else None
            if partial is not None:
                agent = json.loads(last[1]).get("agent", "an agent")
                reason = f"the process died while {agent} was replying; that reply was cut off and is marked interrupted"
            else:
                reason = "the process died before the chat stopped"
            db.execute("UPDATE sessions SET status = 'interrupted', outcome = 'interrupted', stop_reason = ?, "
                       "stop_condition = 'interrupted', interrupted_message_id = ?, updated = ? WHERE id = ?",
                       (reason, partial, time.time(), session_id))

    # -- recording ------------------------------------------------------------------------------

    @_reports_damage
    def recorder(self, title: str = "", team: Any = None, task: str | None = None, *, models: Any = None,
                 options: dict[str, Any] | None = None, session_id: str | None = None,
                 root_chat_id: str | None = None, secret_names: Iterable[str] = ()) -> SessionRecorder:
        """A sink for a chat's event stream that appends every event to a session.

        ``team``: a ``Team`` (its name and file text are kept, so the session can be resumed) or
        a name. ``models``: the ``ModelsConfig`` in use (its source and text, without key lines).
        ``session_id``: continue an existing session (resume) instead of creating one.
        """
        if session_id is not None:
            info = self._row(session_id)
            fd = self.acquire(info.id)
            try:
                self.update(info.id, pid=os.getpid(), host=socket.gethostname())
            except BaseException:
                self.release(fd)
                raise
            return SessionRecorder(self, info.id, fd, root_chat_id=root_chat_id or info.root_chat_id, running=False,
                                   secret_names=secret_names)
        team_name = team_text = None
        if team is not None and not isinstance(team, str):
            team_name = getattr(team, "name", None)
            team_text = getattr(team, "text", None)
            source = getattr(team, "source", None)
            if team_text is None and source and Path(source).is_file():
                team_text = Path(source).read_text(encoding="utf-8")
        elif isinstance(team, str):
            team_name = team
        models_source = models_text = default_model = None
        if models is not None:
            models_source = str(getattr(models, "source", "") or "") or None
            default_model = getattr(models, "default", None)
            if models_source and Path(models_source).is_file():
                models_text = Path(models_source).read_text(encoding="utf-8")
        sid = self.create_session(title=title, team_name=team_name, team_text=team_text, task=task,
                                  models_source=models_source, models_text=models_text, default_model=default_model,
                                  options=options, root_chat_id=root_chat_id)
        fd = self.acquire(sid)
        names = [*secret_names, *(m.api_key_env for m in getattr(models, "models", {}).values()
                                  if getattr(m, "api_key_env", None))]
        return SessionRecorder(self, sid, fd, root_chat_id=root_chat_id, secret_names=names)


class SessionRecorder:
    """Appends a chat's events to one session: ``recorder(event)`` for each, then ``close()``.

    Cheap for the chat: ``recorder(event)`` only queues the event. A writer thread with its own
    connection turns queued events into rows and commits them as soon as a message is posted
    (or a tool result, an execution, a stop...), else at least every 100 ms, without fsync (WAL
    with synchronous=NORMAL loses nothing committed when a process dies). SQLite runs without
    the GIL, so the writing overlaps the chat. A posted message's row also holds the events of
    its turn (speaker choice, usage, its token deltas merged), so a turn costs one row, not four;
    ``SessionStore.events`` reads them back as separate events. No work grows with the history.
    """

    def __init__(self, store: SessionStore, session_id: str, lock_fd: int | None, root_chat_id: str | None = None,
                 running: bool = True, secret_names: Iterable[str] = ()):
        self.store = store
        self.session_id = session_id
        self._fd = lock_fd
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._written = 0  # events committed (the writer thread counts them)
        self._recorded = 0  # events handed to the recorder (the recording thread counts them)
        self._closing = False
        self._flush_now = False
        self._error: BaseException | None = None
        self._db = store._new_connection()
        self._seq = self._db.execute("SELECT coalesce(max(seq), 0) FROM events WHERE session_id = ?",
                                     (session_id,)).fetchone()[0]
        self.root_chat_id = root_chat_id
        self._root_known = root_chat_id is not None
        self._open_mid: str | None = None  # a reply streaming and not yet posted
        self._stopped: dict[str, Any] | None = None  # the root chat's last Stopped event
        self._running = running  # a run is open: its outcome is not written yet
        self._closed = False
        self._secrets = secret_values(secret_names)  # every key moot knows of, longest first
        self._dumps = _dumps
        self._thread = threading.Thread(target=self._writer, name=f"moot-session-{session_id}", daemon=True)
        self._thread.start()

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(self, kind: Any, *rest: Any) -> None:
        self.close(interrupted=kind is not None)

    def __call__(self, event: Any) -> None:
        kind = event.type
        self._queue.append(event)
        self._recorded += 1
        if kind == "token_delta":
            self._open_mid = event.message_id
            return
        if kind == "message":
            if event.message_id == self._open_mid:
                self._open_mid = None
        elif kind == "chat_started":
            if not self._root_known and not event.parent_chat_id:
                self.root_chat_id = event.chat_id
                self._root_known = True
        elif kind == "stopped" and event.chat_id == self.root_chat_id:
            self._stopped = {"reason": event.reason, "condition": event.condition,
                             "outcome": getattr(event, "outcome", None) or None}
        if kind in _COMMIT_AT and not self._wake.is_set():  # setting it again would cost a lock
            self._wake.set()

    # the writer thread

    def _clean(self, text: str) -> str:
        for value, name in self._secrets:
            if value in text:
                text = text.replace(value, f"[${name} redacted]")
        return text

    def _rows(self, events: list[Any]) -> tuple[list[tuple[Any, ...]], str | None]:
        """The rows for a batch of events: one per posted message, holding the events of its
        turn that came before it in the batch (see ``_event_dicts``); token deltas of one
        message merged; every other event that commits (a stop, a tool result...) a row of its
        own, after the events waiting for a message."""
        rows: list[tuple[Any, ...]] = []
        root = None
        delta: list[Any] | None = None  # [message_id, chat_id, ts, agent, [texts], where in waiting]
        waiting: list[dict[str, Any]] = []  # events for the next message row
        sid = self.session_id
        dumps = self._dumps
        clean = self._clean if self._secrets else None

        def add(kind: str, chat_id: str, ts: float, mid: str | None, data: dict[str, Any]) -> None:
            payload = dumps(data)
            self._seq += 1
            rows.append((sid, self._seq, kind, chat_id, ts, mid, clean(payload) if clean else payload))

        def delta_event() -> dict[str, Any]:
            mid, chat_id, ts, agent, texts, _ = delta  # type: ignore[misc]
            return {"type": "token_delta", "chat_id": chat_id, "ts": ts, "agent": agent, "message_id": mid,
                    "text": "".join(texts)}

        def flush_waiting() -> None:
            for e in waiting:
                kind = e.pop("type")
                chat_id, ts = e.pop("chat_id"), e.pop("ts")
                add(kind, chat_id, ts, e.get("message_id") if kind == "token_delta" else None, e)
            waiting.clear()

        for event in events:
            kind = event.type
            if kind == "token_delta":
                if delta is not None:
                    if delta[0] == event.message_id:
                        delta[4].append(event.text)
                        continue
                    waiting.insert(delta[5], delta_event())
                delta = [event.message_id, event.chat_id, event.ts, event.agent, [event.text], len(waiting)]
                continue
            data = _payload(event)
            chat_id, ts = event.chat_id, event.ts
            if kind == "message":
                if delta is not None:
                    texts = delta[4]
                    text = texts[0] if len(texts) == 1 else "".join(texts)
                    if (delta[0] == event.message_id and delta[1] == chat_id and delta[3] == event.sender
                            and text == event.content):  # the reply streamed as posted: its time is enough
                        waiting.insert(delta[5], {"type": "token_delta", "ts": delta[2]})
                    else:
                        waiting.insert(delta[5], delta_event())
                    delta = None
                if waiting:
                    data["_turn"] = waiting
                    waiting = []
                add(kind, chat_id, ts, event.message_id, data)
                continue
            if delta is not None and kind in _COMMIT_AT:  # a reply cut short by a stop, an error...
                waiting.insert(delta[5], delta_event())
                delta = None
            if kind in _COMMIT_AT:
                flush_waiting()
                if kind == "chat_started" and chat_id == self.root_chat_id:
                    root = chat_id
                add(kind, chat_id, ts, None, data)
            else:
                waiting.append({"type": kind, "chat_id": chat_id, "ts": ts, **data})
        if delta is not None:
            waiting.insert(delta[5], delta_event())
        flush_waiting()
        return rows, root

    def _write_batch(self) -> None:
        queue = self._queue
        events = []
        while queue:
            events.append(queue.popleft())
        if not events:
            return
        rows, root = self._rows(events)
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            if root is not None:
                db.execute("UPDATE sessions SET root_chat_id = ? WHERE id = ?", (root, self.session_id))
            db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (time.time(), self.session_id))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        with self._idle:
            self._written += len(events)
            self._idle.notify_all()

    def _writer(self) -> None:
        try:
            last = 0.0
            while True:
                self._wake.wait(FLUSH_EVERY_S)
                gap = time.monotonic() - last
                if gap < MIN_COMMIT_GAP_S and not self._closing and not self._flush_now:
                    time.sleep(MIN_COMMIT_GAP_S - gap)
                self._wake.clear()
                self._flush_now = False
                closing = self._closing
                self._write_batch()
                last = time.monotonic()
                if closing and not self._queue:
                    return
        except BaseException as exc:  # reported by the next flush() / close()
            self._error = exc
            with self._idle:
                self._idle.notify_all()

    def _check(self) -> None:
        if self._error is not None:
            raise SessionStoreError(f"session store {self.store.path}: recording session {self.session_id} "
                                    f"failed: {self._error}") from self._error

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every event recorded so far is committed (the partial reply in flight too)."""
        self._check()
        # Not "written + queued": a batch the writer has taken off the queue but not yet
        # committed is in neither, and flush() would return before it lands.
        target = self._recorded
        self._flush_now = True
        self._wake.set()
        with self._idle:
            self._idle.wait_for(lambda: self._written >= target or self._error is not None or
                                not self._thread.is_alive(), timeout)
        self._check()

    def begin_run(self) -> None:
        """A run of the session starts: it shows as running until ``end_run`` (a process that
        dies meanwhile leaves it interrupted, since its lock is gone)."""
        self._check()
        self._stopped = None
        self._running = True
        self.store.update(self.session_id, status="running", outcome=None, stop_reason=None, stop_condition=None,
                          interrupted_message_id=None)

    def end_run(self, outcome: str | None = None, reason: str | None = None, condition: str | None = None) -> None:
        """The run ended: write what is queued, then its outcome (by default the one the root
        chat's ``Stopped`` event carries; none seen means the run was interrupted)."""
        self.flush()
        self._finish(outcome, reason, condition)

    def _finish(self, outcome: str | None, reason: str | None, condition: str | None) -> None:
        stopped = self._stopped or {}
        if outcome is None:
            outcome = stopped.get("outcome") or "interrupted"
        if outcome == "interrupted" and not stopped:
            condition = condition or "interrupted"
            reason = reason or "the run ended before the chat stopped"
        self.store.update(self.session_id, status=STATUS_OF_OUTCOME[outcome], outcome=outcome,
                          stop_reason=reason or stopped.get("reason"), stop_condition=condition or stopped.get("condition"),
                          interrupted_message_id=self._open_mid if outcome == "interrupted" else None)
        self._running = False

    def close(self, outcome: str | None = None, reason: str | None = None, condition: str | None = None, *,
              interrupted: bool = False) -> None:
        """Write what is left and let the session go. A run still open ends here: with
        ``outcome`` if given, else ``interrupted`` when asked (or when the chat never said it
        stopped), else the outcome its ``Stopped`` event carried."""
        if self._closed:
            return
        self._closed = True
        try:
            self._closing = True
            self._wake.set()
            self._thread.join()
            self._check()
            if self._running or outcome is not None:
                if interrupted and outcome is None:
                    self._stopped = None
                self._finish(outcome, reason, condition)
        finally:
            self._db.close()
            self.store.release(self._fd)
            self._fd = None
