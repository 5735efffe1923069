"""The Docker executor's scratch work dir: seeded from the host work dir, copied back safely.

A block's container never sees the host work dir. Its /workspace is a tmpfs of the disk limit's
size (and the files limit's inode count), and moot talks to a small runner that is the
container's PID 1 (`RUNNER`, run as `python3 -I -S -c RUNNER`) over the container's stdin and
stdout:

1. moot sends a header (the block's command, its timeout, a random marker) and a tar of the host
   work dir's regular files plus the block's script (`send_seed`);
2. the runner unpacks it into /workspace, runs the script (stdout and stderr are the container's:
   they stream to moot as they are printed), and at its end or at the timeout kills every process
   left in the container (it is PID 1 of their pid namespace, so nothing a block starts survives);
3. it then writes the marker, a JSON line (exit status, timeout, out-of-memory kills, what is left
   on the tmpfs) and a tar of the regular files and folders that are new or changed (size or
   mtime) to stdout, and exits.

moot finds the marker in stdout (`TrailerScanner`) and unpacks the tar itself (`copy_back`):
regular files and folders only (links, hard links, devices and FIFOs are skipped and named), no
absolute or `..` names, at most the disk limit's bytes and the files limit's entries, each file
opened relative to the work dir without following a link at any step. Files the code deleted are
not deleted on the host. The marker only separates output from the trailer: code that learnt it
could at most end its own output early; what it could write is still checked the same way.
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ._results import ExecutorError

_NO_LINKS = os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 16

#: The container's PID 1. Kept to the standard library; it must run on any image with python3.
RUNNER = r'''
import json, os, signal, stat, subprocess, tarfile, threading, time
W = "/workspace"
state = {"memory": False, "done": False}

class In:
    def read(self, n=-1):
        out = bytearray()
        while n < 0 or len(out) < n:
            b = os.read(0, 65536 if n < 0 else n - len(out))
            if not b:
                break
            out += b
        return bytes(out)

class Out:
    def write(self, b):
        v = memoryview(b)
        while v:
            v = v[os.write(1, v):]
        return len(b)

def kill_all():
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            while True:
                os.waitpid(-1, 0)
        except ChildProcessError:
            pass
        try:
            os.kill(-1, 0)
        except ProcessLookupError:
            return

def watch_stdin():
    while os.read(0, 4096):
        pass
    kill_all()  # moot went away: nothing may outlive it
    os._exit(137)

def watch_memory(limit):
    for path in ("/sys/fs/cgroup/memory.stat", "/sys/fs/cgroup/memory/memory.stat"):
        if os.path.exists(path):
            break
    else:
        return
    while not state["done"]:
        with open(path, "rb") as f:
            stats = dict(line.split()[:2] for line in f if line.strip())
        used = int(stats.get(b"anon") or stats.get(b"total_rss") or stats.get(b"rss") or 0)
        if used > limit and not state["done"]:
            state["memory"] = True  # the code's own memory (files in the scratch are not counted)
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return
        time.sleep(0.02)

def oom_kills():
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            for line in open(path):
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
    return 0

def tree():
    found = {}
    for top, dirs, files in os.walk(W):
        for name in dirs + files:
            path = os.path.join(top, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode):
                found[os.path.relpath(path, W)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found

def main():
    size = int.from_bytes(In().read(8), "big")
    head = json.loads(In().read(size))
    os.umask(0o022)
    error = None
    try:
        with tarfile.open(fileobj=In(), mode="r|") as tar:
            for m in tar:
                parts = [p for p in m.name.split("/") if p not in ("", ".")]
                if not parts or ".." in parts:
                    continue
                path = os.path.join(W, *parts)
                if m.isdir():
                    os.makedirs(path, exist_ok=True)
                elif m.isreg():
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        src = tar.extractfile(m)
                        while True:
                            b = src.read(65536)
                            if not b:
                                break
                            f.write(b)
                    os.chmod(path, 0o755 if m.mode & 0o100 else 0o644)
                    os.utime(path, (m.mtime, m.mtime))
    except OSError as e:
        error = "seed: " + (e.strerror or str(e))
    seeded = tree()
    seeded.pop(head["script"], None)  # the block's script goes back to the work dir too
    code, timed_out = None, False
    if error is None:
        def adj():
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")  # the code, not this runner, is what the OOM killer picks
        try:
            proc = subprocess.Popen(head["command"], cwd=W, stdin=subprocess.DEVNULL, preexec_fn=adj)
            threading.Thread(target=watch_stdin, daemon=True).start()
            if head.get("memory"):
                threading.Thread(target=watch_memory, args=(head["memory"],), daemon=True).start()
            try:
                code = proc.wait(head["timeout"])
            except subprocess.TimeoutExpired:
                timed_out = True
        except OSError as e:
            error = "start: " + (e.strerror or str(e))
    state["done"] = True
    kill_all()
    if code is not None and code < 0:
        code = 128 - code
    vfs = os.statvfs(W)
    info = {"exit": 137 if timed_out or state["memory"] else code, "timed_out": timed_out, "memory": state["memory"],
            "oom_kills": oom_kills(), "error": error,
            "free_bytes": vfs.f_bavail * vfs.f_frsize, "free_files": vfs.f_favail}
    out = Out()
    out.write(head["marker"].encode() + json.dumps(info).encode() + b"\n")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, (mode, size, mtime) in sorted(tree().items()):
            if seeded.get(name) == (mode, size, mtime):
                continue
            path = os.path.join(W, name)
            if stat.S_ISDIR(mode):
                tar.add(path, name, recursive=False)
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as f:
                tar.inodes.clear()  # a hard-linked file goes as a file of its own, not as a link
                ti = tar.gettarinfo(arcname=name, fileobj=f)
                if ti.isreg():
                    tar.addfile(ti, f)

main()
os._exit(0)  # no thread teardown: the report is out
'''


def runner_command() -> list[str]:
    return ["python3", "-I", "-S", "-c", RUNNER]


@dataclass
class Seed:
    """What goes into the scratch: the work dir's regular files (by relative name) and their total size."""

    files: list[tuple[str, os.stat_result]] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    size: int = 0


