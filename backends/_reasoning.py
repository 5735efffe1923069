"""Reasoning apart from the reply: ``<think>...</think>`` in streamed text becomes ``Thought`` items.

Reasoning models write their thinking inside ``<think>`` tags at the start of the reply (DeepSeek
R1, Qwen3, QwQ, SmolLM3), one block or several in a row. ``ReasoningSplitter`` is fed the reply's
text as it streams, in pieces of any size (a tag may be cut anywhere), and gives back ``Thought``
items for the thinking and ``Delta`` items for the reply; a reply that opens ``<think>`` and never
closes it is all thought. Only tags that open the reply (after blank space, or right after another
block) count: a ``<think>`` later in the reply is text about tags. ``split_reasoning`` does the same
to a whole text. Some chat templates open the block in the prompt, so the reply holds only the
closing tag: that is found at the end (``reply`` and ``reasoning`` are then split there), after its
text has been streamed as reply.
"""

from __future__ import annotations

from ._types import Delta, Thought

OPEN, CLOSE = "<think>", "</think>"


def _partial_suffix(text: str, tag: str) -> int:
    """How many characters at the end of ``text`` could be the start of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-n:]):
            return n
    return 0


class ReasoningSplitter:
    """Split streamed text into reasoning and reply. ``feed(piece)`` and ``flush()`` return the
    items to yield; ``reply`` and ``reasoning`` are the whole of each once flushed."""

    __slots__ = ("_state", "_held", "_reply", "_thought")

    def __init__(self) -> None:
        self._state = "start"  # start | think | after (a block just closed) | reply
        self._held = ""  # text not yet given out: a tag may be starting
        self._reply: list[str] = []
        self._thought: list[str] = []

    def feed(self, text: str) -> list[Delta | Thought]:
        if self._state == "reply":  # the common case: no tags left to look for
            if text:
                self._reply.append(text)
                return [Delta(text)]
            return []
        out: list[Delta | Thought] = []
        buf = self._held + text
        self._held = ""
        while buf:
            if self._state == "think":
                end = buf.find(CLOSE)
                if end < 0:
                    keep = _partial_suffix(buf, CLOSE)
                    self._think(buf[: len(buf) - keep], out)
                    self._held = buf[len(buf) - keep:]
                    break
                self._think(buf[:end], out)
                buf, self._state = buf[end + len(CLOSE):], "after"
                continue
            lead = buf.lstrip()
            if not lead or (len(lead) < len(OPEN) and OPEN.startswith(lead)):
                self._held = buf  # blank so far, or the start of an opening tag
                break
            if lead.startswith(OPEN):
                buf, self._state = lead[len(OPEN):], "think"
                continue
            text_out = lead if self._state == "after" else buf  # no blank line left over from a block
            self._state = "reply"
            self._reply.append(text_out)
            out.append(Delta(text_out))
            break
        return out

    def _think(self, text: str, out: list[Delta | Thought]) -> None:
        if text:
            self._thought.append(text)
            out.append(Thought(text))

    def flush(self) -> list[Delta | Thought]:
        """The items still held back, at the end of the reply (an unclosed block is all thought)."""
        held, self._held = self._held, ""
        if not held:
            return []
        if self._state == "think":
            self._thought.append(held)
            return [Thought(held)]
        if self._state == "start":  # blank, or an opening tag cut short: text after all
            self._reply.append(held)
            return [Delta(held)]
        return []  # blank space after a block

    def _opened_in_prompt(self, reply: str) -> bool:
        """A reply with a closing tag and no block of its own: the template opened it."""
        return not self._thought and CLOSE in reply and OPEN not in reply

    @property
    def reply(self) -> str:
        """The reply without its reasoning (a reply whose template opened the block: after ``</think>``)."""
        reply = "".join(self._reply)
        if self._opened_in_prompt(reply):
            return reply.rsplit(CLOSE, 1)[1].lstrip()
        return reply

    @property
    def reasoning(self) -> str:
        reply = "".join(self._reply)
        if self._opened_in_prompt(reply):
            return reply.rsplit(CLOSE, 1)[0].strip()
        return "".join(self._thought)


def split_reasoning(text: str) -> tuple[str, str]:
    """``(reply, reasoning)`` of a whole reply's text."""
    splitter = ReasoningSplitter()
    splitter.feed(text)
    splitter.flush()
    return splitter.reply, splitter.reasoning
