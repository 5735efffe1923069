"""The Ray runner (``moot[ray]``): each task of an eval is a Ray task running ``run_task``.

With no address (and no Ray already started in this process) a local cluster is started, with
``parallel`` CPUs when given: Ray needs no server and works offline. With ``--ray-address`` the
tasks go to that cluster; its nodes need moot installed and the data dir reachable at the same
path (``$MOOT_HOME`` travels with each task), since every task records its session there.
Remote models (OpenAI, Ollama, Anthropic) are called from the tasks; a llama.cpp model is loaded
once per Ray worker process and serves every task that worker runs.

At most as many tasks are in flight as the cluster has CPUs (or ``parallel``), so a task starts
when it is sent; one that outlives its timeout and the grace after it is cancelled (its worker
killed) and scored as a timeout.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ._local import GRACE_S
from ._runner import Job, RunSpec, run_task
from ._store import TaskResult

__all__ = ["run_ray"]

START_SLACK_S = 30.0  # a Ray worker process may take this long to start the first time


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("the ray runner needs Ray: pip install 'moot[ray]'") from None
    return ray


def run_ray(spec: RunSpec, jobs: Iterable[Job], on_result: Callable[[TaskResult], None], *,
            address: str | None = None, parallel: int | None = None) -> None:
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "runtime_env": {"env_vars": dict(spec.env)}}
        if address:
            kwargs["address"] = address
        elif parallel and parallel > 1:
            kwargs["num_cpus"] = parallel
        ray.init(**kwargs)
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(run_task)
        width = max(1, parallel or int(ray.cluster_resources().get("CPU", 1)))
        pending = deque(jobs)
        flying: dict[Any, tuple[Job, float]] = {}
        deadline_s = spec.timeout_s + GRACE_S + START_SLACK_S
        while pending or flying:
            while pending and len(flying) < width:
                job = pending.popleft()
                flying[task.remote(spec, job)] = (job, time.monotonic())
            ready, _ = ray.wait(list(flying), num_returns=1, timeout=0.5)
            for ref in ready:
                job, _ = flying.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # the task's worker died, or Ray could not run it
                    result = TaskResult(job.task_id, job.repeat, False, "error", f"the Ray task failed: {exc}")
                on_result(result)
            now = time.monotonic()
            for ref, (job, sent) in list(flying.items()):
                if now - sent >= deadline_s:
                    ray.cancel(ref, force=True)
                    flying.pop(ref)
                    on_result(TaskResult(job.task_id, job.repeat, False, "timeout",
                                         f"did not stop within {spec.timeout_s:g} s (the task's timeout): "
                                         f"its Ray task was cancelled", wall_s=now - sent))
    finally:
        if started_here:
            ray.shutdown()
