"""Run code blocks in a bubblewrap sandbox: no network, a read-only host, only the work dir writable."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from moot.paths import cache_dir, config_dir, data_dir

from ._base import Limits
from ._blocks import CodeBlock
from ._cgroup import ProcessCap
from ._local import LocalExecutor, code_environment
from ._results import ExecutionResult, ExecutorUnavailable, OutputChunk

#: Host folders the code may read (read-only): the system, not the users' files.
_SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: New, empty and private to each run.
_SCRATCH = ("/tmp", "/run", "/var/tmp")
SCRATCH_BYTES = 64 * 1024**2  # the size of each of those (as Docker's /tmp)
_NAMESPACES = ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--cap-drop", "ALL")
#: Newer bwrap (0.8+) can forbid the code to make user namespaces of its own.
_NO_NESTED = "--disable-userns"

HOW_TO_GET = ("install bubblewrap (Debian/Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap; "
              "Arch: pacman -S bubblewrap)")


def _under(path: str, roots: list[str] | tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


@functools.cache
def _unreadable_in_etc() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(folders, files) under /etc that others may not read (shadow, private keys): hidden even
    from root's code, which keeps its uid (though no capability) inside the sandbox."""
    folders, files = [], []
    for top, dirs, names in os.walk("/etc"):
        for name in list(dirs):
            path = os.path.join(top, name)
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode) and info.st_mode & 0o005 != 0o005:
                folders.append(path)
                dirs.remove(name)
        for name in names:
            path = os.path.join(top, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and not info.st_mode & stat.S_IROTH:
                files.append(path)
    return tuple(folders), tuple(files)


def _python_roots(python: str) -> list[str]:
    """The folders the interpreter needs (venv and base installation) outside the system dirs."""
    found = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.dirname(os.path.abspath(python))),
             os.path.dirname(os.path.dirname(os.path.realpath(python)))}
    roots = sorted(os.path.realpath(p) for p in found)
    kept: list[str] = []
    for root in roots:
        if root != "/" and not _under(root, _SYSTEM) and not _under(root, kept):
            kept.append(root)
    return kept


def _hidden() -> list[str]:
    """Folders of this user and of moot that code never sees, should a bound folder hold them."""
    paths = {str(Path.home()), str(data_dir(create=False)), str(config_dir()), str(cache_dir())}
    try:
        import pwd

        paths.add(pwd.getpwuid(os.geteuid()).pw_dir)
    except (ImportError, KeyError):
        pass
    return sorted(os.path.realpath(p) for p in paths if p and p != "/")


@functools.cache
def _knows_size(bwrap: str) -> bool:
    """Whether this bwrap can size a tmpfs (0.7 and newer; older ones leave it at their default)."""
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in done.stdout + done.stderr


def bwrap_arguments(bwrap: str, work_dir: Path, python: str, *, no_nested: bool = True) -> list[str]:
    """The bwrap command line up to the code's own command: what the sandbox is made of."""
    args = [bwrap, *_NAMESPACES, *([_NO_NESTED] if no_nested else [])]
    bound: list[str] = []
    for path in _SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
            bound.append(path)
    for root in _python_roots(python):
        args += ["--ro-bind", root, root]
        bound.append(root)
    folders, files = _unreadable_in_etc()
    for path in folders:
        args += ["--tmpfs", path]
    for path in files:
        args += ["--ro-bind", "/dev/null", path]
    for path in _hidden():
        if _under(path, bound) and os.path.isdir(path):
            args += ["--tmpfs", path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    sized = _knows_size(bwrap)
    for path in (*_SCRATCH, "/dev/shm"):  # in RAM: each capped (bwrap's default is half the machine's memory)
        args += [*(["--size", str(SCRATCH_BYTES)] if sized else []), "--tmpfs", path]
    work = str(work_dir)
    # The root bwrap builds is a tmpfs of its own: read-only too, once every mount point is made.
    return args + ["--bind", work, work, "--remount-ro", "/", "--chdir", work, "--"]


@functools.cache
def _probe(bwrap: str) -> tuple[str | None, bool]:
    """(why bwrap cannot run a sandbox here, or None; whether it knows --disable-userns)."""
    with tempfile.TemporaryDirectory(prefix="moot-probe-") as work:
        for no_nested in (True, False):
            command = bwrap_arguments(bwrap, Path(work), sys.executable, no_nested=no_nested) + ["/bin/true"]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL,
                                      env=code_environment(Path(work)))
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"{bwrap} could not be run ({exc})", no_nested
            if done.returncode == 0:
                return None, no_nested
            said = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            if no_nested and _NO_NESTED in said:
                continue  # an older bwrap: the sandbox is made without that option
            return f"bwrap cannot make a sandbox here ({said})", no_nested
    return "bwrap cannot make a sandbox here", False


_SET_ID = stat.S_ISUID | stat.S_ISGID


