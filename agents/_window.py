"""The context window: what part of a conversation an agent's model sees.

The stored history is never cut. A view converts each stored message once (kept between turns,
so a long chat does not cost more per turn) and measures it: in tokens, with the model's own
tokenizer, when the backend has one (llama.cpp), else in characters against a calibrated
characters-per-token estimate. When the conversation outgrows the room the model has, the view
compacts it with the strategies the agent allows, in this order:

- ``elide_outputs``: old tool results and code outputs (not the current turn's) are cut to their
  first and last lines, with a note of how much was left out;
- ``sliding_window``: the oldest turns are left out; the system message, the task (the first
  message) and the current turn (the last message, with the tool call its results answer) never are;
- ``summary``: what the window left out is replaced by a summary (one model call, made by the
  agent and kept, so a resumed or replayed session does not make it again).

Both cuts move in blocks (down to 70% of the room), so a local backend keeps reusing its KV cache
between them; the window never starts at a tool result (its call would be missing).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from moot.backends import ChatMessage

from ._messages import to_chat

if TYPE_CHECKING:
    from ._models import LLM

__all__ = ["CHARS_PER_TOKEN", "STRATEGIES", "Compaction", "ConversationView", "elided", "room_for", "size_of",
           "trimmed"]

CHARS_PER_TOKEN = 3  # the estimate before a server's counts calibrate it
KEEP_AFTER_CUT = 0.7  # a cut leaves this share of the room filled
STRATEGIES = ("elide_outputs", "sliding_window", "summary")
DEFAULT_STRATEGIES = ("elide_outputs", "sliding_window")
ELIDE_KEEP_LINES = 4  # an elided output keeps this many lines at each end
ELIDE_MIN_CHARS = 600  # outputs shorter than this are left whole


def _size(message: ChatMessage) -> int:
    size = len(message.content or "") + 16
    if message.tool_calls:
        for call in message.tool_calls:
            size += len(call.arguments) + len(call.name)
    return size


def size_of(messages: list[ChatMessage]) -> int:
    """Characters, as the window counts them (content, tool calls, a little per message)."""
    return sum(_size(m) for m in messages)


def room_for(llm: LLM | None, head: list[ChatMessage]) -> int | None:
    """Characters of conversation the model has room for after ``head`` and its reply (the
    estimate's room; ``moot.agents._budget`` counts in tokens where it can)."""
    if llm is None:
        return None
    context = llm.context_length()
    if not context:
        return None
    reserve = llm.max_output_tokens() or 512
    return max(1000, (context - reserve) * CHARS_PER_TOKEN - size_of(head))


def _is_output(message: ChatMessage) -> bool:
    """A tool's result or an executor's report: what ``elide_outputs`` may shorten."""
    return message.role == "tool" or (message.role == "user" and (message.content or "").startswith("exitcode:"))


def elided(message: ChatMessage, keep: int = ELIDE_KEEP_LINES) -> ChatMessage | None:
    """``message`` with its middle lines left out (head and tail kept, a note of what was cut);
    ``None`` when it is short enough to keep whole."""
    text = message.content or ""
    if len(text) < ELIDE_MIN_CHARS:
        return None
    lines = text.splitlines()
    if len(lines) > 2 * keep + 1:
        cut = len(lines) - 2 * keep
        short = "\n".join([*lines[:keep], f"[... {cut} lines of output left out to fit the context ...]",
                            *lines[-keep:]])
    else:  # a few very long lines: keep the ends of the text
        half = ELIDE_MIN_CHARS // 3
        short = f"{text[:half]}\n[... {len(text) - 2 * half} characters of output left out to fit the context ...]\n{text[-half:]}"
    if len(short) >= len(text):
        return None
    return ChatMessage(message.role, short, message.name, message.tool_calls, message.tool_call_id)


def _current_turn(converted: list[ChatMessage], offset: int) -> int:
    """The index (from ``offset``) where the current turn begins: the last message, or, when the
    conversation ends with tool results, the assistant message whose calls they answer."""
    i = len(converted) - 1
    while i > offset and converted[i].role == "tool":
        i -= 1
    return max(i - offset, 0)


class Compaction:
    """What the last ``update`` did to fit the room: the strategies applied and messages affected,
    and the conversation's size (in the view's units) before and after."""

    __slots__ = ("steps", "before", "after")

    def __init__(self, before: int) -> None:
        self.steps: list[tuple[str, int]] = []
        self.before = before
        self.after = before


def trimmed(body: list[ChatMessage], room: int | None, counter: Callable[[ChatMessage], int] | None = None,
            strategies: tuple[str, ...] = DEFAULT_STRATEGIES) -> list[ChatMessage]:
    """``body`` compacted to fit ``room`` as a view would (a one-off: messages that are not a
    stored history)."""
    if room is None or not body:
        return body
    view = ConversationView((), 0, counter, strategies)
    view.converted = list(body)
    view._resize(0)
    if view.total <= room:
        return body
    return view.update([], room)


# Every listener of a group chat stores its own copy of a message, but the copies hold the same
# content string, so their views share one ChatMessage for it (a value: nothing changes one).
# Keyed by the string's id, which stays that string's while the cached message holds it; a
# message is converted by every listener within a round, so a small table is enough.
SHARED_MAX = 1024
_SHARED: dict[tuple[int, str, str | None], ChatMessage] = {}


class ConversationView:
    """What one agent's model sees of its conversation with one partner: the head (its system
    message) and the converted messages, kept between turns, and where the context cut is. With
    no cut the view is its own list (no copy of the history per turn); with a cut, a second list
    holds the window (head, task, summary, what the cut keeps), made again only when the cut
    moves (callers do not change either).

    Sizes are in *units*: characters, or, with a ``counter`` (a ``ChatMessage`` -> tokens
    function, the model's tokenizer), tokens; ``room`` is given in the same units."""

    __slots__ = ("converted", "head", "version", "upto", "sizes", "total", "cut", "window", "window_cut", "synced",
                 "counter", "strategies", "elided_upto", "summary", "summary_cut", "compaction")

    def __init__(self, head: list[ChatMessage] | tuple[ChatMessage, ...] = (), version: int = 0,
                 counter: Callable[[ChatMessage], int] | None = None,
                 strategies: tuple[str, ...] = DEFAULT_STRATEGIES) -> None:
        self.converted: list[ChatMessage] = list(head)
        self.head = len(self.converted)  # converted[head + i] is stored message i's (first) part
        self.version = version  # of the head it was made with
        self.upto = 0  # stored dicts converted so far
        self.sizes = [0]  # sizes[i]: units of the conversation before its message i
        self.total = 0
        self.cut = 0  # the first message kept after the task (0: nothing is cut)
        self.window: list[ChatMessage] | None = None  # the head and what the cut keeps, when it cuts
        self.window_cut = 0  # the cut the window was made for
        self.synced = 0  # converted[:synced] is in the window
        self.counter = counter
        self.strategies = strategies
        self.elided_upto = 0  # outputs before this message are elided
        self.summary: ChatMessage | None = None  # what stands for messages 1 .. summary_cut
        self.summary_cut = 0
        self.compaction: Compaction | None = None  # what the last update did to fit, if anything

    @property
    def chars(self) -> int:
        """The size of the conversation the model sees, in the view's units (characters, or
        tokens with a counter)."""
        return self.used

    @property
    def used(self) -> int:
        """Units of the conversation the model sees: the task, the summary and what the cut keeps."""
        cut = self.cut
        if not cut:
            return self.total
        extra = self.sizes[1] + (self._measure(self.summary) if self.summary is not None and self.summary_cut == cut else 0)
        return extra + self.total - self.sizes[cut]

    def _measure(self, message: ChatMessage) -> int:
        counter = self.counter
        return counter(message) if counter is not None else _size(message)

    def _convert(self, stored: list[dict[str, Any]], end: int) -> None:
        converted, sizes = self.converted, self.sizes
        append, mark = converted.append, sizes.append
        shared = _SHARED
        total = self.total
        counter = self.counter
        for i in range(self.upto, end):
            message = stored[i]
            role = message.get("role", "user")
            content = message.get("content")
            if ((role == "user" or role == "assistant") and type(content) is str and "tool_calls" not in message
                    and "tool_responses" not in message):  # the common message: to_chat's first case, inline
                name = message.get("name")
                key = (id(content), role, name)
                chat = shared.get(key)
                if chat is None or chat.content is not content:
                    if len(shared) >= SHARED_MAX:
                        del shared[next(iter(shared))]  # the oldest: every listener has it by now
                    chat = shared[key] = ChatMessage(role, content, name)
                append(chat)
                total += len(content) + 16 if counter is None else counter(chat)  # _size of it
                mark(total)
                continue
            before = len(converted)
            to_chat(message, converted)
            for j in range(before, len(converted)):  # usually one; tool responses expand
                total += _size(converted[j]) if counter is None else counter(converted[j])
                mark(total)
        self.total = total
        self.upto = end

    def _resize(self, start: int) -> None:
        """Sizes again from conversation message ``start`` on (an elision changed messages)."""
        sizes, converted, head = self.sizes, self.converted, self.head
        del sizes[start + 1:]
        total = sizes[start]
        for i in range(start, len(converted) - head):
            total += self._measure(converted[head + i])
            sizes.append(total)
        self.total = total

    def _elide(self, upto: int, start: int | None = None) -> int:
        """Elide the outputs among conversation messages ``elided_upto .. upto`` (or ``start ..
        upto``; never the task); how many were shortened."""
        converted, head = self.converted, self.head
        first, count = None, 0
        for i in range(max(1, self.elided_upto if start is None else start), upto):
            message = converted[head + i]
            role = message.role  # _is_output, inline: this looks at every message once per view
            if role == "tool" or (role == "user" and (message.content or "").startswith("exitcode:")):
                short = elided(message)
                if short is not None:
                    converted[head + i] = short
                    count += 1
                    if first is None:
                        first = i
        if start is None:
            self.elided_upto = max(self.elided_upto, upto)
        if first is not None:
            self._resize(first)
            self.window = None  # its messages changed
        return count

    def _cut_to(self, target: int, current: int) -> int:
        """The cut (first message kept after the task) that leaves at most ``target`` units, never
        past the current turn, never at a tool result; 0 when nothing need go."""
        sizes = self.sizes
        extra = sizes[1] + (self._summary_room() if "summary" in self.strategies else 0)
        cut = bisect.bisect_left(sizes, self.total + extra - target)
        cut = min(max(cut, self.cut), current)
        converted, head = self.converted, self.head
        while cut < current and converted[head + cut].role == "tool":
            cut += 1
        return 0 if cut <= 1 else cut

    def _summary_room(self) -> int:
        return 300 * (1 if self.counter is not None else CHARS_PER_TOKEN)

    def update(self, stored: list[dict[str, Any]], room: int | None) -> list[ChatMessage]:
        """Convert what ``stored`` gained since the last call, compact when it does not fit
        ``room``; the messages the model sees (the view's own list when nothing is cut: callers do
        not change it). ``compaction`` says what was done to fit, if anything."""
        if self.upto < len(stored):
            self._convert(stored, len(stored))
        self.compaction = None
        if room is not None and (self.total if not self.cut else self.used) > room:
            self._compact(room)
        cut = self.cut
        if not cut:
            return self.converted
        converted, window = self.converted, self.window
        if window is None or self.window_cut != cut:  # the cut moved (in steps): a new window
            head = self.head
            window = converted[:head + 1]  # the head and the task
            if self.summary is not None and self.summary_cut == cut:
                window.append(self.summary)
            window += converted[head + cut:]
            self.window = window
            self.window_cut = cut
        elif self.synced < len(converted):  # the same cut: the window only gains the new messages
            window.extend(converted[self.synced:])
        self.synced = len(converted)
        return window

    def _compact(self, room: int) -> None:
        done = self.compaction = Compaction(self.used)
        current = _current_turn(self.converted, self.head)
        strategies = self.strategies
        if "elide_outputs" in strategies:
            n = self._elide(current)
            if n:
                done.steps.append(("elide_outputs", n))
        if self.used > room and ("sliding_window" in strategies or "summary" in strategies):
            cut = self._cut_to(int(room * KEEP_AFTER_CUT), current)
            if cut and cut != self.cut:
                dropped = cut - max(self.cut, 1)
                self.cut = cut
                done.steps.append(("summary" if "summary" in strategies else "sliding_window", dropped))
        if self.used > room and "elide_outputs" in strategies:
            # Last: the current turn's own outputs (a tool that printed more than the window holds).
            n = self._elide(len(self.converted) - self.head, current)
            if n:
                done.steps.append(("elide_outputs", n))
        done.after = self.used
        if not done.steps:
            self.compaction = None

    def left_out(self) -> list[ChatMessage]:
        """The messages the cut leaves out now (after the task), for a summary of them."""
        return self.converted[self.head + 1:self.head + self.cut] if self.cut else []

    def set_summary(self, summary: ChatMessage | None) -> None:
        """Let ``summary`` stand for what the current cut leaves out (``None``: nothing does)."""
        self.summary = summary
        self.summary_cut = self.cut if summary is not None else 0
        self.window = None
