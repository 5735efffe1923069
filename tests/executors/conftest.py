"""Fixtures for the executor tests: a private Docker daemon, and a helper that runs one block.

The daemon is real (FACTS.md, Docker): this session starts its own `dockerd` as root with its
data, exec root and socket in a temporary folder, no iptables and no bridge (host networking is
left alone), imports moot's locally built Python image into it, and stops it by PID at the end.
When it cannot (not root, no dockerd and no way to install it) the Docker tests FAIL: CI runs
as root, so a skip would hide a broken sandbox.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from moot.executors import CodeBlock, ExecutionResult, OutputChunk, docker_client, ensure_image


@dataclass
class PrivateDocker:
    host: str  # unix://... socket of the private daemon
    client: object  # docker.DockerClient
    image: str
    pid: int
    root: Path


@dataclass
class Run:
    """What one run produced: the live chunks (with when each arrived) and the final result."""

    chunks: list[OutputChunk] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    result: ExecutionResult | None = None
    finished_at: float = 0.0

    @property
    def streamed(self) -> str:
        return "".join(c.text for c in self.chunks)


def _install_dockerd() -> str:
    """dockerd's path, installing Debian's docker.io first when it is missing (root only)."""
    found = shutil.which("dockerd")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.fail(
            "the Docker executor tests need a private dockerd: run them as root (CI does), "
            "or install Debian's docker.io package first"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "docker.io"]):
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            pytest.fail(f"could not install docker.io for the Docker tests: {' '.join(command)} said:\n{result.stderr[-2000:]}")
    found = shutil.which("dockerd")
    if not found:
        pytest.fail("docker.io is installed but there is still no dockerd on PATH")
    return found


@pytest.fixture(scope="session")
def private_docker():
    """A private dockerd for this test session, with moot's Python image imported; stopped by PID at the end."""
    if os.geteuid() != 0:
        pytest.fail("the Docker executor tests start a private dockerd, which needs root (CI runs as root)")
    dockerd = _install_dockerd()
    # A short path: unix socket paths are limited to ~100 characters.
    root = Path(tempfile.mkdtemp(prefix="moot-dockerd-"))
    socket_path = root / "sock"
    log_path = root / "dockerd.log"
    host = f"unix://{socket_path}"
    command = [
        dockerd,
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "--pidfile", str(root / "pid"),
        "--host", host,
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    client = None
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"dockerd exited with {process.returncode} at start-up; its log:\n{log_path.read_text()[-3000:]}")
            if socket_path.exists():
                try:
                    client = docker_client(host)
                    break
                except Exception:
                    pass
            if time.monotonic() > deadline:
                pytest.fail(f"dockerd did not answer on {host} within 30 s; its log:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        image = ensure_image(client)
        yield PrivateDocker(host=host, client=client, image=image, pid=process.pid, root=root)
    finally:
        if client is not None:
            try:
                for container in client.containers.list(all=True):
                    container.remove(force=True)
            except Exception:
                pass
            client.close()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        # dockerd unmounts its layers on a clean stop; unmount anything a crash left behind.
        for mount in reversed(Path("/proc/mounts").read_text().splitlines()):
            point = mount.split()[1]
            if point.startswith(str(root)):
                subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def docker_containers(private_docker):
    """The private daemon's containers: asserts that a test leaves none behind."""
    client = private_docker.client
    for container in client.containers.list(all=True):  # an earlier failure's leftovers
        container.remove(force=True)
    yield client
    leftovers = client.containers.list(all=True)
    assert leftovers == [], f"containers left behind: {[c.name for c in leftovers]}"


async def collect(executor, block: CodeBlock) -> Run:
    """Run a block to the end, recording each chunk's arrival time."""
    run = Run()
    started = time.monotonic()
    async for item in executor.run(block):
        if isinstance(item, OutputChunk):
            assert run.result is None, "an OutputChunk came after the ExecutionResult"
            run.chunks.append(item)
            run.arrivals.append(time.monotonic() - started)
        else:
            assert isinstance(item, ExecutionResult), f"unexpected item {item!r}"
            assert run.result is None, "two ExecutionResults for one run"
            run.result = item
    run.finished_at = time.monotonic() - started
    assert run.result is not None, "the run ended without an ExecutionResult"
    return run


@pytest.fixture
def run_block():
    """`await run_block(executor, language, code, filename=None)` -> Run."""

    async def _run(executor, language: str, code: str, filename: str | None = None) -> Run:
        return await collect(executor, CodeBlock(language, code, filename))

    return _run


def process_count() -> int:
    return sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())

