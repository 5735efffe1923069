"""Run code blocks in throw-away Docker containers: no network, bounded memory and processes."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from ._base import (
    Executor,
    Limits,
    OutputCollector,
    check_runnable,
    describe_memory,
    describe_seconds,
    make_work_dir,
    unrunnable_result,
    write_script,
)
from ._blocks import CodeBlock
from ._image import CONTAINER_WORK_DIR, default_image_name, ensure_image, image_exists
from ._results import ExecutionResult, ExecutorError, ExecutorUnavailable, OutputChunk

#: Non-root user the code runs as when moot itself runs as root: nobody.
NOBODY = "65534:65534"
#: Every container moot starts carries this label, so leftovers can be found and removed.
LABEL = "moot.executor"
_END = object()


def docker_client(base_url: str | None = None, timeout: float = 30):
    """A docker SDK client for `base_url`, else $DOCKER_HOST (the SDK's usual rules), checked with a ping.

    Raises ExecutorUnavailable with a plain message when no daemon answers.
    """
    try:
        import docker
        import docker.errors
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        raise ExecutorUnavailable("the `docker` Python package is not installed (pip install docker)") from exc
    where = base_url or os.environ.get("DOCKER_HOST") or "the default socket (unix:///var/run/docker.sock)"
    client = None
    try:
        if base_url:
            client = docker.DockerClient(base_url=base_url, timeout=timeout)
        else:
            client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests' errors or OSError
        if client is not None:
            client.close()
        raise ExecutorUnavailable(
            f"Docker was asked for, but no Docker daemon answered at {where} ({type(exc).__name__}). "
            "Start Docker (or point DOCKER_HOST at a running daemon), or opt in to running code "
            'unsandboxed on this machine with executor="local" (use_docker=False).'
        ) from exc
    return client


def _close_stream(stream) -> None:
    """Close an attach stream and the socket under it (the SDK's close() skips an ended stream's)."""
    try:
        stream.close()
    except Exception:
        pass
    response = getattr(stream, "_response", None)
    if response is not None:
        try:
            sock = response.raw._fp.fp.raw._sock
        except AttributeError:
            sock = None
        response.close()
        if sock is not None:
            sock.close()


class DockerExecutor(Executor):
    """Each block runs in a fresh container that is always removed afterwards.

    The container has no network, a memory limit without swap, a process limit, a read-only
    root with a tmpfs /tmp, one writable bind mount (the work dir, at /workspace), all Linux
    capabilities dropped, no-new-privileges, and a non-root user: the calling user's uid when
    moot runs unprivileged (so files the code writes stay yours), else nobody (65534), for
    whom the work dir is made writable. Python runs with -u so output streams and survives a
    kill. Timeouts are enforced through the API (kill), never by signals to a CLI.
    """

    name = "docker"
    sandboxed = True

    def __init__(
        self,
        work_dir: str | Path,
        *,
        client=None,
        owns_client: bool | None = None,
        image: str | None = None,
        limits: Limits | None = None,
        user: str | None = None,
        build_image: bool | None = None,
        tmpfs_size: str = "64m",
    ) -> None:
        self.work_dir = Path(work_dir).expanduser().resolve()
        self.limits = limits or Limits()
        self._owns_client = client is None if owns_client is None else owns_client
        self._client = client if client is not None else docker_client()
        self.image = image or default_image_name()
        # The default image is built locally when missing; another image is pulled.
        self._build_image = (image is None or image == default_image_name()) if build_image is None else build_image
        self._user_given = user is not None
        self.user = user or (NOBODY if os.geteuid() == 0 else f"{os.geteuid()}:{os.getegid()}")
        self.tmpfs_size = tmpfs_size
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._active: set[str] = set()
        self._closed = False

    @property
    def client(self):
        return self._client

    # -- set-up ---------------------------------------------------------------------------

    def _own_work_dir(self) -> None:
        """Who the code runs as, so that it can write the work dir without opening it to anyone.

        Unprivileged, the code runs as the calling user. As root (the code is never root): a work
        dir moot creates is made private (0700) and given to nobody (65534), who runs the code; an
        existing folder keeps its mode and the code runs as the folder's owner; a private folder
        of root's own cannot be used (saying so), since only opening it would let nobody in."""
        fresh = not self.work_dir.exists()
        make_work_dir(self.work_dir)
        if os.geteuid() != 0 or self._user_given:
            return
        if fresh:
            uid, gid = (int(x) for x in NOBODY.split(":"))
            os.chown(self.work_dir, uid, gid)
            self.user = NOBODY
            return
        info = self.work_dir.stat()
        if info.st_uid != 0:
            self.user = f"{info.st_uid}:{info.st_gid}"
            return
        if info.st_mode & stat.S_IRWXO != stat.S_IRWXO:
            raise ExecutorUnavailable(
                f"the work dir {self.work_dir} belongs to root and is not open to others, and code never runs as "
                f"root in the sandbox: give a work dir that does not exist yet (moot makes it private to the "
                f"sandbox user) or one owned by the user the code should run as")

    def _prepare_sync(self) -> None:
        import docker.errors

        self._own_work_dir()
        if self._build_image:
            ensure_image(self._client, self.image)
        elif not image_exists(self._client, self.image):
            try:
                self._client.images.pull(self.image)
            except docker.errors.DockerException as exc:
                raise ExecutorUnavailable(
                    f"the Docker image {self.image!r} is not on this daemon and could not be pulled ({exc}); "
                    "build or load it first, or leave `image` unset to use moot's own locally built image"
                ) from exc

    async def prepare(self) -> None:
        """Create the work dir and make sure the image exists (built once, then cached by Docker)."""
        if self._ready:
            return
        async with self._ready_lock:
            if not self._ready:
                await asyncio.to_thread(self._prepare_sync)
                self._ready = True

    # -- one run --------------------------------------------------------------------------

    def _create(self, command: list[str]) -> str:
        from docker.types import LogConfig

        limits = self.limits
        container = self._client.containers.create(
            self.image,
            command,
            name=f"moot-exec-{uuid.uuid4().hex[:12]}",
            labels={LABEL: "docker"},
            working_dir=CONTAINER_WORK_DIR,
            user=self.user,
            environment={"PYTHONUNBUFFERED": "1", "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"},
            network_mode="none",
            mem_limit=limits.memory,
            memswap_limit=limits.memory,  # same as mem_limit: no swap, so the limit is real
            pids_limit=limits.pids,
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={self.tmpfs_size},mode=1777"},
            volumes={str(self.work_dir): {"bind": CONTAINER_WORK_DIR, "mode": "rw"}},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            # Docker keeps a copy of all output in its log; bound it (we read the live stream).
            log_config=LogConfig(type=LogConfig.types.JSON, config={"max-size": "1m", "max-file": "1"}),
            stdin_open=False,
            tty=False,
        )
        return container.id

    def _remove(self, container_id: str) -> None:
        import docker.errors

        try:
            self._client.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise
        finally:
            self._active.discard(container_id)

    def _kill(self, container_id: str) -> None:
        import docker.errors

        try:
            self._client.api.kill(container_id)
        except docker.errors.APIError:
            pass  # already stopped

    def _wait(self, container_id: str, timeout: float) -> int | None:
        """The exit code, or None if the container still runs after `timeout` seconds."""
        import requests

        try:
            return int(self._client.api.wait(container_id, timeout=max(timeout, 0.01))["StatusCode"])
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return None

    @staticmethod
    def _pump(stream, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        """Thread: move (stream, bytes) pairs from the blocking attach stream to the event loop."""
        try:
            for stdout, stderr in stream:
                if stdout:
                    loop.call_soon_threadsafe(queue.put_nowait, ("stdout", stdout))
                if stderr:
                    loop.call_soon_threadsafe(queue.put_nowait, ("stderr", stderr))
        except Exception:
            pass  # the stream was closed under us (cancel, kill): the run is over either way
        finally:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, _END)
            except RuntimeError:
                pass  # the loop is gone

    async def run(self, block: CodeBlock) -> AsyncIterator[OutputChunk | ExecutionResult]:
        """Run one block in a new container; yields output chunks live, then one ExecutionResult."""
        if self._closed:
            raise ExecutorError("this Docker executor is closed")
        problem = check_runnable(block)
        if problem:
            yield unrunnable_result(block, problem)
            return
        await self.prepare()
        try:
            script = write_script(self.work_dir, block)
        except ExecutorError as exc:  # a planted link or FIFO where the script goes: this block fails
            yield unrunnable_result(block, str(exc))
            return
        command = ["python", "-u", script] if block.language == "python" else ["sh", script]
        limits = self.limits
        started = time.monotonic()
        deadline = started + limits.timeout_s
        collector = OutputCollector(limits.output)
        container_id: str | None = None
        stream = None
        timed_out = False
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        try:
            container_id = await asyncio.to_thread(self._create, command)
            self._active.add(container_id)
            stream = await asyncio.to_thread(
                self._client.api.attach, container_id, stream=True, logs=True, demux=True
            )
            pump = threading.Thread(target=self._pump, args=(stream, loop, queue), daemon=True, name="moot-docker-output")
            pump.start()
            await asyncio.to_thread(self._client.api.start, container_id)

            # Stream output until the container closes its output or the time is up.
            ended = False
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                if item is _END:
                    ended = True
                    break
                for chunk in collector.feed(item[1], item[0]):
                    yield chunk

            exit_code = await asyncio.to_thread(self._wait, container_id, deadline - time.monotonic())
            if exit_code is None:
                timed_out = True
                await asyncio.to_thread(self._kill, container_id)
                exit_code = await asyncio.to_thread(self._wait, container_id, 30)
            # Whatever was printed before the end (or the kill) is still in the stream.
            while not ended:
                try:
                    item = await asyncio.wait_for(queue.get(), 5)
                except asyncio.TimeoutError:
                    break
                if item is _END:
                    break
                for chunk in collector.feed(item[1], item[0]):
                    yield chunk
            state = (await asyncio.to_thread(self._client.api.inspect_container, container_id))["State"]
            if exit_code is None:
                exit_code = int(state.get("ExitCode", 137))
            killed_reason = None
            if timed_out:
                killed_reason = f"timeout after {describe_seconds(limits.timeout_s)}"
            elif state.get("OOMKilled"):
                killed_reason = f"out of memory (limit {describe_memory(limits.memory)})" if limits.memory else "out of memory"
            elif exit_code == 137:
                killed_reason = "killed (SIGKILL)"
            last_chunks, output = collector.finish()
            for chunk in last_chunks:
                yield chunk
            # Clean up before the last yield: a caller that stops at the result never resumes us.
            _close_stream(stream)
            stream = None
            await asyncio.shield(asyncio.to_thread(self._remove, container_id))
            container_id = None
            yield ExecutionResult(
                exit_code=exit_code,
                output=output,
                duration_s=time.monotonic() - started,
                timed_out=timed_out,
                truncated=collector.truncated,
                language=block.language,
                killed_reason=killed_reason,
            )
        except (ExecutorError, GeneratorExit, asyncio.CancelledError):
            raise
        except Exception as exc:
            import docker.errors
            import requests

            if isinstance(exc, (docker.errors.DockerException, requests.RequestException)):
                raise ExecutorError(f"Docker could not run the code block: {exc}") from exc
            raise
        finally:
            if stream is not None:
                _close_stream(stream)
            if container_id is not None:
                # Shielded: a second cancellation must not leave the container behind.
                await asyncio.shield(asyncio.to_thread(self._remove, container_id))

    async def aclose(self) -> None:
        """Kill and remove any container still running, and close the client if it is ours."""
        self._closed = True
        for container_id in list(self._active):
            await asyncio.to_thread(self._remove, container_id)
        if self._owns_client:
            await asyncio.to_thread(self._client.close)

