"""The executor interface, the limits every executor enforces, and the pieces both executors share."""

from __future__ import annotations

import codecs
import os
import re
import secrets
import stat
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ._blocks import EXECUTABLE_LANGUAGES, CodeBlock
from ._results import ExecutionResult, ExecutorError, OutputChunk

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY = "512m"
DEFAULT_PIDS = 128
DEFAULT_OUTPUT_LIMIT = 100_000  # characters kept per run; the rest is counted, not stored
DEFAULT_CPUS = 1.0
DEFAULT_DISK = "512m"  # what a Docker block may keep in its work dir (a tmpfs of this size)
DEFAULT_FILES = 10_000  # files and folders a Docker block's work dir may hold
MAX_FILENAME = 200  # characters in a block's `# filename:` (a longer one is refused, not truncated)

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_memory(value: str | int | None, what: str = "memory limit") -> int | None:
    """Bytes from a Docker-style size: 268435456, "256m", "1g", "512MB", "64MiB"; None means no limit.
    `what` names the limit in errors (a disk limit is parsed the same way)."""
    if value is None or value is False:
        return None
    if isinstance(value, bool):
        raise ExecutorError(f"{what} must be a size like '256m', not {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise ExecutorError(f"{what} must be positive, not {value}")
        return value
    match = _MEMORY.match(str(value)[:100])
    if not match:
        raise ExecutorError(f"{what} {str(value)[:40]!r} is not a size: write e.g. '256m', '1g' or a number of bytes")
    size = int(float(match[1]) * _UNITS[match[2].lower()])
    if size < 6 * 1024**2:
        raise ExecutorError(f"{what} {value!r} is too small: at least 6m")
    return size


def describe_memory(size: int) -> str:
    """'64 MB' for 64 MiB: how a limit is named in messages."""
    if size % 1024**3 == 0:
        return f"{size // 1024**3} GB"
    return f"{size / 1024**2:g} MB"


def describe_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


@dataclass(frozen=True)
class Limits:
    """What one run may use. `memory` in bytes (None: no limit), `pids` processes/threads
    (None: no limit), `output` characters of output kept, `timeout_s` wall-clock seconds; `cpus`
    CPUs' worth of time (None: no limit), `disk` bytes and `files` files and folders the work dir
    may hold (the Docker executor enforces these three: its code works in a scratch dir that size)."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory: int | None = parse_memory(DEFAULT_MEMORY)
    pids: int | None = DEFAULT_PIDS
    output: int = DEFAULT_OUTPUT_LIMIT
    cpus: float | None = DEFAULT_CPUS
    disk: int = parse_memory(DEFAULT_DISK)
    files: int = DEFAULT_FILES


class Executor(ABC):
    """Runs code blocks somewhere and streams what they print.

    `run(block)` is an async iterator: `OutputChunk`s as the code prints, then exactly one
    `ExecutionResult`. Closing the iterator early (or cancelling the task reading it) kills the
    code and cleans up. `aclose()` kills whatever is still running and frees the executor.
    """

    name: str
    work_dir: Path
    limits: Limits
    #: True when the code is isolated from this machine (no network, no writes outside work_dir).
    sandboxed: bool = False

    @abstractmethod
    def run(self, block: CodeBlock) -> AsyncIterator[OutputChunk | ExecutionResult]:
        """Run one block: yields its output live, then one ExecutionResult."""

    async def prepare(self) -> None:
        """Get ready to run (create the work dir, build or check the image) before the first block.

        Optional: `run` prepares on first use. Calling it early moves the wait (seconds, the first
        time a Docker image is built) to a moment the UI chooses, and surfaces set-up errors early.
        """
        make_work_dir(self.work_dir)

    async def aclose(self) -> None:
        """Kill anything still running and release resources. Safe to call twice."""

    async def __aenter__(self) -> Executor:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def make_work_dir(path: Path) -> None:
    """Create the work dir (and missing parents) private to this user (0700); an existing folder
    keeps its mode."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def script_name(block: CodeBlock) -> str:
    """The work-dir-relative file a block is saved as: its `# filename:`, else a fresh random name.

    An unnamed block's name cannot be foreseen (code that ran earlier in the work dir could
    otherwise plant a link or a FIFO under it). Raises ExecutorError (with a message for the
    agent) when the name would leave the work dir.
    """
    if block.filename:
        name = block.filename.strip()
        path = PurePosixPath(name)
        shown = repr(name) if len(name) <= 80 else f"{name[:80]!r}…({len(name):,} chars)"
        if path.is_absolute() or ".." in path.parts or "\\" in name or not path.parts:
            raise ExecutorError(
                f"filename {shown} must be a relative path inside the work dir (no '/' at the start, no '..')"
            )
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
            raise ExecutorError(f"filename {shown} holds a control character: use letters, digits, '.', '-', '_' and '/'")
        if name.endswith("/") or name.endswith("/.") or path.name == ".":
            raise ExecutorError(f"filename {shown} names a folder, not a file: give the file's name (e.g. 'main.py')")
        if len(name) > MAX_FILENAME or any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in path.parts):
            raise ExecutorError(f"filename {shown} is too long: at most {MAX_FILENAME} characters, and 255 bytes "
                                f"between slashes")
        return str(path)
    suffix = {"python": ".py", "sh": ".sh"}.get(block.language, ".txt")
    return f"tmp_code_{secrets.token_hex(8)}{suffix}"


