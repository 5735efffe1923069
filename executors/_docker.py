"""Run code blocks in throw-away Docker containers: no network, bounded memory, CPU, processes and disk."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
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
    script_name,
    unrunnable_result,
)
from ._blocks import CodeBlock
from ._image import CONTAINER_WORK_DIR, default_image_name, ensure_image, image_exists
from ._results import ExecutionResult, ExecutorError, ExecutorUnavailable, OutputChunk
from ._scratch import FrameReader, TrailerScanner, copy_back, describe_size, runner_command, scan_work_dir, send_seed

#: Non-root user the code runs as when moot itself runs as root: nobody.
NOBODY = "65534:65534"
#: Every container moot starts carries this label, so leftovers can be found and removed.
LABEL = "moot.executor"
#: ... and these: which moot process (pid, its start time, the host) owns it.
OWNER_PID, OWNER_STARTED, OWNER_HOST = "moot.owner_pid", "moot.owner_started", "moot.owner_host"
#: How long past a block's timeout moot waits for the runner's report before killing the container.
_GRACE_S = 20.0
_END = object()


def _started(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot), or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _owner_labels() -> dict[str, str]:
    return {LABEL: "docker", OWNER_PID: str(os.getpid()), OWNER_STARTED: _started(os.getpid()) or "",
            OWNER_HOST: socket.gethostname()}


def remove_orphans(client) -> list[str]:
    """Remove the containers of moot processes on this host that are gone (killed before they could
    clean up); returns one line per container removed, for moot to show."""
    import docker.errors

    try:
        found = client.api.containers(all=True, filters={"label": [OWNER_PID, f"{OWNER_HOST}={socket.gethostname()}"]})
    except docker.errors.DockerException:
        return []
    lines = []
    for info in found:
        labels = info.get("Labels") or {}
        try:
            pid = int(labels.get(OWNER_PID, ""))
        except ValueError:
            continue
        if pid == os.getpid() or (_started(pid) is not None and _started(pid) == labels.get(OWNER_STARTED)):
            continue  # its moot still runs
        try:
            client.api.remove_container(info["Id"], force=True)
        except docker.errors.NotFound:
            continue
        except docker.errors.DockerException:
            continue
        name = (info.get("Names") or [info["Id"][:12]])[0].lstrip("/")
        lines.append(f"removed the Docker container {name}, left behind by moot process {pid}, which is gone")
    return lines


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


def _close_socket(sock) -> None:
    """Close an attach socket, the socket under it and its HTTP response (a blocked reader wakes up)."""
    raw = getattr(sock, "_sock", sock)
    try:
        raw.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    for thing in (sock, raw, getattr(sock, "_response", None)):
        try:
            if thing is not None:
                thing.close()
        except Exception:
            pass


class DockerExecutor(Executor):
    """Each block runs in a fresh container that is always removed afterwards.

    The container has no network, a CPU quota (`cpus`), a memory limit without swap, a process
    limit, a read-only root with a tmpfs /tmp, all Linux capabilities dropped, no-new-privileges,
    and a non-root user (the calling user's uid when moot runs unprivileged, else nobody or the
    work dir's owner). It never sees the host work dir: its /workspace is a scratch tmpfs of the
    `disk` limit's size and `files` inodes, seeded with the work dir's regular files and copied
    back after the block within the same limits, links and special files left out (see
    `moot.executors._scratch`). The scratch lives in RAM, so the container's hard memory cap is
    `memory` + `disk`; the code's own memory is held to `memory` by the runner, which kills the
    block when it goes over. The runner is PID 1 and kills every process left when the block
    ends, at its timeout, or when moot goes away; Python runs with -u so output streams and
    survives a kill. Containers are labelled with the owning moot process; those of a moot that
    died are removed when the next Docker executor starts (`notices` says so).
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
        #: Lines for the user about this executor's start (orphaned containers removed).
        self.notices: list[str] = remove_orphans(self._client)

    @property
    def client(self):
        return self._client

    # -- set-up ---------------------------------------------------------------------------

    def _own_work_dir(self) -> None:
        """Create the work dir (private, 0700, when new) and choose who the code runs as.

        The container never sees the host work dir (it works in a scratch copy), so nothing is
        opened to anyone: unprivileged, the code runs as the calling user; as root, as the work
        dir's owner when that is not root, else as nobody (65534). Never as root."""
        make_work_dir(self.work_dir)
        if os.geteuid() != 0 or self._user_given:
            return
        info = self.work_dir.stat()
        self.user = f"{info.st_uid}:{info.st_gid}" if info.st_uid != 0 else NOBODY

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
        limits = self.limits
        scratch = f"rw,nosuid,nodev,exec,size={limits.disk},nr_inodes={limits.files + 1},mode=0700"
        uid, _, gid = self.user.partition(":")
        if uid.isdigit() and gid.isdigit():
            scratch += f",uid={uid},gid={gid}"
        # The scratch is RAM the container's memory cgroup is charged for: the hard cap holds both.
        memory = limits.memory + limits.disk if limits.memory else None
        api = self._client.api
        host_config = api.create_host_config(
            network_mode="none",
            mem_limit=memory,
            memswap_limit=memory,  # same as mem_limit: no swap, so the limit is real
            pids_limit=limits.pids,
            nano_cpus=int(limits.cpus * 1e9) if limits.cpus else None,
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={self.tmpfs_size},mode=1777", CONTAINER_WORK_DIR: scratch},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            # The live attach stream is all moot reads: Docker keeps no copy (the report is binary).
            log_config={"type": "none", "config": {}},
        )
        container = api.create_container(
            self.image,
            command,
            name=f"moot-exec-{uuid.uuid4().hex[:12]}",
            labels=_owner_labels(),
            working_dir=CONTAINER_WORK_DIR,
            user=self.user,
            environment={"PYTHONUNBUFFERED": "1", "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"},
            host_config=host_config,
            stdin_open=True,
            tty=False,
        )
        # StdinOnce: when moot's attach closes (moot exits or dies), the runner sees the end of its stdin.
        return container["Id"]

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

    def _pump(self, sock, scanner: TrailerScanner, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        """Thread: move output from the attach socket to the event loop; at the runner's marker,
        read its report and copy the scratch's new files back into the work dir."""
        from docker.utils.socket import STDERR, frames_iter

        def post(item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:
                pass  # the loop is gone

        def stdout_frames():
            for stream, data in frames_iter(sock, tty=False):
                if stream == STDERR:
                    post(("stderr", data))
                else:
                    yield data

        try:
            frames = stdout_frames()
            for data in frames:
                shown = scanner.feed(data)
                if shown:
                    post(("stdout", shown))
                if scanner.found:
                    break
            if not scanner.found:
                held = scanner.flush()
                if held:
                    post(("stdout", held))
                return
            limits = self.limits
            reader = FrameReader(scanner.rest, frames, limit=limits.disk + 1024 * (limits.files + 64))
            try:
                info = json.loads(reader.readline(1 << 16))
            except ValueError:
                info = None
            if not isinstance(info, dict):
                return
            report = copy_back(reader, self.work_dir, limits.disk, limits.files, owner=self._copy_owner())
            post(("report", (info, report)))
            for _ in frames:  # the runner exits after its report
                pass
        except Exception:
            pass  # the socket was closed under us (cancel, kill): the run is over either way
        finally:
            post(_END)

    def _copy_owner(self) -> tuple[int, int] | None:
        """Whom files copied back belong to: as root, the work dir's owner (a user's folder stays theirs)."""
        if os.geteuid() != 0:
            return None
        info = self.work_dir.stat()
        return None if info.st_uid == 0 else (info.st_uid, info.st_gid)

    def _start(self, container_id: str) -> None:
        import docker.errors

        try:
            self._client.api.start(container_id)
        except docker.errors.APIError as exc:
            if "executable file not found" in str(exc) or "no such file" in str(exc).lower():
                raise ExecutorUnavailable(
                    f"the Docker image {self.image!r} has no python3 on its PATH, which moot needs to run blocks "
                    f"in it (a small runner copies the work dir in and out); use an image with Python, or leave "
                    f"`image` unset") from None
            raise

    @staticmethod
    def _send_seed(sock, work_dir: Path, seed, header: dict, script: tuple[str, bytes]) -> None:
        """Thread: send the header and the seed to the runner's stdin (left open: its end means moot is gone)."""
        raw = getattr(sock, "_sock", sock)
        try:
            send_seed(raw.sendall, work_dir, seed, header, script)
        except OSError:
            pass  # the container went away; the run reports how

    def _result(self, block: CodeBlock, report, exit_code: int | None, state: dict, timed_out: bool,
                collector: OutputCollector, started: float) -> tuple[list[OutputChunk], ExecutionResult]:
        """The block's result from the runner's report (or, without one, from Docker's view)."""
        limits = self.limits
        reasons: list[str] = []
        notes = ""
        if report is not None:
            info, copied = report
            timed_out = timed_out or bool(info.get("timed_out"))
            exit_code = info.get("exit")
            error = info.get("error") or ""
            if error.startswith("seed"):
                reasons.append(f"the work dir does not fit its scratch ({error[6:]}; the disk limit is "
                               f"{describe_size(limits.disk)}, the files limit {limits.files:,})")
            elif error:
                reasons.append(f"the code could not start ({error})")
            if info.get("memory"):
                reasons.append(f"out of memory (limit {describe_memory(limits.memory)})")
            elif info.get("oom_kills") and exit_code == 137:
                reasons.append(f"out of memory (limit {describe_memory(limits.memory)} for the code, "
                               f"{describe_size(limits.disk)} for its files)" if limits.memory else "out of memory")
            if info.get("free_files") == 0:
                reasons.append(f"the block hit the files limit ({limits.files:,} files and folders)")
            elif isinstance(info.get("free_bytes"), int) and info["free_bytes"] < 64 * 1024:
                reasons.append(f"the block hit the disk limit ({describe_size(limits.disk)})")
            notes = copied.note()
        elif state.get("OOMKilled"):
            reasons.append(f"out of memory (limit {describe_memory(limits.memory)})" if limits.memory else "out of memory")
        if exit_code is None:
            exit_code = int(state.get("ExitCode", 137) or 137) if not timed_out else 137
        if timed_out:
            reasons.insert(0, f"timeout after {describe_seconds(limits.timeout_s)}")
        elif exit_code == 137 and not reasons:
            reasons.append("killed (SIGKILL)")
        if reasons and exit_code == 0:
            exit_code = 1  # a limit was hit: the block failed, whatever the code said
        chunks, output = collector.finish()
        if notes:
            chunks.append(OutputChunk(notes, "stderr"))
            output += notes
        return chunks, ExecutionResult(
            exit_code=exit_code,
            output=output,
            duration_s=time.monotonic() - started,
            timed_out=timed_out,
            truncated=collector.truncated,
            language=block.language,
            killed_reason="; ".join(reasons) or None,
        )

    async def run(self, block: CodeBlock) -> AsyncIterator[OutputChunk | ExecutionResult]:
        """Run one block in a new container; yields output chunks live, then one ExecutionResult."""
        if self._closed:
            raise ExecutorError("this Docker executor is closed")
        problem = check_runnable(block)
        if problem:
            yield unrunnable_result(block, problem)
            return
        await self.prepare()
        limits = self.limits
        try:
            seed = await asyncio.to_thread(scan_work_dir, self.work_dir, limits.disk, limits.files)
        except ExecutorError as exc:
            yield unrunnable_result(block, str(exc))
            return
        name = script_name(block)
        command = ["python", "-u", name] if block.language == "python" else ["sh", name]
        marker = f"\0moot-report-{secrets.token_hex(16)}\0"
        header = {"command": command, "timeout": limits.timeout_s, "marker": marker, "script": name,
                  "memory": limits.memory}
        started = time.monotonic()
        deadline = started + limits.timeout_s + _GRACE_S  # the runner keeps the timeout; this is the backstop
        collector = OutputCollector(limits.output)
        scanner = TrailerScanner(marker.encode())
        container_id: str | None = None
        sock = None
        timed_out = False
        report = None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        try:
            container_id = await asyncio.to_thread(self._create, runner_command())
            self._active.add(container_id)
            sock = await asyncio.to_thread(
                self._client.api.attach_socket, container_id, {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            threading.Thread(target=self._pump, args=(sock, scanner, loop, queue), daemon=True,
                             name="moot-docker-output").start()
            await asyncio.to_thread(self._start, container_id)
            script = (name, block.code.encode("utf-8", "surrogatepass"))
            threading.Thread(target=self._send_seed, args=(sock, self.work_dir, seed, header, script), daemon=True,
                             name="moot-docker-seed").start()

            # Stream output until the runner has reported and exited, or the backstop is reached.
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except asyncio.TimeoutError:
                    continue
                if item is _END:
                    break
                if item[0] == "report":
                    report = item[1]
                    continue
                for chunk in collector.feed(item[1], item[0]):
                    yield chunk
            if timed_out:
                await asyncio.to_thread(self._kill, container_id)
            exit_code = await asyncio.to_thread(self._wait, container_id, 30)
            state = (await asyncio.to_thread(self._client.api.inspect_container, container_id))["State"]
            last_chunks, result = self._result(block, report, exit_code, state, timed_out, collector, started)
            for chunk in last_chunks:
                yield chunk
            # Clean up before the last yield: a caller that stops at the result never resumes us.
            _close_socket(sock)
            sock = None
            await asyncio.shield(asyncio.to_thread(self._remove, container_id))
            container_id = None
            yield result
        except (ExecutorError, GeneratorExit, asyncio.CancelledError):
            raise
        except Exception as exc:
            import docker.errors
            import requests

            if isinstance(exc, (docker.errors.DockerException, requests.RequestException)):
                raise ExecutorError(f"Docker could not run the code block: {exc}") from exc
            raise
        finally:
            if sock is not None:
                _close_socket(sock)
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

