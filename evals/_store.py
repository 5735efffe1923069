"""The eval table: every eval run and the result of each of its tasks, in SQLite under the data dir.

``evals.db`` sits beside ``sessions.db`` (``moot.paths.data_dir``); each result names the session
its task ran as, so ``moot sessions show ID`` opens it. A run lists every task it will run when it
starts (``planned``), and a result is written the moment a task is scored, so an eval killed
mid-way is finished by ``--resume RUN``: the planned keys without a result. Only the process that
drives the eval writes (workers hand their results back), so one connection is enough.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from moot.paths import data_dir

__all__ = ["DB_NAME", "EvalRun", "EvalStore", "EvalStoreError", "TaskResult"]

DB_NAME = "evals.db"


class EvalStoreError(Exception):
    """The eval table cannot be used, or names no such run: the message says what to do."""


@dataclass
class TaskResult:
    """One scored task of one run: ``(task_id, repeat)`` is its key within the run."""

    task_id: str
    repeat: int
    passed: bool
    kind: str = ""  # why it failed, in a word ("check", "timeout", "error", "invalid_call", ...); "" when passed
    detail: str = ""
    session: str = ""  # the session it ran as ("" when it never started)
    outcome: str = ""  # completed | failed | cancelled | interrupted
    stop: str = ""  # the stop condition
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)  # suite-specific (bfcl: valid_json, ...)
    recording: str | None = None  # the session's JSON export (--record), so --replay needs no model

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("recording")
        out["id"] = out.pop("task_id")
        return out


@dataclass
class EvalRun:
    id: str
    suite: str
    team: str
    model: str | None
    options: dict[str, Any]
    created: float
    finished: float | None
    planned: list[tuple[str, int]]

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.id, "suite": self.suite, "team": self.team, "model": self.model,
                "options": self.options, "created": self.created, "finished": self.finished,
                "planned": len(self.planned)}


_SCHEMA = [
    """CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        suite TEXT NOT NULL,
        team TEXT NOT NULL,
        model TEXT,
        options TEXT NOT NULL DEFAULT '{}',
        planned TEXT NOT NULL DEFAULT '[]',
        created REAL NOT NULL,
        finished REAL
    )""",
    """CREATE TABLE results (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        task_id TEXT NOT NULL,
        repeat INTEGER NOT NULL,
        passed INTEGER NOT NULL,
        kind TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        session TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL DEFAULT '',
        stop TEXT NOT NULL DEFAULT '',
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        wall_s REAL NOT NULL DEFAULT 0,
        metrics TEXT NOT NULL DEFAULT '{}',
        recording TEXT,
        created REAL NOT NULL,
        PRIMARY KEY (run_id, task_id, repeat)
    )""",
]
SCHEMA_VERSION = 1


class EvalStore:
    """The eval table at ``path`` (default: ``data_dir()/evals.db``)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # The file is never opened but by SQLite: closing another handle of it in this process would
        # drop SQLite's POSIX locks, and another process could then checkpoint and delete the WAL
        # this one still writes to. A file that is not SQLite's fails the first query, untouched.
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA busy_timeout = 30000")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise EvalStoreError(f"eval table {self.path}: written by a newer moot (schema {version}); "
                                     f"upgrade moot or set $MOOT_HOME to another folder")
            if version < SCHEMA_VERSION:
                self.db.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                self.db.execute("COMMIT")
                os.chmod(self.path, 0o600)
        except sqlite3.DatabaseError as exc:
            raise EvalStoreError(f"eval table {self.path}: SQLite cannot use it ({exc}); moot will not overwrite "
                                 f"it. Move it aside to start a new one.") from None

    @classmethod
    def open_default(cls) -> EvalStore:
        return cls(data_dir() / DB_NAME)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> EvalStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- runs

    def create_run(self, *, suite: str, team: str, model: str | None, options: dict[str, Any],
                   planned: list[tuple[str, int]]) -> str:
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        self.db.execute("INSERT INTO runs (id, suite, team, model, options, planned, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (run_id, suite, team, model, json.dumps(options), json.dumps(planned), time.time()))
        return run_id

    def finish_run(self, run_id: str) -> None:
        self.db.execute("UPDATE runs SET finished = ? WHERE id = ?", (time.time(), run_id))

    def _run(self, row: tuple[Any, ...]) -> EvalRun:
        return EvalRun(row[0], row[1], row[2], row[3], json.loads(row[4]), row[6], row[7],
                       [(t, int(r)) for t, r in json.loads(row[5])])

    def get(self, run_id: str) -> EvalRun:
        rows = self.db.execute("SELECT id, suite, team, model, options, planned, created, finished FROM runs "
                               "WHERE id = ? OR id LIKE ? ORDER BY created", (run_id, run_id + "%")).fetchall()
        exact = [r for r in rows if r[0] == run_id]
        if exact:
            return self._run(exact[0])
        if len(rows) == 1:
            return self._run(rows[0])
        if rows:
            raise EvalStoreError(f"eval run {run_id!r} is ambiguous: {', '.join(r[0] for r in rows)}")
        raise EvalStoreError(f"no eval run {run_id!r} in {self.path} (moot eval list shows the runs)")

    def list(self, limit: int | None = None) -> list[EvalRun]:
        sql = "SELECT id, suite, team, model, options, planned, created, finished FROM runs ORDER BY created DESC"
        rows = self.db.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        return [self._run(r) for r in rows]

    # -- results

    def add_result(self, run_id: str, r: TaskResult) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO results (run_id, task_id, repeat, passed, kind, detail, session, outcome, stop, "
            "prompt_tokens, completion_tokens, wall_s, metrics, recording, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, r.task_id, r.repeat, int(r.passed), r.kind, r.detail, r.session, r.outcome, r.stop,
             r.prompt_tokens, r.completion_tokens, r.wall_s, json.dumps(r.metrics), r.recording, time.time()))

    def results(self, run_id: str, *, recordings: bool = False) -> list[TaskResult]:
        rows = self.db.execute(
            "SELECT task_id, repeat, passed, kind, detail, session, outcome, stop, prompt_tokens, completion_tokens, "
            f"wall_s, metrics, {'recording' if recordings else 'NULL'} FROM results WHERE run_id = ? "
            "ORDER BY created, task_id, repeat", (run_id,)).fetchall()
        return [TaskResult(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], json.loads(r[11]),
                           r[12]) for r in rows]

    def missing(self, run_id: str) -> list[tuple[str, int]]:
        """The planned tasks of a run that have no result yet (what ``--resume`` runs)."""
        run = self.get(run_id)
        done = {(t, r) for t, r in self.db.execute("SELECT task_id, repeat FROM results WHERE run_id = ?", (run.id,))}
        return [key for key in run.planned if key not in done]
