"""The local runner: a pool of worker processes, each running one task at a time.

Each worker is its own process (``spawn``: nothing of the parent's threads or loaded models is
inherited), so it has its own model instance (llama.cpp loads once per worker and serves every
task it runs), and every task gets its own work dir and session. The parent hands out jobs,
writes results as they come back and watches the clock: a task past its timeout is first
cancelled inside its worker (the session records the stop); one that does not come back within
``GRACE_S`` more (a hang in native code, a regex that never ends) has its worker killed and is
scored as a timeout, a fresh worker takes its place, and the eval goes on.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from multiprocessing.connection import Connection, wait
from typing import Any

from ._runner import Job, RunSpec, run_task
from ._store import TaskResult

__all__ = ["GRACE_S", "run_local"]

GRACE_S = 5.0


def _worker(conn: Connection, spec: RunSpec) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the eval's to handle: it stops the workers
    while True:
        try:
            job = conn.recv()
        except (EOFError, KeyboardInterrupt):  # the eval is gone
            return
        if job is None:
            return
        try:
            result = run_task(spec, job)
        except BaseException as exc:  # run_task makes a result of every failure; this is the last net
            result = TaskResult(job.task_id, job.repeat, False, "error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


@contextlib.contextmanager
def _main_not_a_file() -> Iterator[None]:
    """A spawned process imports the parent's main script again; a main that is no file (``python -``,
    ``python -c``) would fail that in every worker, so it is hidden while a worker starts."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or Path(path).is_file():
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


class _Slot:
    def __init__(self, spec: RunSpec, context: Any):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker, args=(child, spec), daemon=True, name="moot-eval-worker")
        with _main_not_a_file():
            self.process.start()
        child.close()
        self.job: Job | None = None
        self.started = 0.0

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        self.process.join(timeout=None if kill else 10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_local(spec: RunSpec, jobs: Iterable[Job], parallel: int, on_result: Callable[[TaskResult], None]) -> None:
    """Run every job in ``parallel`` worker processes, handing each result to ``on_result``."""
    context = mp.get_context("spawn")
    pending = deque(jobs)
    slots: list[_Slot] = []
    deadline_s = spec.timeout_s + GRACE_S
    try:
        while pending or any(s.job for s in slots):
            while pending and len(slots) < parallel:
                slots.append(_Slot(spec, context))
            for slot in slots:
                if slot.job is None and pending:
                    slot.job, slot.started = pending.popleft(), time.monotonic()
                    slot.conn.send(slot.job)
            busy = [s for s in slots if s.job is not None]
            now = time.monotonic()
            wait_s = max(0.0, min(s.started + deadline_s for s in busy) - now)
            ready = wait([s.conn for s in busy], timeout=wait_s)
            for slot in list(busy):
                job = slot.job
                assert job is not None
                if slot.conn in ready:
                    try:
                        result = slot.conn.recv()
                    except (EOFError, OSError):  # the worker died (out of memory, a crash in native code)
                        code = slot.process.exitcode
                        result = TaskResult(job.task_id, job.repeat, False, "error",
                                            f"the worker process died (exit {code}) running this task")
                        _replace(slots, slot, spec, context, kill=True)
                    else:
                        slot.job = None
                        if pending:  # its next job before the result is stored: the worker never waits on that
                            slot.job, slot.started = pending.popleft(), time.monotonic()
                            slot.conn.send(slot.job)
                    on_result(result)
                elif time.monotonic() >= slot.started + deadline_s:
                    result = TaskResult(job.task_id, job.repeat, False, "timeout",
                                        f"did not stop within {spec.timeout_s:g} s (the task's timeout) and "
                                        f"{GRACE_S:g} s more: its worker was killed",
                                        wall_s=time.monotonic() - slot.started)
                    _replace(slots, slot, spec, context, kill=True)
                    on_result(result)
    finally:
        for slot in slots:
            slot.stop(kill=slot.job is not None)


def _replace(slots: list[_Slot], slot: _Slot, spec: RunSpec, context: Any, kill: bool) -> None:
    slot.stop(kill=kill)
    slots.remove(slot)
