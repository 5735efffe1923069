"""The context window: what part of a conversation an agent's model sees.

The stored history is never cut. A view converts each stored message once (kept between turns,
so a long chat does not cost more per turn) and, when the conversation outgrows the model's
context, leaves the oldest messages out. The cut moves in steps, down to 70% of the room, so a
local backend can keep reusing its KV cache between cuts; it never starts at a tool result
(its call would be missing) and always keeps the last message.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING, Any

from moot.backends import ChatMessage

from ._messages import to_chat

if TYPE_CHECKING:
    from ._models import LLM

__all__ = ["CHARS_PER_TOKEN", "ConversationView", "room_for", "size_of", "trimmed"]

CHARS_PER_TOKEN = 3  # a cautious estimate: counting exactly would cost a tokenizer pass per turn
KEEP_AFTER_CUT = 0.7  # a cut leaves this share of the room filled


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
    """Characters of conversation the model has room for after ``head`` and its reply."""
    if llm is None:
        return None
    context = llm.context_length()
    if not context:
        return None
    reserve = llm.max_output_tokens() or 512
    return max(1000, (context - reserve) * CHARS_PER_TOKEN - size_of(head))


def _cut_index(sizes: list[int], converted: list[ChatMessage], start_at: int, offset: int = 0) -> int:
    """The first message to keep (``converted[offset + i]`` is message ``i``) so that at most
    ``total - start_at`` characters remain."""
    last = len(converted) - offset - 1
    cut = min(bisect.bisect_left(sizes, start_at), last)
    while cut < last and converted[offset + cut].role == "tool":
        cut += 1
    return max(cut, 0)


def trimmed(body: list[ChatMessage], room: int | None) -> list[ChatMessage]:
    """``body`` cut to fit ``room`` (a one-off view: messages that are not a stored history)."""
    if room is None or not body:
        return body
    sizes = [0]
    for m in body:
        sizes.append(sizes[-1] + _size(m))
    if sizes[-1] <= room:
        return body
    return body[_cut_index(sizes, body, sizes[-1] - int(room * KEEP_AFTER_CUT)):]


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
    holds the window, made again only when the cut moves (callers do not change either)."""

    __slots__ = ("converted", "head", "version", "upto", "sizes", "total", "cut", "window", "window_cut", "synced")

    def __init__(self, head: list[ChatMessage] | tuple[ChatMessage, ...] = (), version: int = 0) -> None:
        self.converted: list[ChatMessage] = list(head)
        self.head = len(self.converted)  # converted[head + i] is stored message i's (first) part
        self.version = version  # of the head it was made with
        self.upto = 0  # stored dicts converted so far
        self.sizes = [0]  # sizes[i]: characters of the conversation before its message i
        self.total = 0
        self.cut = 0  # the first message kept
        self.window: list[ChatMessage] | None = None  # the head and what the cut keeps, when it cuts
        self.window_cut = 0  # the cut the window was made for
        self.synced = 0  # converted[:synced] is in the window

    @property
    def chars(self) -> int:
        """The size of the conversation the model sees, in characters (as the cut counts them)."""
        return self.total - self.sizes[self.cut]

    def _convert(self, stored: list[dict[str, Any]], end: int) -> None:
        converted, sizes = self.converted, self.sizes
        append, mark = converted.append, sizes.append
        shared = _SHARED
        total = self.total
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
                total += len(content) + 16  # _size of it
                mark(total)
                continue
            before = len(converted)
            to_chat(message, converted)
            for j in range(before, len(converted)):  # usually one; tool responses expand
                total += _size(converted[j])
                mark(total)
        self.total = total
        self.upto = end

    def update(self, stored: list[dict[str, Any]], room: int | None) -> list[ChatMessage]:
        """Convert what ``stored`` gained since the last call; the messages the model sees (the
        view's own list when nothing is cut: callers do not change it)."""
        if self.upto < len(stored):
            self._convert(stored, len(stored))
        if room is not None and self.total - self.sizes[self.cut] > room:
            self.cut = _cut_index(self.sizes, self.converted, self.total - int(room * KEEP_AFTER_CUT), self.head)
        cut = self.cut
        if not cut:
            return self.converted
        converted, window = self.converted, self.window
        if window is None or self.window_cut != cut:  # the cut moved (in steps): a new window
            window = self.window = converted[:self.head] + converted[self.head + cut:]
            self.window_cut = cut
        elif self.synced < len(converted):  # the same cut: the window only gains the new messages
            window.extend(converted[self.synced:])
        self.synced = len(converted)
        return window
