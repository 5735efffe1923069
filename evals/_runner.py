"""One task of an eval, run and scored: what every runner (the local pool, Ray) executes.

``RunSpec`` is everything a worker needs to run any task of a run (plain values, so it crosses to
a process or a Ray task); ``run_task(spec, job)`` builds the task's own models config (the
``--model`` as default, the seed of its repeat), its own work dir and session store connection,
runs it under the task's timeout and hands back a ``TaskResult``. Nothing here raises for a task
that fails: a model error, a broken team, a timeout are all results, so the eval goes on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any

from moot.backends import ConfigError, ModelsConfig, load_models
from moot.backends.config import scripted_models

from ._registry import load_suite
from ._store import TaskResult
from ._suites import Score, SuiteError, TaskContext

__all__ = ["Job", "RunSpec", "a_run_task", "models_for", "run_task"]

DEFAULT_TIMEOUT_S = 600.0


@dataclass
class RunSpec:
    run_id: str
    suite: str
    team: str
    models: str | None = None  # a models.toml path (None: the lookup order)
    model: str | None = None  # the models.toml name every member without its own model uses
    seed: int | None = None
    record: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    executor: str | None = None
    tool_call_mode: str | None = None  # native | grammar | text, for every model that takes one
    env: dict[str, str] = field(default_factory=dict)  # set in the worker before anything runs (Ray: MOOT_HOME)


@dataclass
class Job:
    task_id: str
    repeat: int
    replay: list[str] | None = None  # sessions to replay instead of calling a model
    recording: str | None = None  # their JSON export, imported when the session store lacks them


def models_for(spec: RunSpec, repeat: int, config: ModelsConfig | None = None) -> ModelsConfig:
    """The models config of one repeat: the default model, the seed and the tool-call mode."""
    config = config or load_models(spec.models)
    if spec.model:
        config.get(spec.model)  # an unknown name: a ConfigError naming the models there are
        config = dataclasses.replace(config, default=spec.model)
    updates: dict[str, dict[str, Any]] = {}
    for name, m in config.models.items():
        change: dict[str, Any] = {}
        if spec.seed is not None:
            change["seed"] = spec.seed + repeat
        if spec.tool_call_mode and m.backend in ("llama_cpp", "ollama", "openai") and (
                spec.tool_call_mode != "grammar" or m.backend == "llama_cpp"):
            change["tool_call_mode"] = spec.tool_call_mode
        if change:
            updates[name] = change
    if updates:
        models = {n: (m.model_copy(update=updates[n]) if n in updates else m) for n, m in config.models.items()}
        config = dataclasses.replace(config, models=models)
    return config


def _import_recording(store: Any, job: Job) -> list[str]:
    """The sessions to replay: those of the store, else imported from the recording."""
    sessions = list(job.replay or ())
    missing = []
    for sid in sessions:
        try:
            store.get(sid)
        except Exception:
            missing.append(sid)
    if missing and job.recording:
        imported = []
        for text in _json_list(job.recording):
            imported.append(store.import_json(text))
        return imported
    if missing:
        raise SuiteError(f"session {missing[0]} of the recorded run is gone from the session store and the run "
                         f"kept no recording of it (run the eval with --record to keep one)")
    return sessions


def _json_list(text: str) -> list[str]:
    value = json.loads(text)
    return [json.dumps(v) for v in value] if isinstance(value, list) else [text]


async def a_run_task(spec: RunSpec, job: Job, *, store: Any = None, config: ModelsConfig | None = None,
                     registry: Callable[[ModelsConfig], Any] | None = None) -> TaskResult:
    """Run and score one task; every failure is a result (``kind``: timeout, config, error...).
    ``registry(config)``: the models of each session the task starts (the Ray runner's, whose
    llama.cpp models are served by actors); by default each session makes its own."""
    from moot.memory import SessionStore

    started = time.perf_counter()
    result = TaskResult(job.task_id, job.repeat, False)
    own_store = store is None
    store = store or SessionStore.open_default()
    work_dir = tempfile.mkdtemp(prefix=f"moot-eval-{spec.run_id[-6:]}-")
    ctx = None
    try:
        suite = load_suite(spec.suite)
        task = suite.task(job.task_id)
        if spec.seed is not None:
            random.seed(spec.seed + job.repeat)
        if job.replay is not None:  # the replay serves the recorded answers: no model config is read
            config = scripted_models({"replay": [""]}, source="a replay (moot eval)")
        else:
            config = models_for(spec, job.repeat, config)
        ctx = TaskContext(spec.run_id, task, job.repeat, spec.team, config, store, work_dir, spec.executor,
                          registry=None if job.replay is not None else registry)
        if job.replay is not None:
            work = suite.replay(ctx, _import_recording(store, job))
        else:
            work = suite.run(ctx)
        score = await asyncio.wait_for(work, spec.timeout_s)
    except (asyncio.TimeoutError, TimeoutError):
        score = Score(False, "timeout", f"stopped after {spec.timeout_s:g} s (the task's timeout)")
    except ConfigError as exc:
        score = Score(False, "config", "; ".join(exc.problems))
    except SuiteError as exc:
        score = Score(False, "suite", str(exc))
    except Exception as exc:  # the engine or the suite broke on this task: the eval goes on
        last = traceback.extract_tb(exc.__traceback__)[-1:] or [None]
        where = f" ({last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last[0] else ""
        score = Score(False, "error", f"{type(exc).__name__}: {exc}{where}")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    result.passed, result.kind, result.detail, result.metrics = score.passed, score.kind, score.detail, score.metrics
    if ctx is not None:
        result.session = ctx.sessions[-1] if ctx.sessions else ""
        if len(ctx.sessions) > 1:
            result.metrics = {**result.metrics, "sessions": list(ctx.sessions)}
        for view in ctx.views:
            result.prompt_tokens += view.prompt_tokens
            result.completion_tokens += view.completion_tokens
        if ctx.views:
            result.outcome, result.stop = ctx.views[-1].outcome, ctx.views[-1].stop
        if not result.outcome and ctx.sessions:  # stopped before the session said how it ended
            info = store.get(ctx.sessions[-1])
            result.outcome, result.stop = info.outcome or "interrupted", info.stop_condition or ""
        if spec.record and ctx.sessions:
            result.recording = json.dumps([json.loads(store.export(s, "json")) for s in ctx.sessions])
    if result.passed:
        result.kind = ""
    elif not result.kind:
        result.kind = "failed"
    result.wall_s = time.perf_counter() - started
    if own_store:
        store.close()
    return result


def run_task(spec: RunSpec, job: Job, registry: Callable[[ModelsConfig], Any] | None = None) -> TaskResult:
    """Sync form of ``a_run_task`` (what a worker process or a Ray task calls)."""
    os.environ.update(spec.env)
    return asyncio.run(a_run_task(spec, job, registry=registry))