def scan_work_dir(work_dir: Path, max_bytes: int, max_files: int) -> Seed:
    """The regular files and folders under the work dir, links and special files left out.

    Raises ExecutorError naming the limit when the work dir alone holds more than the scratch may."""
    seed = Seed()
    pending = [""]
    while pending:
        rel = pending.pop()
        try:
            entries = list(os.scandir(work_dir / rel if rel else work_dir))
        except OSError:
            continue
        for entry in entries:
            name = f"{rel}/{entry.name}" if rel else entry.name
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                seed.folders.append(name)
                pending.append(name)
            elif stat.S_ISREG(info.st_mode):
                seed.files.append((name, info))
                seed.size += info.st_size
            else:
                continue
            if len(seed.files) + len(seed.folders) > max_files:
                raise ExecutorError(f"the work dir {work_dir} holds more than the files limit ({max_files:,} files "
                                    f"and folders), so the block cannot start; raise `files` or use a smaller work dir")
            if seed.size > max_bytes:
                raise ExecutorError(f"the work dir {work_dir} holds more than the disk limit "
                                    f"({describe_size(max_bytes)}), so the block cannot start; raise `disk` or use a "
                                    f"smaller work dir")
    return seed


def describe_size(size: int) -> str:
    if size % 1024**3 == 0:
        return f"{size // 1024**3} GB"
    return f"{size / 1024**2:g} MB"


class _SocketWriter:
    def __init__(self, send: Callable[[bytes], None]) -> None:
        self._send = send

    def write(self, data: bytes) -> int:
        self._send(bytes(data))
        return len(data)


def send_seed(send: Callable[[bytes], None], work_dir: Path, seed: Seed, header: dict, script: tuple[str, bytes]) -> None:
    """Write the header and the seed tar (the work dir's files, then the script) through `send`.

    Each file is opened without following a link or waiting on a FIFO, and only sent when it is
    still a regular file; one that changed kind since the scan is left out."""
    head = json.dumps(header).encode()
    send(len(head).to_bytes(8, "big") + head)
    with tarfile.open(fileobj=_SocketWriter(send), mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(seed.folders):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        script_name, code = script
        for name, _ in seed.files:
            if name == script_name:
                continue
            try:
                fd = os.open(work_dir / name, os.O_RDONLY | os.O_NONBLOCK | _NO_LINKS)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as f:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    continue
                member = tarfile.TarInfo(name)
                member.size, member.mtime, member.mode = info.st_size, info.st_mtime, info.st_mode & 0o755
                tar.addfile(member, _Exactly(f, info.st_size))
        member = tarfile.TarInfo(script_name)
        member.size, member.mode = len(code), 0o644
        tar.addfile(member, _BytesReader(code))


class _Exactly:
    """`size` bytes of a file that may have changed since it was measured (padded or cut to fit)."""

    def __init__(self, f, size: int) -> None:
        self._f, self._left = f, size

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n)
        data += b"\0" * (n - len(data))
        self._left -= n
        return data


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._view, self._pos = memoryview(data), 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n < 0 else self._pos + n
        data = bytes(self._view[self._pos:end])
        self._pos += len(data)
        return data


class TrailerScanner:
    """Splits the container's stdout into the code's output and the runner's trailer.

    `feed(data)` returns the bytes that are output; once the marker is seen, `found` is True and
    `rest` holds what followed it in that chunk. Up to len(marker) - 1 bytes are held back at a
    chunk's end (they may be the marker's start) and given out with the next chunk or `flush`."""

    def __init__(self, marker: bytes) -> None:
        self.marker = marker
        self.found = False
        self.rest = b""
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        data = self._held + data
        at = data.find(self.marker)
        if at >= 0:
            self.found, self.rest, self._held = True, data[at + len(self.marker):], b""
            return data[:at]
        keep = min(len(data), len(self.marker) - 1)
        # Hold back only a tail that could begin the marker.
        while keep and not self.marker.startswith(data[len(data) - keep:]):
            keep -= 1
        self._held = data[len(data) - keep:] if keep else b""
        return data[:len(data) - keep]

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held


