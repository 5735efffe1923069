"""The Ray runner (``moot[ray]``): each task of an eval is a Ray task running ``run_task``.

With no address (and no Ray already started in this process) a local cluster is started, with
``parallel`` CPUs when given: Ray needs no server and works offline. With ``--ray-address`` the
tasks go to that cluster; its nodes need moot installed and the data dir reachable at the same
path (``$MOOT_HOME`` travels with each task), since every task records its session there.
Remote models (OpenAI, Ollama, Anthropic) are called from the tasks. A llama.cpp model is a Ray
actor (``ModelServer``, one per models.toml entry of the run, started by the first task that
calls it): it loads the model once and serves every task's calls, streamed back piece by piece
(a Ray streaming generator); the tasks' sessions talk to it through ``ServedBackend``. Each
task's result says which actor served it, how many calls it sent there and how many times that
actor loaded its model (``metrics["ray_models"]``). The actors hold no CPU of the cluster's
count (they are busy only while a task waits on them) and end with the run.

At most as many tasks are in flight as the cluster has CPUs (or ``parallel``), so a task starts
when it is sent; one that outlives its timeout and the grace after it is cancelled (its worker
killed) and scored as a timeout.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moot.backends import Backend, BackendError, BackendStatus, ConfigError, ModelConfig, ModelRegistry, ModelRequest
from moot.backends import ModelsConfig, StreamItem, backend_class

from ._local import GRACE_S
from ._runner import Job, RunSpec, run_task
from ._store import TaskResult

__all__ = ["ModelServer", "ServedBackend", "run_ray"]

START_SLACK_S = 30.0  # a Ray worker process may take this long to start the first time
SERVED_BACKENDS = ("llama_cpp",)  # the models a Ray actor loads once for every task


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("the ray runner needs Ray: pip install 'moot[ray]'") from None
    return ray


# -- one loaded model for every task: the actor and what the tasks talk to -----------------------

@dataclass
class _Failed:
    """A call that failed in the actor, as it crosses back to the task (raised there)."""

    error: BackendError | None = None
    problems: list[str] | None = None  # a ConfigError (its message alone would not rebuild it)

    @classmethod
    def of(cls, exc: Exception, model: str) -> _Failed:
        if isinstance(exc, ConfigError):
            return cls(problems=exc.problems)
        if isinstance(exc, BackendError):
            return cls(exc)
        return cls(BackendError(f"{type(exc).__name__}: {exc} (in the Ray actor serving it)", model=model))

    def raise_(self) -> None:
        if self.problems is not None:
            raise ConfigError(self.problems)
        assert self.error is not None
        raise self.error


class ModelServer:
    """A Ray actor holding one models.toml entry's model, loaded once, for every task's calls.

    Each call carries the task's own entry (its seed, its tool-call mode), so one backend is made
    per distinct entry; llama.cpp shares the loaded weights between them. ``stats()`` says how
    many times a model was loaded here and how many calls were served."""

    def __init__(self) -> None:
        self.backends: dict[str, Backend] = {}
        self.served = 0

    def _backend(self, config: ModelConfig) -> Backend:
        key = config.model_dump_json()
        backend = self.backends.get(key)
        if backend is None:
            backend = self.backends[key] = backend_class(config.backend)(config)
        return backend

    async def stream(self, config: ModelConfig, request: ModelRequest) -> AsyncIterator[StreamItem | _Failed]:
        self.served += 1
        try:
            async for item in self._backend(config)._stream(request):
                yield item
        except Exception as exc:  # the task raises it as its own call's error
            yield _Failed.of(exc, config.name)

    async def window(self, config: ModelConfig) -> int | _Failed | None:
        backend = self._backend(config)
        try:
            await backend.load()
        except Exception as exc:
            return _Failed.of(exc, config.name)
        return backend.context_window()

    def stats(self) -> dict[str, Any]:
        """``actor`` (its Ray id), ``loads`` (models loaded in it) and ``served`` (calls so far)."""
        loaded = {id(b.loaded) for b in self.backends.values() if getattr(getattr(b, "loaded", None), "llm", None)}
        return {"actor": _ray().get_runtime_context().get_actor_id(), "loads": len(loaded), "served": self.served}


class ServedBackend(Backend):
    """A model that a ``ModelServer`` actor serves: each call is sent to it and its reply streamed
    back. Tokens are estimated here (counting each message in the actor would cost a round trip);
    the window is the loaded model's, asked of the actor once."""

    def __init__(self, config: ModelConfig, actor: Callable[[], Any], calls: dict[str, int]):
        super().__init__(config)
        self.capabilities = backend_class(config.backend).capabilities_for(config)
        self._actor = actor
        self._calls = calls

    async def discover_window(self) -> int | None:
        if self._window is None:
            found = await self._actor().window.remote(self.config)
            if isinstance(found, _Failed):
                found.raise_()
            self._window, self.window_from = found, "llama.cpp n_ctx (in the Ray actor)"
        return self.context_window()

    def status(self) -> BackendStatus:
        return BackendStatus("ready", "served by a Ray actor")

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        self._calls[self.name] = self._calls.get(self.name, 0) + 1
        ray = _ray()
        pieces = self._actor().stream.remote(self.config, request)
        done = False
        try:
            async for ref in pieces:
                item = await ref
                if isinstance(item, _Failed):
                    item.raise_()
                yield item
            done = True
        finally:
            if not done:  # closed early or cancelled: the actor stops generating
                ray.cancel(pieces)


