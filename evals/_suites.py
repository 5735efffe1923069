"""Suites: what an eval runs, task by task, and how each finished task is scored.

A ``Suite`` lists its ``EvalTask``s and scores one: by default it runs the task as one recorded
``Session`` of the team (``run``) and reads the finished session's events (``score``). A suite
that needs more (two sessions, tools for the model) overrides ``team``, ``prepare`` or ``run``,
always through the Session's and the agents' public methods.

``--team bare`` is the model alone: a user that sends the task and one assistant reply
(``bare_team``), for comparing a team with its model.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moot.agents import Session, a_replay_session, load_team, parse_team
from moot.backends import ConfigError, ModelsConfig

from ._checks import CHECKS, ExprError, RunView, check_expr, run_checks

__all__ = ["BARE", "EvalTask", "JsonlSuite", "Score", "Suite", "SuiteError", "TaskContext", "bare_team"]

BARE = "bare"
_SKIPPED = frozenset({"token_delta", "reasoning_delta"})  # a score never needs the stream pieces


class SuiteError(ValueError):
    """A suite that cannot be read or does not exist: the message names the file, line and field."""


@dataclass
class EvalTask:
    id: str
    prompt: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Score:
    passed: bool
    kind: str = ""  # why not, in a word
    detail: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskContext:
    """What one run of one task works with: its own models config (seeded), session store and
    work dir; the sessions it starts are listed in ``sessions`` as they start."""

    run_id: str
    task: EvalTask
    repeat: int
    team: str
    config: ModelsConfig
    store: Any
    work_dir: str
    executor: str | None = None
    sessions: list[str] = field(default_factory=list)
    views: list[RunView] = field(default_factory=list)
    #: makes each session's models from ``config`` (a registry whose llama.cpp models a Ray actor
    #: serves); ``None``: the session makes its own from ``config``
    registry: Callable[[ModelsConfig], Any] | None = None

    def title(self) -> str:
        return f"eval {self.run_id}: {self.task.id} #{self.repeat + 1}"


def bare_team(config: ModelsConfig, system_message: str) -> Any:
    """The model alone, one shot: ``user`` sends the task, ``assistant`` replies once."""
    text = (
        'schema_version = 1\nname = "bare"\ndescription = "The model alone, one shot."\n\n'
        '[[members]]\nname = "user"\nrole = "user_proxy"\nhuman_input_mode = "NEVER"\ncode_execution = false\n\n'
        f'[[members]]\nname = "assistant"\nrole = "assistant"\nsystem_message = {json.dumps(system_message)}\n\n'
        '[chat]\ninitiator = "user"\nmax_turns = 1\n\n[termination]\nstall = false\n')
    return parse_team(text, "the bare team (moot eval)", config)


class Suite:
    """A set of tasks and how to score one. Subclasses set ``name`` and fill ``tasks``."""

    name = "suite"
    description = ""
    #: the bare team's system message for this suite
    bare_system = "You are a helpful assistant. Answer the task."

    def __init__(self) -> None:
        self._tasks: list[EvalTask] | None = None

    def load(self) -> list[EvalTask]:
        raise NotImplementedError

    def tasks(self) -> list[EvalTask]:
        if self._tasks is None:
            self._tasks = self.load()
        return self._tasks

    def task(self, task_id: str) -> EvalTask:
        for t in self.tasks():
            if t.id == task_id:
                return t
        raise SuiteError(f"suite {self.name}: no task {task_id!r}")

    # -- running one task

    def team(self, ctx: TaskContext) -> Any:
        if ctx.team == BARE:
            return bare_team(ctx.config, self.bare_system)
        return load_team(ctx.team, ctx.config)

    def prompt(self, ctx: TaskContext) -> str:
        return ctx.task.prompt

    def prepare(self, ctx: TaskContext, session: Session) -> None:
        """Called once the session is made, before it runs (offer tools, ...)."""

    async def session(self, ctx: TaskContext, team: Any, prompt: str,
                      prepare: Callable[[Session], None] | None = None) -> RunView:
        """Run one recorded session of ``team`` on ``prompt`` to its stop; its view."""
        models = ctx.config if ctx.registry is None else ctx.registry(ctx.config)
        session = Session.start(team, prompt, models=models, store=ctx.store, work_dir=ctx.work_dir,
                                executor=ctx.executor, human_input_mode="NEVER", title=ctx.title())
        ctx.sessions.append(session.id)
        if prepare is not None:
            prepare(session)
        events: list[dict[str, Any]] = []
        async with session:
            async for event in session.stream():
                if event.type not in _SKIPPED:
                    events.append(event.to_dict())
        view = RunView.of(events)
        ctx.views.append(view)
        return view

    async def run(self, ctx: TaskContext) -> Score:
        view = await self.session(ctx, self.team(ctx), self.prompt(ctx), lambda s: self.prepare(ctx, s))
        return await self.score(ctx, view)

    async def replay(self, ctx: TaskContext, sessions: list[str]) -> Score:
        """Score the task again from recorded sessions: each is replayed with the scripted backend
        serving its recorded replies (no model), then scored as ``run`` scores."""
        view = None
        for sid in sessions:
            old = ctx.store.get(sid)
            result = await a_replay_session(sid, store=ctx.store, approve_imported_code=True, memory=ctx.config.memory)
            ctx.sessions.append(result.session_id)
            events = [e for e in ctx.store.events(result.session_id) if e["type"] not in _SKIPPED]
            view = RunView.of(events)
            ctx.views.append(view)
            work = (old.options or {}).get("work_dir") or ""
            if Path(work).name.startswith("moot-eval-") and Path(work).parent == Path(tempfile.gettempdir()):
                shutil.rmtree(work, ignore_errors=True)  # the replay made the recorded work dir again
        if view is None:
            return Score(False, "error", "nothing was recorded for this task")
        return await self.score(ctx, view)

    async def score(self, ctx: TaskContext, view: RunView) -> Score:
        raise NotImplementedError


# -- a user suite: one task a line ----------------------------------------------------------------

_FIELDS = ("id", "task", *CHECKS)


class JsonlSuite(Suite):
    """A user suite: a JSONL file, one task a line::

        {"id": "sum", "task": "print the sum of 1..10", "contains": "55", "exit_code": 0}

    Checks (all must hold): ``contains`` (text in the transcript), ``regex`` (searched over the
    transcript, multi-line), ``exit_code`` (of the last code execution) and ``expr`` (a Python
    expression over ``transcript``, ``final``, ``exit_code``, ``messages``, ``outputs``,
    ``stop``, ``outcome``, ``tokens``, evaluated by a whitelisting walker, never ``eval``)."""

    description = "a JSONL file of tasks and checks"

    def __init__(self, path: str | Path):
        super().__init__()
        self.path = Path(path)
        self.name = str(path)

    def load(self) -> list[EvalTask]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SuiteError(f"{self.path}: cannot read the suite: {exc}") from None
        tasks: list[EvalTask] = []
        seen: dict[str, int] = {}
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{self.path}:{number}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SuiteError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
            if not isinstance(entry, dict):
                raise SuiteError(f"{where}: a task is a JSON object ({{\"id\": ..., \"task\": ..., checks}}), "
                                 f"not {type(entry).__name__}")
            tasks.append(self._task(entry, where, seen, number))
        if not tasks:
            raise SuiteError(f"{self.path}: the suite holds no tasks")
        return tasks

    @staticmethod
    def _task(entry: dict[str, Any], where: str, seen: dict[str, int], number: int) -> EvalTask:
        unknown = [k for k in entry if k not in _FIELDS]
        if unknown:
            raise SuiteError(f"{where}: field {unknown[0]!r}: unknown (fields: {', '.join(_FIELDS)})")
        for name in ("id", "task"):
            if name not in entry:
                raise SuiteError(f"{where}: field {name!r}: missing")
        if not isinstance(entry["id"], (str, int)) or isinstance(entry["id"], bool) or str(entry["id"]) == "":
            raise SuiteError(f"{where}: field 'id': must be a non-empty string or a number")
        tid = str(entry["id"])
        if tid in seen:
            raise SuiteError(f"{where}: field 'id': {tid!r} is already the id of line {seen[tid]}")
        seen[tid] = number
        if not isinstance(entry["task"], str) or not entry["task"].strip():
            raise SuiteError(f"{where}: field 'task': must be the task's text (a non-empty string)")
        checks = {k: entry[k] for k in CHECKS if k in entry}
        if not checks:
            raise SuiteError(f"{where}: no check: give at least one of {', '.join(CHECKS)}")
        for name in ("contains", "regex", "expr"):
            if name in checks and not isinstance(checks[name], str):
                raise SuiteError(f"{where}: field {name!r}: must be a string")
        if "exit_code" in checks and (not isinstance(checks["exit_code"], int) or isinstance(checks["exit_code"], bool)):
            raise SuiteError(f"{where}: field 'exit_code': must be an integer")
        if "regex" in checks:
            try:
                re.compile(checks["regex"])
            except re.error as exc:
                raise SuiteError(f"{where}: field 'regex': not a regular expression ({exc})") from None
        if "expr" in checks:
            try:
                check_expr(checks["expr"])
            except ExprError as exc:
                raise SuiteError(f"{where}: field 'expr': {exc}") from None
        return EvalTask(tid, entry["task"], {"checks": checks})

    async def score(self, ctx: TaskContext, view: RunView) -> Score:
        passed, why = run_checks(ctx.task.data["checks"], view)
        return Score(passed, "" if passed else "check", why)


def config_problem(exc: ConfigError) -> str:
    return "; ".join(exc.problems)
