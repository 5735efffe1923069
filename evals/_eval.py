"""``run_eval``: plan an eval run, hand its tasks to a runner, store each result as it comes.

    summary = run_eval("humaneval", "coder", limit=40, parallel=2, record=True)
    summary.pass_rate, summary.interval

A new run lists every (task, repeat) it will run before the first starts; ``resume=RUN`` runs
only those without a result, with the run's own settings (its plan keeps its ``limit`` and
``repeat``); a ``limit`` or ``repeat`` given with it narrows that to the missing tasks among the
run's first ``limit`` tasks and its first ``repeat`` repeats (the run stays unfinished until the
rest is run too). ``replay=RUN`` is a new run of the same
tasks scored from RUN's recorded sessions, with the scripted backend serving their model answers
(no model is loaded), so its scores are RUN's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from moot.agents import load_team

from ._local import run_local
from ._otel import tracer_from
from ._registry import load_suite
from ._runner import DEFAULT_TIMEOUT_S, Job, RunSpec, models_for
from ._report import Summary, summarise
from ._store import EvalStore, EvalStoreError, TaskResult
from ._suites import BARE

__all__ = ["run_eval"]

OnResult = Callable[[TaskResult, int, int], Any]  # (result, done, total)


def _session_of(result: TaskResult, spec: RunSpec) -> str:
    """The session of a task whose worker was killed (it could not say): found by its title."""
    from moot.memory import SessionStore

    title = f"eval {spec.run_id}: {result.task_id} #{result.repeat + 1}"
    with SessionStore.open_default() as store:
        return next((info.id for info in store.list(limit=100) if info.title == title), "")


def run_eval(suite: str, team: str | None = None, *, models: str | None = None, model: str | None = None,
             limit: int | None = None, repeat: int | None = None, parallel: int | None = None, runner: str | None = None,
             ray_address: str | None = None, seed: int | None = None, record: bool = False,
             replay: str | None = None, resume: str | None = None, timeout_s: float | None = None,
             executor: str | None = None, tool_call_mode: str | None = None, otel_file: str | None = None,
             otel_content: bool = False, store: EvalStore | None = None,
             on_start: Callable[[str, int], Any] | None = None, on_result: OnResult | None = None,
             on_summary: Callable[[Summary], Any] | None = None) -> Summary:
    """Run (or resume, or replay) an eval; returns its summary. ``on_start(run_id, total)`` and
    ``on_result(result, done, total)`` report progress. ``parallel``: worker processes (local,
    default 1) or tasks in flight (ray, default: the cluster's CPUs). ``otel_file``: OpenTelemetry spans of
    every task's sessions, as JSON lines (also sent to ``$OTEL_EXPORTER_OTLP_ENDPOINT`` when set);
    ``otel_content`` puts message contents in them."""
    own_store = store is None
    if resume or replay:
        store = store or EvalStore.open_default()
    if resume:
        run = store.get(resume)
        o = run.options
        spec = RunSpec(run.id, run.suite, run.team, o.get("models"), run.model, o.get("seed"), o.get("record", False),
                       o.get("timeout_s", DEFAULT_TIMEOUT_S), o.get("executor"), o.get("tool_call_mode"))
        order = list(dict.fromkeys(t for t, _ in run.planned))  # the run's tasks, in the suite's order
        within = set(order[:limit]) if limit else set(order)
        missing = store.missing(run.id)
        jobs = [Job(t, r) for t, r in missing if t in within and (not repeat or r < repeat)]
        if o.get("replay_of"):
            source = {(r.task_id, r.repeat): r for r in store.results(o["replay_of"], recordings=True)}
            jobs = [_replay_job(source.get((j.task_id, j.repeat)), j) for j in jobs]
        parallel = parallel or o.get("parallel", 1)
        runner = runner or o.get("runner")
    else:
        if replay:
            source_run = store.get(replay)
            recorded = store.results(source_run.id, recordings=True)
            if not recorded:
                raise EvalStoreError(f"eval run {source_run.id} has no results to replay")
            suite, team = source_run.suite, source_run.team
            o = source_run.options
            models, model, seed = o.get("models"), source_run.model, o.get("seed")
            timeout_s, executor = timeout_s or o.get("timeout_s"), executor or o.get("executor")
            tool_call_mode = None
            jobs = [_replay_job(r, Job(r.task_id, r.repeat)) for r in recorded]
            planned = [(j.task_id, j.repeat) for j in jobs]
        else:
            if not team:
                raise ValueError("an eval needs a team (--team NAME, or bare for the model alone)")
            tasks = load_suite(suite).tasks()[: limit if limit else None]
            planned = [(t.id, r) for r in range(max(1, repeat or 1)) for t in tasks]
            jobs = [Job(t, r) for t, r in planned]
        if models:
            models = str(Path(models).resolve())
        probe = RunSpec("", suite, team or "", models, model, seed, tool_call_mode=tool_call_mode)
        if not replay:  # an unknown --model or team, a broken models.toml: refused before the run
            config = models_for(probe, 0)
            if team != BARE:
                load_team(team, config)
        options = {"models": models, "seed": seed, "repeat": max(1, repeat or 1), "limit": limit, "record": record,
                   "timeout_s": timeout_s or DEFAULT_TIMEOUT_S, "executor": executor,
                   "tool_call_mode": tool_call_mode, "parallel": parallel, "runner": runner or "local",
                   **({"replay_of": replay} if replay else {})}
        store = store or EvalStore.open_default()  # opened once the run is known to be possible
        run_id = store.create_run(suite=suite, team=team or "", model=model, options=options, planned=planned)
        spec = RunSpec(run_id, suite, team or "", models, model, seed, record, timeout_s or DEFAULT_TIMEOUT_S,
                       executor, tool_call_mode)
        run = store.get(run_id)
        missing = planned
    runner = runner or "local"
    spec.env = {k: v for k, v in os.environ.items() if k in ("MOOT_HOME", "XDG_DATA_HOME", "MOOT_MODELS")}
    done = len(run.planned) - len(missing)  # what this call reports: the results so far and its own jobs
    total = done + len(jobs)
    tracer = tracer_from(otel_file, otel_content)
    if on_start is not None:
        on_start(run.id, total)

    def record_result(result: TaskResult) -> None:
        nonlocal done
        if not result.session:
            result.session = _session_of(result, spec)
        store.add_result(run.id, result)
        if tracer is not None:
            _trace(tracer, run.id, result)
        done += 1
        if on_result is not None:
            on_result(result, done, total)

    try:
        if jobs and runner == "ray":
            from ._ray import run_ray

            run_ray(spec, jobs, record_result, address=ray_address, parallel=parallel)
        elif jobs and runner == "local":
            run_local(spec, jobs, max(1, parallel or 1), record_result)
        elif jobs:
            raise ValueError(f"no runner named {runner!r} (runners: local, ray)")
    finally:
        if tracer is not None:
            tracer.close()
    if not store.missing(run.id):
        store.finish_run(run.id)
    summary = summarise(store.get(run.id), store.results(run.id))
    if own_store:
        store.close()
    if on_summary is not None:
        on_summary(summary)
    return summary


def _trace(tracer: Any, run_id: str, result: TaskResult) -> None:
    from moot.memory import SessionStore

    extra = {"moot.eval.run": run_id, "moot.eval.task": result.task_id, "moot.eval.repeat": result.repeat,
             "moot.eval.passed": result.passed, "moot.eval.failure": result.kind or None}
    sessions = result.metrics.get("sessions") or ([result.session] if result.session else [])
    with SessionStore.open_default() as store:
        for sid in sessions:
            tracer.session_from_store(store, sid, extra)


def _replay_job(recorded: TaskResult | None, job: Job) -> Job:
    if recorded is None:
        return job
    sessions = recorded.metrics.get("sessions") or ([recorded.session] if recorded.session else [])
    return Job(job.task_id, job.repeat, replay=sessions, recording=recorded.recording)
