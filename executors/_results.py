"""What running a block produces: live output chunks, one final result, and the text for the agent."""

from __future__ import annotations

from dataclasses import dataclass


class ExecutorError(Exception):
    """A code executor was misconfigured or failed in a way the user must fix (the message says how)."""


class ExecutorUnavailable(ExecutorError):
    """The executor asked for cannot run here (e.g. Docker asked for and no daemon answering)."""


@dataclass(frozen=True)
class OutputChunk:
    """A piece of output as the code prints it; `stream` is "stdout" or "stderr"."""

    text: str
    stream: str = "stdout"


@dataclass(frozen=True)
class ExecutionResult:
    """How one block ended: exit code, the (possibly truncated) output, and why it was killed, if it was.

    `exit_code` follows the shell convention: 128 + N when a signal N ended the code (137 for
    SIGKILL: a timeout or the out-of-memory killer). `killed_reason` says in words why the
    executor or the kernel stopped the code ("timeout after 5 s", "out of memory (limit 64 MB)").
    """

    exit_code: int
    output: str
    duration_s: float
    timed_out: bool = False
    truncated: bool = False
    language: str = ""
    killed_reason: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


#: Default size of the execution report sent back to a model (characters). Local models have
#: small contexts, so a few thousand characters: enough for a traceback and some output.
DEFAULT_AGENT_MAX_CHARS = 6000


def truncate_middle(text: str, max_chars: int) -> str:
    """Cut the middle out of `text` so it fits `max_chars`, saying how much was cut.

    The head and the tail are both kept: the start of the output shows what the program did, the
    end holds the traceback or the final answer.
    """
    if len(text) <= max_chars:
        return text
    note_template = "\n[... {:,} characters cut ...]\n"
    room = max(0, max_chars - len(note_template.format(len(text))))
    head = room * 2 // 3
    tail = room - head
    cut = len(text) - head - tail
    return text[:head] + note_template.format(cut) + (text[len(text) - tail:] if tail else "")


def format_for_agent(results: list[ExecutionResult], max_chars: int = DEFAULT_AGENT_MAX_CHARS) -> str:
    """The execution report an agent receives, in AutoGen's words.

    "exitcode: N (execution succeeded|failed)\\nCode output: ...". N is the first non-zero exit
    code among the blocks (AutoGen stops at the first failing block), else 0. The outputs of all
    blocks follow in order; a killed block adds a line saying why. When the whole report is longer
    than `max_chars`, its middle is cut and a note says how many characters went.
    """
    if not results:
        return "exitcode: 0 (execution succeeded)\nCode output: (no code was run)"
    failing = next((r for r in results if not r.succeeded), None)
    exit_code = failing.exit_code if failing is not None else 0
    if failing is not None and exit_code == 0:
        exit_code = 1  # timed out yet exited 0 (rare race): still a failure
    status = "execution succeeded" if failing is None else "execution failed"
    parts: list[str] = []
    for result in results:
        out = result.output
        if result.killed_reason:
            out = (out.rstrip("\n") + "\n" if out.strip() else "") + f"[killed: {result.killed_reason}]"
        parts.append(out)
    output = "\n".join(p for p in parts if p) if any(parts) else ""
    header = f"exitcode: {exit_code} ({status})\nCode output: "
    return header + truncate_middle(output, max(0, max_chars - len(header)))