class _ServedModels(ModelRegistry):
    """A task's models: those of ``SERVED_BACKENDS`` are served by the run's actors (one per
    entry name, made by the first task that asks), the others made here as usual."""

    def __init__(self, config: ModelsConfig, prefix: str, calls: dict[str, int]):
        super().__init__(config)
        self.prefix = prefix
        self.calls = calls

    def backend(self, name: str | None = None) -> Backend:
        model = self.config.get(name)
        if model.backend not in SERVED_BACKENDS:
            return super().backend(name)
        backend = self._backends.get(model.name)
        if backend is None:
            problems = model.problems()
            if problems:
                raise ConfigError([f"{self.config.source}: {p}" for p in problems])
            backend = self._backends[model.name] = ServedBackend(model, lambda: _actor(self.prefix, model.name),
                                                                 self.calls)
        return backend


_ACTORS: dict[str, Any] = {}  # this worker's handles, by actor name


def _actor(prefix: str, model: str) -> Any:
    name = f"{prefix}{model}"
    handle = _ACTORS.get(name)
    if handle is None:
        ray = _ray()
        server = ray.remote(ModelServer)
        handle = _ACTORS[name] = server.options(name=name, get_if_exists=True, num_cpus=0, max_restarts=0,
                                                max_concurrency=64).remote()
    return handle


def _served_task(spec: RunSpec, job: Job, prefix: str) -> TaskResult:
    """What a Ray task runs: the task, its llama.cpp calls sent to the run's actors."""
    calls: dict[str, int] = {}
    result = run_task(spec, job, lambda config: _ServedModels(config, prefix, calls))
    if calls:
        ray = _ray()
        served = {}
        for model, n in calls.items():
            try:
                served[model] = {"calls": n, **ray.get(_actor(prefix, model).stats.remote(), timeout=30)}
            except Exception as exc:  # the actor died (out of memory, a crash in llama.cpp): the result stands
                served[model] = {"calls": n, "error": f"{type(exc).__name__}: {exc}"[:300]}
        result.metrics = {**result.metrics, "ray_models": served}
    return result


# -- the runner -----------------------------------------------------------------------------------

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
    prefix = f"moot-eval-{spec.run_id}-"
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_served_task)
        width = max(1, parallel or int(ray.cluster_resources().get("CPU", 1)))
        pending = deque(jobs)
        flying: dict[Any, tuple[Job, float]] = {}
        deadline_s = spec.timeout_s + GRACE_S + START_SLACK_S
        while pending or flying:
            while pending and len(flying) < width:
                job = pending.popleft()
                flying[task.remote(spec, job, prefix)] = (job, time.monotonic())
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
        for name in ray.util.list_named_actors() if ray.is_initialized() else ():
            if name.startswith(prefix):  # the run's model servers end with it
                ray.kill(ray.get_actor(name))
        if started_here:
            ray.shutdown()
