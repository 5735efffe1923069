"""Turn an AutoGen-style `code_execution_config` into an executor."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ._base import (
    DEFAULT_CPUS,
    DEFAULT_DISK,
    DEFAULT_FILES,
    DEFAULT_MEMORY,
    DEFAULT_OUTPUT_LIMIT,
    DEFAULT_PIDS,
    DEFAULT_TIMEOUT_S,
    Executor,
    Limits,
    parse_memory,
)
from ._results import ExecutorError, ExecutorUnavailable
from ._local import LocalExecutor
from ._sandbox import HOW_TO_GET, SandboxExecutor, sandbox_problem

#: Where code is saved and run when the config names no work_dir (AutoGen's examples use "coding").
DEFAULT_WORK_DIR = "coding"

_EXECUTOR_NAMES = {
    "docker": "docker",
    "commandline-docker": "docker",
    "sandbox": "sandbox",
    "local": "local",
    "commandline-local": "local",
}
_LIMIT_KEYS = ("memory", "pids", "output_limit", "cpus", "disk", "files")
KNOWN_KEYS = frozenset(
    {"work_dir", "use_docker", "timeout", "last_n_messages", "executor", "image", "limits", "docker_host", "pass_env",
     *_LIMIT_KEYS}
)


def _choose_kind(config: dict[str, Any]) -> tuple[str | None, str | None]:
    """(kind, image) from `executor` and `use_docker`; kind None means the default order
    (`default_kind`)."""
    executor = config.get("executor")
    use_docker = config.get("use_docker")
    image = config.get("image")
    kind = None
    if executor is not None:
        if not isinstance(executor, str) or executor.lower() not in _EXECUTOR_NAMES:
            raise ExecutorError(f'code_execution_config: executor must be "docker", "sandbox" or "local", not {executor!r}')
        kind = _EXECUTOR_NAMES[executor.lower()]
    if use_docker is not None:
        if use_docker is False:
            wanted = "local"
        elif use_docker is True:
            wanted = "docker"
        elif isinstance(use_docker, str) and use_docker:
            wanted = "docker"
            if image is not None and image != use_docker:
                raise ExecutorError(f"code_execution_config: use_docker names image {use_docker!r} but image is {image!r}")
            image = use_docker
        elif isinstance(use_docker, (list, tuple)) and use_docker and all(isinstance(i, str) for i in use_docker):
            wanted = "docker"
            image = image or use_docker[0]  # AutoGen tries a list in order; the first is used here
        else:
            raise ExecutorError(f"code_execution_config: use_docker must be True, False or an image name, not {use_docker!r}")
        if kind is not None and kind != wanted:
            raise ExecutorError(
                f"code_execution_config: executor={executor!r} contradicts use_docker={use_docker!r}; keep one of them"
            )
        kind = wanted
    if kind in ("local", "sandbox") and image is not None:
        raise ExecutorError(f"code_execution_config: image is set but the executor is {kind}; drop image or use docker")
    if kind is None and (image is not None or config.get("docker_host")):
        kind = "docker"  # an image or a daemon named: Docker is what is asked for
    return kind, image


def _neither(docker_host: str | None, sandbox_problem: str) -> str:
    where = docker_host or os.environ.get("DOCKER_HOST") or "the default socket"
    return f"no Docker daemon answered ({where}) and the sandbox cannot run: {sandbox_problem}"


def _docker_answers(docker_host: str | None, timeout: float = 30):
    """A Docker client when a daemon answers at `docker_host` ($DOCKER_HOST, the default socket), else None."""
    from ._docker import docker_client

    try:
        return docker_client(docker_host, timeout=timeout)
    except ExecutorUnavailable:
        return None


def default_kind(docker_host: str | None = None):
    """The executor a team gets when it names none, with the Docker client when that is Docker:
    ("docker", client) when a daemon answers, else ("sandbox", None) when bubblewrap works here.
    When neither, raises ExecutorUnavailable saying how to get either, or to opt in to local."""
    client = _docker_answers(docker_host)
    if client is not None:
        return "docker", client
    problem = sandbox_problem()
    if problem is None:
        return "sandbox", None
    raise ExecutorUnavailable(
        f"{_neither(docker_host, problem)}. To run code, start Docker (or point DOCKER_HOST at a running daemon), "
        f"or {HOW_TO_GET}; or opt in to running code unsandboxed on this machine with `--executor local` "
        '(executor = "local" in the team file).')


_planned: dict[tuple[str | None, str | None], str] = {}


def planned_executor(config: dict[str, Any] | bool | None, *, refresh: bool = False) -> str:
    """Which executor a code_execution_config will get, in a word: "docker", "sandbox", "local",
    "none" (no code execution), or "none: why" when the default finds neither Docker nor the
    sandbox. Cheap after the first call (the probes are cached; `refresh` asks again)."""
    if not config:
        return "none"
    config = dict(config) if isinstance(config, dict) else {}
    if isinstance(config.get("executor"), Executor):
        return config["executor"].name
    try:
        kind, _image = _choose_kind(config)
    except ExecutorError as exc:
        return f"none: {exc}"
    if kind is not None:
        return kind
    host = config.get("docker_host")
    key = (host, os.environ.get("DOCKER_HOST"))
    if refresh or key not in _planned:
        client = _docker_answers(host, timeout=2)
        if client is not None:
            client.close()
            _planned[key] = "docker"
        else:
            problem = sandbox_problem()
            _planned[key] = "sandbox" if problem is None else f"none: {_neither(host, problem)}"
    return _planned[key]


def _limits(config: dict[str, Any], kind: str) -> Limits:
    nested = config.get("limits") or {}
    if not isinstance(nested, dict):
        raise ExecutorError(f"code_execution_config: limits must be a table like {{memory = \"256m\"}}, not {nested!r}")
    for key in nested:
        if key not in _LIMIT_KEYS:
            raise ExecutorError(f"code_execution_config: unknown key limits.{key} (known: {', '.join(_LIMIT_KEYS)})")
    merged = {**nested, **{k: config[k] for k in _LIMIT_KEYS if k in config}}

    timeout = config.get("timeout", DEFAULT_TIMEOUT_S)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ExecutorError(f"code_execution_config: timeout must be a positive number of seconds, not {timeout!r}")
    # Docker runs get a memory limit by default; the local executor only when asked (an
    # address-space limit breaks many ordinary programs, so it is not a safe default there).
    memory = parse_memory(merged.get("memory", DEFAULT_MEMORY if kind == "docker" else None))
    pids = merged.get("pids", DEFAULT_PIDS)
    if pids is not None and (isinstance(pids, bool) or not isinstance(pids, int) or pids < 8):
        raise ExecutorError(f"code_execution_config: pids must be a whole number of at least 8, not {pids!r}")
    output = merged.get("output_limit", DEFAULT_OUTPUT_LIMIT)
    if isinstance(output, bool) or not isinstance(output, int) or output < 100:
        raise ExecutorError(f"code_execution_config: output_limit must be a number of characters (>= 100), not {output!r}")
    cpus = merged.get("cpus", DEFAULT_CPUS)
    if cpus is not None and (isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or not 0.01 <= cpus <= 1024):
        raise ExecutorError(f"code_execution_config: cpus must be a number of CPUs such as 1 or 0.5, not {str(cpus)[:40]!r}")
    try:
        disk = parse_memory(merged.get("disk", DEFAULT_DISK), "code_execution_config: disk")
    except ExecutorError as exc:
        raise ExecutorError(f"{exc} (the most the work dir may hold, e.g. '512m')") from None
    if disk is None:
        raise ExecutorError("code_execution_config: disk must be a size such as '512m'; there is no unlimited disk")
    files = merged.get("files", DEFAULT_FILES)
    if isinstance(files, bool) or not isinstance(files, int) or not 16 <= files <= 10_000_000:
        raise ExecutorError(f"code_execution_config: files must be a whole number of files from 16 up, not {str(files)[:40]!r}")
    return Limits(timeout_s=float(timeout), memory=memory, pids=pids, output=output, cpus=float(cpus) if cpus else None,
                  disk=disk, files=files)


def make_executor(config: dict[str, Any] | None = None) -> Executor:
    """Build the executor an AutoGen `code_execution_config` asks for.

    Keys: AutoGen's `work_dir` (default "./coding"), `use_docker` (True, False, or an image
    name), `timeout` (seconds, default 60) and `last_n_messages` (accepted; the agent uses it),
    plus `executor` ("docker" | "sandbox" | "local"), `image`, `docker_host`, and the limits `memory`
    ("256m"; docker default 512m, sandbox and local none), `pids` (default 128, docker only),
    `output_limit` (characters kept, default 100000), and for Docker `cpus` (default 1), `disk`
    (what the work dir may hold, default "512m") and `files` (files and folders in it, default
    10000), at the top level or in a `limits` table.

    With neither `executor` nor `use_docker`, Docker is used when a daemon answers, else the
    bubblewrap sandbox when it works here, else this raises ExecutorUnavailable saying how to get
    either. When Docker (or the sandbox) is asked for and cannot run, ExecutorUnavailable says so:
    it never falls back to running code unsandboxed on this machine. Running locally is opt-in
    (`executor="local"` or `use_docker=False`). Unknown keys raise ExecutorError naming the key.
    An Executor object given as `executor` is returned as it is.
    """
    config = dict(config or {})
    if isinstance(config.get("executor"), Executor):
        # AutoGen also accepts a ready executor object; only last_n_messages may go with it.
        extra = sorted(set(config) - {"executor", "last_n_messages"})
        if extra:
            raise ExecutorError(f"code_execution_config: {', '.join(extra)} cannot be combined with a ready executor object")
        return config["executor"]
    for key in config:
        if key not in KNOWN_KEYS:
            raise ExecutorError(
                f"code_execution_config: unknown key {key!r} (known: {', '.join(sorted(KNOWN_KEYS))})"
            )
    kind, image = _choose_kind(config)
    work_dir = config.get("work_dir") or DEFAULT_WORK_DIR
    if not isinstance(work_dir, (str, Path)):
        raise ExecutorError(f"code_execution_config: work_dir must be a path, not {work_dir!r}")
    client = None
    if kind is None:
        kind, client = default_kind(config.get("docker_host"))
    elif kind != "docker" and config.get("docker_host"):
        raise ExecutorError(f"code_execution_config: docker_host is set but the executor is {kind}")
    if kind in ("local", "sandbox"):
        pass_env = config.get("pass_env") or ()
        if isinstance(pass_env, str) or not all(isinstance(n, str) for n in pass_env):
            raise ExecutorError(f"code_execution_config: pass_env must be a list of variable names, not {pass_env!r}")
        kinds = {"local": LocalExecutor, "sandbox": SandboxExecutor}
        return kinds[kind](work_dir, limits=_limits(config, kind), pass_env=tuple(pass_env))

    from ._docker import DockerExecutor, docker_client

    try:
        if image is not None and not isinstance(image, str):
            raise ExecutorError(f"code_execution_config: image must be an image name, not {image!r}")
        limits = _limits(config, "docker")
    except ExecutorError:
        if client is not None:  # the default order's ping
            client.close()
        raise
    client = client or docker_client(config.get("docker_host"))  # raises ExecutorUnavailable, plainly
    return DockerExecutor(work_dir, client=client, owns_client=True, image=image, limits=limits)
