"""A cap on how many processes one code block may run (a fork bomb stops at it).

The kernel counts processes per cgroup: where moot may make a pids cgroup (as root, cgroup v1's
pids hierarchy or the v2 root; a delegated v2 subtree whose pids controller is on), each block
gets one of its own, joined between fork and exec, so everything the code starts counts against
it; it is emptied and removed when the block ends. Elsewhere (an unprivileged user with no
delegation) RLIMIT_NPROC caps the user's processes at those running now plus the limit. Root
without a usable cgroup cannot be capped (the kernel exempts it from RLIMIT_NPROC);
``process_cap_problem()`` says so.
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import time
from pathlib import Path

_V2 = Path("/sys/fs/cgroup")
_V1_PIDS = Path("/sys/fs/cgroup/pids")


def _own_cgroup(controller: str | None) -> str | None:
    """This process's cgroup path in the v1 hierarchy of ``controller`` (None: the v2 one)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if (controller is None and names == "") or (controller is not None and controller in names.split(",")):
            return path
    return None


def _can_make_child(base: Path) -> bool:
    probe = base / f"moot-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        ok = (probe / "pids.max").exists() and os.access(probe / "cgroup.procs", os.W_OK)
    finally:
        try:
            probe.rmdir()
        except OSError:
            pass
    return ok


@functools.cache
def cgroup_base() -> Path | None:
    """Where block cgroups can be made (a folder with a pids controller moot may write), or None."""
    candidates: list[Path] = []
    v1 = _own_cgroup("pids")
    if v1 is not None and _V1_PIDS.is_dir():
        candidates += [_V1_PIDS / v1.lstrip("/"), _V1_PIDS]
    if (_V2 / "cgroup.controllers").exists():  # a v2-only mount
        own = _own_cgroup(None)
        if own is not None:
            base = _V2 / own.lstrip("/")
            try:
                if "pids" in (base / "cgroup.subtree_control").read_text().split():
                    candidates.append(base)
            except OSError:
                pass
        try:
            if "pids" in (_V2 / "cgroup.subtree_control").read_text().split():
                candidates.append(_V2)  # the root cgroup (root only): no rule against processes in it
        except OSError:
            pass
    for base in candidates:
        if base.is_dir() and _can_make_child(base):
            return base
    return None


def _processes_of(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def process_cap_problem() -> str | None:
    """Why processes cannot be capped here (None: they can)."""
    if cgroup_base() is not None or os.geteuid() != 0:
        return None
    return "running as root with no pids cgroup moot can make, so a block's processes are not capped"


class ProcessCap:
    """The process cap of one block: ``preexec()`` in the child, ``hit()`` after, ``release()`` at the end."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.path: Path | None = None
        self._nproc: int | None = None
        base = cgroup_base()
        if base is not None:
            path = base / f"moot-{os.getpid()}-{secrets.token_hex(6)}"
            try:
                path.mkdir()
                (path / "pids.max").write_text(str(limit))
                self.path = path
            except OSError:
                self._remove(path)
        if self.path is None and os.geteuid() != 0:
            self._nproc = _processes_of(os.getuid()) + limit

    def preexec(self) -> None:
        """In the child, between fork and exec: join the block's cgroup (or cap the user's processes)."""
        if self.path is not None:
            with open(self.path / "cgroup.procs", "w") as f:
                f.write(str(os.getpid()))
        elif self._nproc is not None:
            import resource

            soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
            cap = self._nproc if hard == resource.RLIM_INFINITY else min(self._nproc, hard)
            resource.setrlimit(resource.RLIMIT_NPROC, (cap, cap))

    def hit(self) -> bool:
        """Whether the code was refused a process at the cap (known with a cgroup only)."""
        if self.path is None:
            return False
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == "max" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def release(self) -> None:
        """Kill whatever is left in the block's cgroup and remove it."""
        path, self.path = self.path, None
        if path is not None:
            self._remove(path)

    @staticmethod
    def _remove(path: Path) -> None:
        for _ in range(50):
            try:
                pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                pids = []
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)  # processes still dying
