"""make_executor: AutoGen's code_execution_config, precise errors, and no silent fallback to local."""

from __future__ import annotations

import socket
import time

import pytest

from moot.executors import (
    DockerExecutor,
    ExecutionResult,
    ExecutorError,
    ExecutorUnavailable,
    LocalExecutor,
    CodeBlock,
    default_image_name,
    make_executor,
)


def _dead_tcp_host() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"  # nothing listens there once the socket is closed


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ExecutorError, match="unknown key 'use_dokcer'"):
        make_executor({"work_dir": str(tmp_path), "use_dokcer": False})
    with pytest.raises(ExecutorError, match="unknown key limits.cpu"):
        make_executor({"use_docker": False, "limits": {"cpu": 2}})


def test_local_is_opt_in_with_autogens_keys(tmp_path):
    executor = make_executor({"work_dir": str(tmp_path / "w"), "use_docker": False, "timeout": 7, "last_n_messages": 3})
    assert isinstance(executor, LocalExecutor)
    assert executor.name == "local" and not executor.sandboxed
    assert executor.work_dir == (tmp_path / "w").resolve()
    assert executor.limits.timeout_s == 7
    assert executor.limits.memory is None  # no address-space limit unless asked for
    limited = make_executor({"executor": "local", "work_dir": str(tmp_path), "limits": {"memory": "300m", "output_limit": 5000}})
    assert (limited.limits.memory, limited.limits.output) == (300 << 20, 5000)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"executor": "local", "use_docker": True}, "contradicts"),
        ({"executor": "podman"}, 'executor must be "docker", "sandbox" or "local"'),
        ({"use_docker": False, "image": "python:3.11"}, "executor is local"),
        ({"use_docker": False, "timeout": 0}, "timeout must be a positive number"),
        ({"use_docker": False, "timeout": "10"}, "timeout must be a positive number"),
        ({"use_docker": False, "memory": "lots"}, "is not a size"),
        ({"use_docker": False, "pids": 2}, "pids must be"),
        ({"use_docker": 3}, "use_docker must be True, False or an image name"),
    ],
)
def test_bad_values_are_explained(config, message, tmp_path):
    with pytest.raises(ExecutorError, match=message):
        make_executor({"work_dir": str(tmp_path), **config})


@pytest.mark.parametrize("config", [{"use_docker": True}, {"executor": "docker"}, {"use_docker": "moot-python:3.11"}])
def test_no_daemon_means_unavailable_never_local(config, monkeypatch, tmp_path):
    host = _dead_tcp_host()
    monkeypatch.setenv("DOCKER_HOST", host)
    started = time.monotonic()
    with pytest.raises(ExecutorUnavailable) as caught:
        make_executor({"work_dir": str(tmp_path), **config})
    message = str(caught.value)
    assert f"no Docker daemon answered at {host}" in message
    assert 'executor="local"' in message  # says how to opt in, does not do it
    assert time.monotonic() - started < 10


def test_bogus_socket_in_the_config_is_unavailable(tmp_path):
    with pytest.raises(ExecutorUnavailable, match="no Docker daemon answered at unix:///nonexistent/docker.sock"):
        make_executor({"work_dir": str(tmp_path), "docker_host": "unix:///nonexistent/docker.sock"})


async def test_docker_is_the_default_when_a_daemon_answers(private_docker, docker_containers, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", private_docker.host)
    executor = make_executor({"work_dir": str(tmp_path / "w"), "timeout": 5, "limits": {"memory": "96m", "pids": 40}})
    try:
        assert isinstance(executor, DockerExecutor) and executor.sandboxed
        assert executor.image == default_image_name() == private_docker.image
        assert (executor.limits.memory, executor.limits.pids, executor.limits.timeout_s) == (96 << 20, 40, 5)
        results = [item async for item in executor.run(CodeBlock("python", "print('in docker')\n"))]
        assert isinstance(results[-1], ExecutionResult)
        assert results[-1].output == "in docker\n" and results[-1].exit_code == 0
    finally:
        await executor.aclose()


async def test_docker_host_key_and_image_name(private_docker, docker_containers, tmp_path):
    executor = make_executor({"work_dir": str(tmp_path), "use_docker": private_docker.image, "docker_host": private_docker.host})
    try:
        assert isinstance(executor, DockerExecutor) and executor.image == private_docker.image
        assert executor.limits.memory == 512 << 20 and executor.limits.pids == 128  # the defaults
    finally:
        await executor.aclose()


async def test_a_missing_image_that_cannot_be_pulled_is_unavailable(private_docker, docker_containers, tmp_path):
    executor = make_executor({"work_dir": str(tmp_path / "work"), "image": "no-such-image:1",
                              "docker_host": private_docker.host})
    try:
        with pytest.raises(ExecutorUnavailable, match="'no-such-image:1' is not on this daemon and could not be pulled"):
            async for _ in executor.run(CodeBlock("python", "print(1)\n")):
                pass
    finally:
        await executor.aclose()


def test_a_ready_executor_object_is_used_as_it_is(tmp_path):
    mine = LocalExecutor(tmp_path)
    assert make_executor({"executor": mine, "last_n_messages": 2}) is mine
    with pytest.raises(ExecutorError, match="timeout cannot be combined"):
        make_executor({"executor": mine, "timeout": 3})
