"""Run code blocks as subprocesses on this machine: no sandbox, so opt-in only."""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import functools
import os
import secrets
import signal
import sys
import time
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
from ._cgroup import ProcessCap
from ._results import ExecutionResult, ExecutorError, OutputChunk

_END = object()
_POLL_S = 0.05  # how often the main process's exit is checked while it prints nothing
_DRAIN_S = 2.0  # how long output still in the pipes is read after the code ended


async def _returncode(proc: asyncio.subprocess.Process, within: float) -> int | None:
    """Wait (polling) until the main process has exited; its return code, or None."""
    deadline = time.monotonic() + within
    while proc.returncode is None and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return proc.returncode


# What code sees of moot's environment: enough to run tools, never a key. Everything else
# (OPENAI_API_KEY, the variable a models.toml names in api_key_env, tokens, ...) stays out unless
# the team lists it.
_BASIC_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "TMPDIR", "PYTHONPATH", "PYTHONHOME",
              "VIRTUAL_ENV", "SYSTEMROOT")


def code_environment(work_dir: Path, pass_env: tuple[str, ...] = ()) -> dict[str, str]:
    """The allow-listed environment a block runs with (HOME is its work dir)."""
    env = {name: os.environ[name] for name in (*_BASIC_ENV, *pass_env) if name in os.environ}
    env.update(HOME=str(work_dir), PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# -- what a block leaves behind -----------------------------------------------------------------
# A block's children can leave its process group (setsid) and its parent (a double fork). moot is
# made a child subreaper, so such orphans become moot's children instead of init's; each block's
# processes carry a marker in their environment (MOOT_BLOCK), and once the block is over every
# descendant of moot that carries the block's marker is killed and reaped. Code that execs with
# a scrubbed environment on purpose is not caught: the local executor is no sandbox.

_MARKER = "MOOT_BLOCK"
_PR_SET_CHILD_SUBREAPER = 36


@functools.cache
def _become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); False where it cannot."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process this machine shows."""
    found: dict[int, tuple[int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split(b" ", 2)  # the name in (...) may hold spaces
        found[int(entry.name)] = (int(fields[1]), fields[0].decode())
    return found


def _marked(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return marker in f.read().split(b"\0")
    except OSError:
        return False


def kill_marked(marker: str, spare: int | None = None, rounds: int = 20) -> None:
    """Kill every descendant of this process whose environment holds `marker` (MOOT_BLOCK=...),
    and reap those that became our children (not `spare`: asyncio waits for that one)."""
    me = os.getpid()
    wanted = marker.encode()
    killed: set[int] = set()
    for _ in range(rounds):
        table = _processes()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _state) in table.items():
            children.setdefault(ppid, []).append(pid)
        found, todo = [], list(children.get(me, ()))
        while todo:
            pid = todo.pop()
            todo += children.get(pid, ())
            if pid in killed or table[pid][1] == "Z":
                continue
            if _marked(pid, wanted):
                found.append(pid)
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        killed.update(found)
        # Reap the dead that are ours (zombies whose parent is this process), never `spare`.
        waiting = False
        for pid in killed - {spare}:
            ppid, state = table.get(pid, (0, ""))
            if pid not in table:
                continue
            waiting = True
            if ppid == me and state == "Z":
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        if not found and not waiting:
            return
        time.sleep(0.005)


def kill_orphans() -> list[str]:
    """Kill what blocks of a moot that died without cleaning up (SIGKILL) left running: every
    process of this user whose marker names a moot pid that is gone. Returns a line saying so, if any."""
    me, killed, owners = os.getpid(), 0, set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                found = [v for v in f.read().split(b"\0") if v.startswith(_MARKER.encode() + b"=")]
        except OSError:
            continue
        owner = found[0].split(b"=", 1)[1].split(b"-", 1)[0].decode() if found else ""
        if not owner.isdigit() or int(owner) == me or os.path.exists(f"/proc/{owner}"):
            continue
        try:
            os.kill(int(entry.name), signal.SIGKILL)
            killed += 1
            owners.add(owner)
        except (ProcessLookupError, PermissionError):
            pass
    if not killed:
        return []
    return [f"killed {killed} process(es) that code run by an earlier moot (pid {', '.join(sorted(owners))}) left running"]


#: Markers of the blocks running now, in every local executor: killed when moot exits.
_RUNNING: set[str] = set()


@atexit.register
def _kill_running() -> None:
    for marker in list(_RUNNING):
        kill_marked(marker)


class LocalExecutor(Executor):
    """Each block runs as a subprocess in the work dir, in its own process group.

    NOT a sandbox: the code can read and write anything this user can, and use the network.
    What it does enforce: the timeout (the whole process group is killed, children included),
    that nothing the block started outlives it (when the block ends, times out or moot exits,
    every descendant carrying the block's marker is killed, setsid and double-forked ones too:
    moot is their subreaper; what a killed moot left is killed by the next local executor made,
    and `notices` says so), the output cap, and, when a memory limit is given, an
    address-space limit (RLIMIT_AS) that makes big allocations fail with MemoryError. The
    process limit (`pids`) cannot be enforced per run here and is ignored.
    Python blocks run with this interpreter (`python`), -u; sh blocks with /bin/sh.
    """

    name = "local"
    sandboxed = False
    #: Whether orphans the code leaves are hunted down by marker (a pid namespace needs no hunt).
    _hunts_orphans = True

    def __init__(self, work_dir: str | Path, *, limits: Limits | None = None, python: str | None = None,
                 pass_env: tuple[str, ...] = ()) -> None:
        self.work_dir = Path(work_dir).expanduser().resolve()
        self.limits = limits or Limits(memory=None)
        self.python = python or sys.executable
        self.pass_env = tuple(pass_env)  # variables the team lets the code see, beyond the basics
        self._groups: dict[int, str] = {}  # process group -> the block's marker
        self._caps: dict[int, ProcessCap] = {}  # process group -> its process cap (sandbox only)
        self._closed = False
        self.notices: list[str] = kill_orphans() if self._hunts_orphans else []

    def _command(self, block: CodeBlock, script: str) -> list[str]:
        """The command line that runs the saved script (in the work dir)."""
        return [self.python, "-u", script] if block.language == "python" else ["/bin/sh", script]

    def _environment(self, marker: str) -> dict[str, str]:
        env = code_environment(self.work_dir, self.pass_env)
        if self._hunts_orphans:
            env[_MARKER] = marker
        return env

    def _process_cap(self) -> ProcessCap | None:
        """The cap on a block's processes (none here: see the class docstring)."""
        return None

    def _preexec(self, cap: ProcessCap | None = None):
        memory = self.limits.memory
        if memory is None and cap is None:
            return None

        def limit() -> None:  # runs in the child, between fork and exec
            if cap is not None:
                cap.preexec()
            if memory is not None:
                import resource

                resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        return limit

    def _end_block(self, pgid: int) -> None:
        """Kill the block's process group and everything else it started (its main process,
        whose pid is the group's, is left for asyncio to reap)."""
        _kill_group(pgid)
        marker = self._groups.get(pgid)
        if marker is not None and self._hunts_orphans:
            kill_marked(marker, spare=pgid)
        cap = self._caps.pop(pgid, None)
        if cap is not None:
            cap.release()

    async def _read(self, pipe: asyncio.StreamReader, stream: str, queue: asyncio.Queue) -> None:
        try:
            while data := await pipe.read(65536):
                queue.put_nowait((stream, data))
        finally:
            queue.put_nowait(_END)

    async def run(self, block: CodeBlock) -> AsyncIterator[OutputChunk | ExecutionResult]:
        """Run one block as a subprocess; yields output chunks live, then one ExecutionResult."""
        if self._closed:
            raise ExecutorError(f"this {self.name} executor is closed")
        problem = check_runnable(block)
        if problem:
            yield unrunnable_result(block, problem)
            return
        make_work_dir(self.work_dir)
        try:
            script = write_script(self.work_dir, block)
        except ExecutorError as exc:  # a planted link or FIFO where the script goes: this block fails
            yield unrunnable_result(block, str(exc))
            return
        limits = self.limits
        started = time.monotonic()
        deadline = started + limits.timeout_s
        collector = OutputCollector(limits.output)
        queue: asyncio.Queue = asyncio.Queue()
        marker = f"{_MARKER}={os.getpid()}-{secrets.token_hex(8)}"
        if self._hunts_orphans:
            _become_subreaper()
        cap = self._process_cap()
        proc = await asyncio.create_subprocess_exec(
            *self._command(block, script),
            cwd=self.work_dir,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so a kill reaches its children
            preexec_fn=self._preexec(cap),
            env=self._environment(marker.split("=", 1)[1]),
        )
        pgid = proc.pid
        self._groups[pgid] = marker
        if cap is not None:
            self._caps[pgid] = cap
        _RUNNING.add(marker)
        readers = [
            asyncio.create_task(self._read(proc.stdout, "stdout", queue)),
            asyncio.create_task(self._read(proc.stderr, "stderr", queue)),
        ]
        timed_out = False
        open_pipes = len(readers)
        try:
            # Not `await proc.wait()`: asyncio's wait() also waits for the pipes to close, which
            # a background child holding them would delay past any timeout. returncode is set
            # as soon as the main process exits.
            while proc.returncode is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                if not open_pipes:  # nothing more to read: wait for the exit itself
                    try:
                        await asyncio.wait_for(proc.wait(), remaining)
                    except asyncio.TimeoutError:
                        pass
                    continue
                try:
                    item = await asyncio.wait_for(queue.get(), min(remaining, _POLL_S))
                except asyncio.TimeoutError:
                    continue
                if item is _END:
                    open_pipes -= 1
                    continue
                for chunk in collector.feed(item[1], item[0]):
                    yield chunk
            # The main process is done (or out of time): nothing it started may outlive it.
            _kill_group(pgid)
            await _returncode(proc, 10)
            capped = cap is not None and cap.hit()
            self._end_block(pgid)
            # Drain what is still buffered in the pipes.
            drain_until = time.monotonic() + _DRAIN_S
            while open_pipes and time.monotonic() < drain_until:
                try:
                    item = await asyncio.wait_for(queue.get(), drain_until - time.monotonic())
                except asyncio.TimeoutError:
                    break  # something that escaped the hunt still holds a pipe
                if item is _END:
                    open_pipes -= 1
                    continue
                for chunk in collector.feed(item[1], item[0]):
                    yield chunk
            code = proc.returncode
            exit_code = 1 if code is None else (128 - code if code < 0 else code)
            last_chunks, output = collector.finish()
            for chunk in last_chunks:
                yield chunk
            # Clean up before the last yield: a caller that stops at the result never resumes us.
            self._cleanup(proc, pgid, readers, open_pipes)
            killed_reason = None
            if timed_out:
                killed_reason = f"timeout after {describe_seconds(limits.timeout_s)}"
            elif limits.memory and exit_code != 0 and "MemoryError" in output[-4000:]:
                killed_reason = f"out of memory (limit {describe_memory(limits.memory)})"
            elif capped:
                killed_reason = f"the block hit the process limit ({limits.pids} processes)"
            elif self.sandboxed and limits.disk and exit_code != 0 and (
                    exit_code == 128 + signal.SIGXFSZ or "File too large" in output[-4000:]):  # Python ignores SIGXFSZ
                killed_reason = f"the block hit the disk limit (a file of {describe_memory(limits.disk)})"
            yield ExecutionResult(
                exit_code=exit_code,
                output=output,
                duration_s=time.monotonic() - started,
                timed_out=timed_out,
                truncated=collector.truncated,
                language=block.language,
                killed_reason=killed_reason,
            )
        finally:
            if pgid in self._groups:
                _kill_group(pgid)
                if proc.returncode is None:
                    await asyncio.shield(_returncode(proc, 10))
                self._cleanup(proc, pgid, readers, open_pipes)

    def _cleanup(self, proc: asyncio.subprocess.Process, pgid: int, readers: list[asyncio.Task], open_pipes: int) -> None:
        self._end_block(pgid)
        for reader in readers:
            reader.cancel()
        if open_pipes:
            # Pipes still held by an escaped process: stop reading them. (Process has no
            # public close; its transport's close() only closes pipes once it has exited.)
            transport = getattr(proc, "_transport", None)
            if transport is not None:
                transport.close()
        _RUNNING.discard(self._groups.pop(pgid, ""))

    async def aclose(self) -> None:
        """Kill every block still running, and whatever it started."""
        self._closed = True
        for pgid in list(self._groups):
            self._end_block(pgid)