_NO_LINKS = os.O_NOFOLLOW | os.O_CLOEXEC


def write_script(work_dir: Path, block: CodeBlock) -> str:
    """Save the block's code in the work dir; returns its relative name.

    Code that ran before may have planted links, FIFOs or devices in the work dir. So the file and
    every folder on its way are opened relative to the work dir without following a link
    (O_NOFOLLOW at each step), a FIFO is opened without waiting for a reader, and only a regular
    file with one name is written: nothing lands outside the work dir, nothing blocks. Otherwise
    ExecutorError says which name was refused (the block fails; the chat goes on)."""
    name = script_name(block)
    parts = PurePosixPath(name).parts
    try:
        folder = os.open(work_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise ExecutorError(f"cannot open the work dir {work_dir}: {exc.strerror}") from None
    try:
        for i, part in enumerate(parts[:-1]):
            try:
                os.mkdir(part, 0o755, dir_fd=folder)
            except FileExistsError:
                pass
            except OSError as exc:
                raise ExecutorError(f"cannot make the folder {'/'.join(parts[: i + 1])!r} in the work dir "
                                    f"({exc.strerror}): the code block {name!r} is not written") from None
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | _NO_LINKS, dir_fd=folder)
            except OSError:
                shown = "/".join(parts[: i + 1])
                raise ExecutorError(f"{shown!r} in the work dir is not a plain folder (a link, or a file): "
                                    f"the code block {name!r} is not written there") from None
            os.close(folder)
            folder = inner
        try:
            fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | _NO_LINKS, 0o644, dir_fd=folder)
        except IsADirectoryError:
            raise ExecutorError(f"{name!r} is a folder in the work dir, so the code block cannot be saved under that "
                                f"name; choose another filename") from None
        except OSError as exc:
            raise ExecutorError(f"{name!r} in the work dir cannot be written safely ({exc.strerror}: a link, a FIFO "
                                f"or a device is in its place); choose another filename") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
                raise ExecutorError(f"{name!r} in the work dir is not a plain file (a FIFO, a device or a hard "
                                    f"link); the code block is not written there")
            os.set_blocking(fd, True)
            os.ftruncate(fd, 0)
            data = block.code.encode("utf-8", "surrogatepass")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    finally:
        os.close(folder)
    return name


def unrunnable_result(block: CodeBlock, message: str) -> ExecutionResult:
    """The result for a block that could not even start (unknown language, bad filename)."""
    return ExecutionResult(exit_code=1, output=message + "\n", duration_s=0.0, language=block.language)


def check_runnable(block: CodeBlock) -> str | None:
    """Why this block cannot be run, in words for the agent; None if it can."""
    if block.language not in EXECUTABLE_LANGUAGES:
        shown = block.language or "(none)"
        return f"unknown language {shown}: only python and sh (bash) code blocks are executed"
    try:
        script_name(block)
    except ExecutorError as exc:
        return str(exc)
    return None


class OutputCollector:
    """Decodes output as it arrives, keeps at most `limit` characters, and says what was cut.

    Live chunks are passed on until the limit; past it only the last `tail` characters are kept,
    and `finish()` emits one note saying how much was cut followed by that tail (the end of the
    output is where tracebacks and final answers are).
    """

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self.tail_limit = min(2000, self.limit // 4)
        self.head_limit = self.limit - self.tail_limit
        self._decoders = {s: codecs.getincrementaldecoder("utf-8")(errors="replace") for s in ("stdout", "stderr")}
        self._head: list[str] = []
        self._head_len = 0
        self._tail = ""
        self._tail_stream = "stdout"
        self._cut = 0
        self.truncated = False

    def feed(self, data: bytes, stream: str = "stdout") -> list[OutputChunk]:
        text = self._decoders[stream].decode(data)
        return self._add(text, stream)

    def _add(self, text: str, stream: str) -> list[OutputChunk]:
        if not text:
            return []
        chunks: list[OutputChunk] = []
        room = self.head_limit - self._head_len
        if room > 0:
            shown = text[:room]
            self._head.append(shown)
            self._head_len += len(shown)
            chunks.append(OutputChunk(shown, stream))
            text = text[room:]
        if text:
            if not self.truncated:
                self.truncated = True
                chunks.append(OutputChunk(f"\n[output over {self.limit:,} characters: the rest is cut, its end kept]\n", "stderr"))
            combined = self._tail + text
            if len(combined) > self.tail_limit:
                self._cut += len(combined) - self.tail_limit
                combined = combined[len(combined) - self.tail_limit:] if self.tail_limit else ""
            self._tail = combined
            self._tail_stream = stream
        return chunks

    def finish(self) -> tuple[list[OutputChunk], str]:
        """Flush the decoders; returns the last chunks to show and the whole kept output."""
        chunks: list[OutputChunk] = []
        for stream, decoder in self._decoders.items():
            chunks += self._add(decoder.decode(b"", final=True), stream)
        output = "".join(self._head)
        if self.truncated:
            note = f"\n[... {self._cut:,} characters of output cut ...]\n"
            chunks.append(OutputChunk(note, "stderr"))
            if self._tail:
                chunks.append(OutputChunk(self._tail, self._tail_stream))
            output += note + self._tail
        return chunks, output
