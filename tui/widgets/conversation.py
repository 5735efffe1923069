"""The conversation pane: one block per turn, the agent's name in its colour, Markdown streamed as
it arrives, the speaker-selection reason, tool calls folded, memory recalls as small notes.

Code blocks carry their language and a copy action, and scroll sideways when wider than the pane
(saying so); a block still being written shows highlighted before its fence closes. A model's
reasoning is folded and dimmed above its answer; an executor's long report is folded to its tail.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.message import Message
from textual.widgets import Collapsible, Markdown, Static
from textual.widgets._markdown import MarkdownFence

from ..settings import declare, key_label

YOU_COLOUR = "#e4e4e4"  # the human's own turns
PALETTE = ("#5fafff", "#d787d7", "#87d787", "#ffd75f", "#ff8787", "#5fd7d7", "#af87ff", "#d7af5f")
REPORT_TAIL = 8  # lines of an executor's long report shown under its fold (its end: where errors are)


def copy_text(widget, text: str, what: str) -> None:
    """Copy to the terminal's clipboard (OSC 52) and say what was copied."""
    widget.app.copy_to_clipboard(text)
    lines = text.count("\n") + 1
    widget.notify(f"copied {what} ({lines} line{'s' if lines != 1 else ''}, {len(text)} characters)", timeout=3)


