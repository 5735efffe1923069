"""The context budget of one agent's model calls: how much of the window its conversation may take.

Before every call (a reply, and every step of a tool loop, which is a reply too) the agent counts
its prompt against the model's real window (``Backend.context_window``): exactly with the model's
tokenizer where the backend has one (llama.cpp), else with a characters-per-token estimate that
the server's own counts calibrate. The reply's tokens are reserved first. What does not fit is
compacted by the view (``_window``); the budget only says how much room there is, and what a
compaction becomes as an event.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from moot.backends import ChatMessage, ToolSpec

from ._window import CHARS_PER_TOKEN, Compaction, elided
from .events import ContextCompacted

if TYPE_CHECKING:
    from ._models import LLM

__all__ = ["MIN_REPLY", "SUMMARY_LABEL", "SUMMARY_TOKENS", "Budget", "compaction_events", "summary_prompt"]

MIN_REPLY = 32  # a reply may be squeezed down to this many tokens before the call is refused
SUMMARY_TOKENS = 200  # what a summary of left-out turns may take
SUMMARY_LABEL = "[Summary of the earlier conversation] "  # how a summary stands in the window


class Budget:
    """One agent's room with one model: the ``window`` (tokens; ``None``: unknown, nothing is
    cut), the tokens ``reserved`` for the reply, the ``overhead`` of the request besides its
    conversation (system message, tools, template), and how the conversation is measured:
    ``counter`` (exact tokens per message) or ``ratio`` (characters per token)."""

    __slots__ = ("window", "reserved", "overhead", "counter", "ratio", "source", "calls")

    def __init__(self, window: int | None, reserved: int, overhead: int,
                 counter: Callable[[ChatMessage], int] | None, ratio: float, source: Any = None) -> None:
        self.window = window
        self.reserved = reserved
        self.overhead = overhead
        self.counter = counter
        self.ratio = ratio
        self.source = source  # the backend that counts (a wrapper's primary): calibrated after calls
        self.calls = 0  # calls made with this budget

    @classmethod
    def of(cls, llm: LLM, head: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()) -> Budget:
        backend = llm.backend
        window = backend.context_window()
        reserved = llm.max_output_tokens() or 512
        if window:
            reserved = min(reserved, max(MIN_REPLY, window // 4))  # a small window: the reply takes at most a quarter
        return cls(window, reserved, backend.request_overhead(head, tools), backend.token_counter(),
                   backend.chars_per_token() or CHARS_PER_TOKEN, backend.primary)

    @property
    def exact(self) -> bool:
        return self.counter is not None

    def room(self) -> int | None:
        """Room for the conversation, in the view's units (tokens when exact, else characters)."""
        if not self.window:
            return None
        tokens = max(1, self.window - self.reserved - self.overhead)
        return tokens if self.counter is not None else int(tokens * self.ratio)

    def tokens(self, units: int) -> int:
        """The conversation's units as tokens."""
        return units if self.counter is not None else math.ceil(units / self.ratio)

    def prompt_tokens(self, units: int) -> int:
        """The whole prompt's tokens: the conversation's and the request's overhead."""
        return self.overhead + self.tokens(units)

    def reply_room(self, units: int) -> int | None:
        """The tokens left for the reply once the prompt is in the window (``None``: unknown)."""
        if not self.window:
            return None
        return self.window - self.prompt_tokens(units)


def compaction_events(chat_id: str, agent: str, budget: Budget, done: Compaction,
                      summary: tuple[str, int, str] | None = None) -> list[ContextCompacted]:
    """One event per strategy applied, with the prompt's tokens before and after all of them; the
    summary step's carries the summary (partner, cut, text), so a resumed session has it."""
    before, after = budget.prompt_tokens(done.before), budget.prompt_tokens(done.after)
    out = []
    for strategy, count in done.steps:
        what = {"elide_outputs": f"{count} old output{'s' if count != 1 else ''} cut to head and tail",
                "sliding_window": f"{count} older message{'s' if count != 1 else ''} left out",
                "summary": f"{count} older message{'s' if count != 1 else ''} replaced by a summary"}[strategy]
        if strategy == "summary" and summary is not None:
            out.append(ContextCompacted(chat_id, agent, strategy, before, after, budget.window or 0, count, what,
                                        *summary))
        else:
            out.append(ContextCompacted(chat_id, agent, strategy, before, after, budget.window or 0, count, what))
    return out


def summary_prompt(previous: str | None, left_out: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The one call that summarises turns the window leaves out (with the summary before them)."""
    lines = []
    if previous:
        lines.append(f"Summary so far: {previous}")
    for m in left_out:
        short = elided(m) or m
        who = m.name or m.role
        lines.append(f"{who}: {short.content or ''}".strip())
    transcript = "\n".join(lines)
    if len(transcript) > 12000:  # the summariser's own prompt must fit too: keep the newest part
        transcript = transcript[-12000:]
    return [
        ChatMessage("system", "You summarise conversations. Keep decisions, facts, names, code file names and "
                              "open questions. Write at most five short sentences."),
        ChatMessage("user", f"Summarise this earlier part of a conversation:\n\n{transcript}"),
    ]