def strip_set_id_bits(work_dir: Path) -> list[str]:
    """Clear the setuid and setgid bits of every file the code left in ``work_dir`` (it keeps its
    uid in the sandbox: run as root, a setuid file there would be a setuid-root program on the
    host). Links are not followed. Returns the files changed, relative to the work dir."""
    changed = []
    for top, dirs, files in os.walk(work_dir):
        for name in files + dirs:
            path = os.path.join(top, name)
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode) or not info.st_mode & _SET_ID:
                    continue
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                try:
                    os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & ~_SET_ID)
                finally:
                    os.close(fd)
                changed.append(os.path.relpath(path, work_dir))
            except OSError:
                continue
    return changed


def find_bwrap() -> str | None:
    return shutil.which("bwrap")


def sandbox_problem() -> str | None:
    """Why the bubblewrap sandbox cannot run here, in words; None when it works (a probe run,
    made once per bwrap binary and cached)."""
    bwrap = find_bwrap()
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed (or not on PATH)"
    return _probe(bwrap)[0]


def sandbox_available() -> bool:
    """True when `bwrap` is installed and can make a sandbox here (unprivileged user namespaces)."""
    return sandbox_problem() is None


class SandboxExecutor(LocalExecutor):
    """Each block runs in a bubblewrap sandbox made for it, then torn down.

    Inside: no network (its own network namespace), the system folders read-only (/usr, /etc,
    with what only root may read in /etc hidden) and this interpreter's folders, a fresh
    /tmp, /run and /dev, and one writable folder, the work dir, at its own path; users' homes,
    moot's data and config dirs, sockets and every other host path are absent. It has its own
    pid namespace (when the block ends, times out or moot dies, every process in it dies, setsid
    or double-forked ones too), no capabilities, no user namespaces of its own (bwrap 0.8+), and
    the same allow-listed environment as local code (HOME is the work dir), given to bwrap
    itself, so no key shows even in /proc/1/environ. Timeout, output cap and memory limit
    (RLIMIT_AS, when set) work as in the local executor. The process limit (``pids``, threads
    included) is a pids cgroup made for each block where moot may make one (as root, or in a
    delegated cgroup), else RLIMIT_NPROC; root with neither cannot be capped
    (``process_cap_problem()``).
    The code runs as the user running moot (root keeps uid 0 with no capability, and cannot write
    outside the work dir).
    """

    name = "sandbox"
    sandboxed = True
    _hunts_orphans = False  # the pid namespace takes everything down with it

    def __init__(self, work_dir: str | Path, *, limits: Limits | None = None, python: str | None = None,
                 pass_env: tuple[str, ...] = (), bwrap: str | None = None) -> None:
        super().__init__(work_dir, limits=limits, python=python, pass_env=pass_env)
        self.bwrap = bwrap or find_bwrap()
        if self.bwrap is None:
            raise ExecutorUnavailable(f"the sandbox executor needs bubblewrap (bwrap), which is not installed: {HOW_TO_GET}")
        problem, self._no_nested = _probe(self.bwrap)
        if problem:
            raise ExecutorUnavailable(f"the sandbox executor cannot run here: {problem}")
        work = str(self.work_dir)
        exposed = [p for p in _hidden() if _under(p, [work])]
        if work == "/" or exposed:
            raise ExecutorUnavailable(f"the work dir {work} holds {exposed[0] if exposed else 'everything'} (your home or "
                                f"moot's own files), which sandboxed code must not see: give a folder of its own")
        self._prefix: list[str] | None = None

    async def run(self, block: CodeBlock) -> AsyncIterator[OutputChunk | ExecutionResult]:
        async for item in super().run(block):
            if isinstance(item, ExecutionResult):  # before the result: a caller may stop there
                stripped = strip_set_id_bits(self.work_dir)
                if stripped:
                    note = f"\n[moot cleared the setuid/setgid bits of {', '.join(stripped[:5])}" + \
                           (f" and {len(stripped) - 5} more" if len(stripped) > 5 else "") + "]\n"
                    yield OutputChunk(note, "stderr")
                    item = dataclasses.replace(item, output=item.output + note)
            yield item

    def _preexec(self, cap: ProcessCap | None = None):
        inner = super()._preexec(cap)
        disk = self.limits.disk
        if not disk:
            return inner

        def limit() -> None:  # no file the code writes in the work dir (on the host's disk) outgrows the disk limit
            if inner is not None:
                inner()
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (disk, disk))

        return limit

    def _process_cap(self) -> ProcessCap | None:
        return ProcessCap(self.limits.pids) if self.limits.pids else None

    def _command(self, block: CodeBlock, script: str) -> list[str]:
        if self._prefix is None:
            self._prefix = bwrap_arguments(self.bwrap, self.work_dir, self.python, no_nested=self._no_nested)
        return self._prefix + super()._command(block, script)

    def _environment(self, marker: str) -> dict[str, str]:
        env = super()._environment(marker)
        env["TMPDIR"] = "/tmp"  # the host's TMPDIR is not in the sandbox
        return env