class CodeFence(MarkdownFence, can_focus=True):
    """A code block: its language and a copy action above it; wider than the pane, it scrolls
    sideways (a scrollbar, ←/→ when focused, the mouse) and its header says so."""

    BINDINGS = declare("code block", [
        Binding("c", "copy", "Copy code", id="chat.copy_code"),
        Binding("left", "scroll_left", "Scroll left", show=False),
        Binding("right", "scroll_right", "Scroll right", show=False),
    ])
    DEFAULT_CSS = """
    CodeFence { margin: 0 0 1 0; scrollbar-size-horizontal: 1; overflow-x: auto; }
    CodeFence:focus { background-tint: $foreground 8%; }
    CodeFence > .fence-header { dock: top; height: 1; padding: 0 1; color: $text-muted; background: $boost; }
    CodeFence > Label { padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield _FenceHeader(classes="fence-header")
        yield from super().compose()

    @property
    def widest(self) -> int:
        return max((len(line) for line in self.code.splitlines()), default=0)

    @property
    def wide(self) -> bool:
        return self.size.width > 0 and self.widest + 2 > self.size.width

    def _header(self) -> Text:
        header = Text.assemble((self.lexer or "text", "bold"), "  ", ("copy", "underline"),
                               (f" ({key_label('chat.copy_code')})", "dim"))
        if self.is_mounted and self.wide:
            header.append(f"  ⇆ {self.widest} columns wide: scroll sideways (←/→, shift+wheel)", style="yellow")
        return header

    def on_resize(self) -> None:
        self.query_one(".fence-header").refresh()

    async def _update_from_block(self, block) -> None:
        await super()._update_from_block(block)
        self.query_one(".fence-header").refresh()

    def on_click(self, event: events.Click) -> None:
        if event.widget is not None and event.widget.has_class("fence-header") and event.x < 30:
            self.action_copy()

    def action_copy(self) -> None:
        copy_text(self, self.code, f"the {self.lexer or 'text'} block")


class _FenceHeader(Static):
    def render(self) -> Text:
        return self.parent._header()  # (drawn anew when the block resizes: the wide hint)


class TurnMarkdown(Markdown):
    BLOCKS = {**Markdown.BLOCKS, "fence": CodeFence, "code_block": CodeFence}


def fold_report(content: str) -> tuple[str, int]:
    """An executor's report as shown: its first line (the exit code) and its last lines; and how
    many lines it has in all (the fold holds them)."""
    lines = content.rstrip("\n").split("\n")
    if len(lines) <= REPORT_TAIL + 2:
        return content, len(lines)
    return "\n".join([lines[0], "…", *lines[-REPORT_TAIL:]]), len(lines)


class TurnBlock(Vertical, can_focus=True):
    """One turn. Focusing it selects the executions it caused in the executor pane."""

    BINDINGS = declare("turn", [
        Binding("y", "copy", "Copy turn", id="chat.copy_turn"),
        Binding("c", "copy_code", "Copy code", id="chat.copy_turn_code"),
    ])

    @dataclass
    class Selected(Message):
        turn: TurnBlock

    def __init__(self, message_id: str, agent: str, colour: str, *, note: str = "", content: str = "",
                 recipient: str = "", label: str = "", report: bool = False, reasoning_open: bool = False) -> None:
        super().__init__(classes="turn")
        self.report = report  # an executor's report: its lines as they are, folded when long
        self.reasoning = ""
        self.reasoning_open = reasoning_open
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
        fold = Collapsible(Static("", classes="reasoning-text"), title="thinking…", collapsed=not self.reasoning_open,
                           classes="turn-reasoning")
        fold.display = False
        yield fold
        if self.report:
            shown, total = fold_report(self.text)
            yield TurnMarkdown(f"```text\n{shown}\n```", classes="turn-body")
            if shown != self.text:
                yield Collapsible(Static(Text(self.text.rstrip("\n")), classes="report-text"),
                                  title=f"all {total} lines (the output: executor pane)",
                                  collapsed=True, classes="turn-report")
        else:
            yield TurnMarkdown(self.text, classes="turn-body")
        tail = Static("", classes="turn-tail")
        tail.display = False
        yield tail
        code = Static("", classes="turn-tail-code")
        code.display = False
        yield code

    @property
    def body(self) -> Markdown:
        return self.query_one(".turn-body", Markdown)

    def add_reasoning(self, text: str) -> None:
        """The model's reasoning grew: shown folded and dimmed above the answer."""
        self.reasoning += text
        fold = self.query_one(".turn-reasoning", Collapsible)
        fold.display = True
        words = len(self.reasoning.split())
        fold.title = f"{'thought' if self.finished or self._committed or self.text else 'thinking…'} · {words} words"
        fold.query_one(".reasoning-text", Static).update(Text(self.reasoning.strip()))

    def show_reasoning(self, shown: bool) -> None:
        self.reasoning_open = shown
        self.query_one(".turn-reasoning", Collapsible).collapsed = not shown

    def action_copy(self) -> None:
        copy_text(self, self.text, f"{self.label}'s turn")

    def action_copy_code(self) -> None:
        """The turn's code blocks (all of them, one after the other)."""
        fences = list(self.body.query(CodeFence))
        if not fences:
            self.notify("this turn has no code block", severity="warning", timeout=3)
            return
        copy_text(self, "\n\n".join(f.code for f in fences), f"{len(fences)} code block{'s' if len(fences) > 1 else ''}")

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
        self._show_tail(self.text[self._committed:])

    def _show_tail(self, rest: str) -> None:
        """What is not yet committed: prose as plain text; a code block still open highlighted
        (its language named), so code reads as code before its fence closes."""
        tail = self.query_one(".turn-tail", Static)
        code = self.query_one(".turn-tail-code", Static)
        fence = _open_fence(rest)
        prose = rest if fence is None else rest[:fence[0]]
        tail.update(Text(prose.rstrip("\n")))
        tail.display = bool(prose.strip())
        if fence is not None:
            start, language, body = fence
            header = Content.assemble((language or "text", "bold"), ("  writing…", "dim italic"))
            code.update(Content("\n").join([header, highlight(body.rstrip("\n"), language=language or None)]))
        code.display = fence is not None
        if self.reasoning:
            fold = self.query_one(".turn-reasoning", Collapsible)
            fold.title = f"thought · {len(self.reasoning.split())} words"

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
        self.query_one(".turn-tail-code", Static).display = False
        await self.body.update(self.text)
        if self.reasoning:
            self.add_reasoning("")

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
        self.reasoning_open = False  # reasoning folds open (the toggle key), new turns too

    def colour(self, agent: str) -> str:
        if agent not in self.colours:
            self.colours[agent] = PALETTE[len(self.colours) % len(PALETTE)]
        return self.colours[agent]

    async def add_turn(self, message_id: str, agent: str, *, note: str = "", content: str = "",
                       recipient: str = "", label: str = "", report: bool = False) -> TurnBlock:
        follow = self.is_vertical_scroll_end or self.max_scroll_y == 0
        colour = YOU_COLOUR if label == "you" else self.colour(agent)
        turn = TurnBlock(message_id, agent, colour, note=note, content=content, recipient=recipient, label=label,
                         report=report, reasoning_open=self.reasoning_open)
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


def _open_fence(text: str) -> tuple[int, str, str] | None:
    """A code fence opened in ``text`` and not closed: (where its fence line starts, its language,
    the code so far); None when every fence is closed."""
    pos, opened = 0, None
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            opened = None if opened is not None else (pos, stripped.lstrip("`~").strip().split(" ")[0], pos + len(line))
        pos += len(line)
    if opened is None:
        return None
    start, language, body = opened
    code = text[body:]
    last = code.rsplit("\n", 1)[-1]
    if last and not last.strip("`~ "):  # the closing fence on its way ("``"): not code
        code = code[:len(code) - len(last)]
    return start, language, code
