"""The conversation pane: one block per turn, the agent's name in its colour, Markdown streamed as
it arrives, the speaker-selection reason, tool calls folded, memory recalls as small notes."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Collapsible, Markdown, Static

YOU_COLOUR = "#e4e4e4"  # the human's own turns
PALETTE = ("#5fafff", "#d787d7", "#87d787", "#ffd75f", "#ff8787", "#5fd7d7", "#af87ff", "#d7af5f")


class TurnBlock(Vertical, can_focus=True):
    """One turn. Focusing it selects the executions it caused in the executor pane."""

    @dataclass
    class Selected(Message):
        turn: TurnBlock

    def __init__(self, message_id: str, agent: str, colour: str, *, note: str = "", content: str = "",
                 recipient: str = "", label: str = "") -> None:
        super().__init__(classes="turn")
        self.message_id = message_id
        self.agent = agent
        self.label = label or agent  # who the header names: "you" for what the human wrote
        self.colour = colour
        self.recipient = recipient
        self.text = content
        self.selection_note = note
        self.execution_ids: list[str] = []
        self.finished = False
        self._stream = None
        self._committed = 0  # characters of ``text`` handed to the Markdown
        self.styles.border_left = ("outer", colour)

    def compose(self) -> ComposeResult:
        header = Text.assemble((self.label, f"bold {self.colour}"))
        if self.recipient:
            header.append(f" → {self.recipient}", style="dim")
        yield Static(header, classes="turn-header")
        if self.selection_note:
            yield Static(Text(self.selection_note, style="italic"), classes="turn-why")
        yield Markdown(self.text, classes="turn-body")
        tail = Static("", classes="turn-tail")
        tail.display = False
        yield tail

    @property
    def body(self) -> Markdown:
        return self.query_one(".turn-body", Markdown)

    async def write(self, text: str) -> None:
        """Append streamed text (a batch of deltas).

        Finished blocks (a paragraph ended by a blank line, a closed code fence) go to the
        Markdown through its stream, so it never re-renders what is done; the block still being
        written shows as plain text below it until it is complete. Re-highlighting a growing code
        block on every delta is what makes streaming Markdown slow.
        """
        self.text += text
        point = self._commit_point()
        if point > self._committed:
            if self._stream is None:
                self._stream = Markdown.get_stream(self.body)
            await self._stream.write(self.text[self._committed:point])
            self._committed = point
        tail = self.query_one(".turn-tail", Static)
        tail.update(Text(self.text[self._committed:]))
        tail.display = self._committed < len(self.text)

    def _commit_point(self) -> int:
        """Where the finished blocks end: after a blank line outside a fence, or a closing fence.
        (Text is only committed outside a fence, so the scan starts outside one.)"""
        point = pos = self._committed
        in_fence = False
        text = self.text
        while True:
            end = text.find("\n", pos)
            if end < 0:
                return point
            line = text[pos:end].strip()
            pos = end + 1
            if line.startswith(("```", "~~~")):
                in_fence = not in_fence
                if not in_fence:
                    point = pos
            elif not in_fence and not line:
                point = pos

    async def finish(self, content: str | None) -> None:
        """The message is complete: one full render (code fences come out right)."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if content is not None:
            self.text = content
        self.finished = True
        self.query_one(".turn-tail", Static).display = False
        await self.body.update(self.text)

    def add_note(self, text: str, kind: str = "note") -> None:
        self.mount(Static(Text(text), classes=f"turn-note -{kind}"))

    def add_tool_call(self, title: str, detail: str, failed: bool = False) -> None:
        """A tool call and its result, folded (open it to read)."""
        body = Static(Text(detail), classes="tool-detail")
        fold = Collapsible(body, title=title, collapsed=True, classes="tool-call" + (" -failed" if failed else ""))
        self.mount(fold)

    def mark_failed(self, why: str) -> None:
        self.add_class("-failed")
        self.add_note(f"✗ {why}", "failed")

    def on_focus(self) -> None:
        self.post_message(self.Selected(self))


class ConversationPane(VerticalScroll):
    """Holds the turns; keeps to the bottom while the user has not scrolled up."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.colours: dict[str, str] = {}
        self.turns: dict[str, TurnBlock] = {}
        self.lines: list[str] = []  # the plain text of the lines between turns (notes, your messages)

    def colour(self, agent: str) -> str:
        if agent not in self.colours:
            self.colours[agent] = PALETTE[len(self.colours) % len(PALETTE)]
        return self.colours[agent]

    async def add_turn(self, message_id: str, agent: str, *, note: str = "", content: str = "",
                       recipient: str = "", label: str = "") -> TurnBlock:
        follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
        colour = YOU_COLOUR if label == "you" else self.colour(agent)
        turn = TurnBlock(message_id, agent, colour, note=note, content=content, recipient=recipient, label=label)
        self.turns[message_id] = turn
        await self.mount(turn)
        if follow:
            self.scroll_end(animate=False)
        return turn

    def add_line(self, text: Text | str, kind: str = "info") -> Static:
        line = Static(text, classes=f"chat-line -{kind}")
        self.lines.append(text.plain if isinstance(text, Text) else text)
        self.mount(line)
        self.scroll_end(animate=False)
        return line

    def follow(self) -> None:
        if self.is_vertical_scroll_end or self.max_scroll_y - self.scroll_y < 6:
            self.scroll_end(animate=False)