class FrameReader:
    """A file-like view of the trailer: `first` bytes, then the data of further stdout frames."""

    def __init__(self, first: bytes, frames: Iterator[bytes], limit: int) -> None:
        self._buf = first
        self._frames = frames
        self._left = limit  # the most bytes the trailer may take; past it reading stops
        self.cut = False

    def _more(self) -> bool:
        for data in self._frames:
            if data:
                self._buf += data
                return True
        return False

    def read(self, n: int = -1) -> bytes:
        while (n < 0 or len(self._buf) < n) and self._more():
            pass
        n = len(self._buf) if n < 0 else min(n, len(self._buf))
        if n > self._left:
            self.cut = True
            n = max(self._left, 0)
        data, self._buf = self._buf[:n], self._buf[n:]
        self._left -= len(data)
        return data

    def readline(self, limit: int) -> bytes:
        while b"\n" not in self._buf[:limit] and len(self._buf) < limit and self._more():
            pass
        line, sep, rest = self._buf.partition(b"\n")
        if not sep or len(line) > limit:
            return b""
        self._buf = rest
        return line


@dataclass
class CopyBack:
    """What came back from the scratch: files written, and what was skipped or refused, and why."""

    written: int = 0
    size: int = 0
    skipped: list[str] = field(default_factory=list)
    stopped: str | None = None

    def note(self) -> str:
        """A line for the output when something was left out ('' when all came back)."""
        parts = []
        if self.skipped:
            shown = ", ".join(self.skipped[:5]) + (f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else "")
            parts.append(f"not copied back to the work dir (only regular files and folders are): {shown}")
        if self.stopped:
            parts.append(self.stopped)
        return "".join(f"[moot: {p}]\n" for p in parts)


def _safe_name(name: str) -> str | None:
    path = PurePosixPath(name)
    parts = [p for p in path.parts if p != "."]
    if not parts or path.is_absolute() or ".." in parts or "\0" in name:
        return None
    return "/".join(parts)


def _open_folder(work_dir: Path, parts: list[str], owner: tuple[int, int] | None) -> int:
    """A descriptor of the folder `parts` under the work dir, made where missing; no link is followed."""
    folder = os.open(work_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            try:
                os.mkdir(part, 0o755, dir_fd=folder)
                if owner is not None:
                    os.chown(part, *owner, dir_fd=folder, follow_symlinks=False)
            except FileExistsError:
                pass
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | _NO_LINKS, dir_fd=folder)
            os.close(folder)
            folder = inner
    except BaseException:
        os.close(folder)
        raise
    return folder


def _write_file(work_dir: Path, name: str, source, size: int, executable: bool, owner: tuple[int, int] | None) -> None:
    """Write `size` bytes from `source` to `name` in the work dir: every folder on the way and the
    file are opened without following a link, a FIFO never blocks, only a regular single-link file
    is written (OSError otherwise)."""
    parts = name.split("/")
    folder = _open_folder(work_dir, parts[:-1], owner)
    try:
        fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | _NO_LINKS, 0o755 if executable else 0o644,
                     dir_fd=folder)
    finally:
        os.close(folder)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise OSError(f"{name} is not a plain file on the host")
        os.set_blocking(fd, True)
        if owner is not None and info.st_size == 0 and info.st_uid != owner[0]:
            os.fchown(fd, *owner)
        os.ftruncate(fd, 0)
        left = size
        while left > 0:
            data = source.read(min(_CHUNK, left))
            if not data:
                break
            left -= len(data)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def copy_back(reader, work_dir: Path, max_bytes: int, max_files: int, owner: tuple[int, int] | None = None) -> CopyBack:
    """Unpack the runner's tar of new and changed entries into the host work dir, within limits."""
    report = CopyBack()
    entries = 0
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for member in tar:
                name = _safe_name(member.name)
                if name is None:
                    report.skipped.append(repr(member.name[:60]))
                    continue
                if not (member.isreg() or member.isdir()):
                    report.skipped.append(name[:80])
                    continue
                entries += 1
                if entries > max_files:
                    report.stopped = f"copy-back stopped at the files limit ({max_files:,})"
                    break
                if member.isreg() and report.size + member.size > max_bytes:
                    report.stopped = f"copy-back stopped at the disk limit ({describe_size(max_bytes)})"
                    break
                try:
                    if member.isdir():
                        os.close(_open_folder(work_dir, name.split("/"), owner))
                    else:
                        _write_file(work_dir, name, tar.extractfile(member), member.size, bool(member.mode & 0o100), owner)
                        report.written += 1
                        report.size += member.size
                except OSError:
                    report.skipped.append(f"{name[:80]} (a link or special file is in its place on the host)")
    except tarfile.TarError as exc:
        report.stopped = f"copy-back ended early: {exc}"
    return report
