"""The executor pane: one entry per execution with its language, code, live output, exit code and
duration; a failure stands out. Focusing an entry selects the turn that asked for it.

A long output shows its tail (where errors are) and says so ("showing last 20 of 2000 lines");
Enter on the entry (or a click on that line) opens the whole output in a scrollable view."""

from __future__ import annotations

from dataclasses import dataclass

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Log, Static

from ..settings import declare, key_label

TAIL_LINES = 20  # the lines of output an entry shows: the last ones (the full output opens with Enter)


class ExecutionEntry(Vertical, can_focus=True):
    BINDINGS = [Binding("enter", "full_output", "Full output", show=False)]

    @dataclass
    class Selected(Message):
        entry: ExecutionEntry

    def __init__(self, number: int, execution_id: str, agent: str, language: str, code: str, action: str,
                 turn_id: str | None, author: str = "") -> None:
        super().__init__(classes="execution -running")
        self.number = number
        self.author = author or agent  # who wrote the code (the agent runs it)
        self.execution_id = execution_id
        self.agent = agent
        self.language = language or "text"
        self.code = code
        self.action = action
        self.turn_id = turn_id
        self._chunks: list[str] = []
        self._joined = ""
        self.lines = 0  # newline count of the output so far
        self.stderr_seen = False
        self.exit_code: int | None = None
        self.viewer: OutputScreen | None = None

    @property
    def output(self) -> str:
        """All of the output so far (stdout and stderr as they came)."""
        if self._chunks:
            self._joined += "".join(self._chunks)
            self._chunks.clear()
        return self._joined

    def _title(self, state: str) -> Text:
        title = Text.assemble((f"#{self.number} ", "bold"), (self.language, "bold"), (f" · {self.author}", "dim"))
        if self.author != self.agent:
            title.append(f" (run by {self.agent})", style="dim")
        if self.action == "edited":
            title.append(" · edited", style="yellow")
        title.append(f" · {state}")
        return title

    def compose(self) -> ComposeResult:
        state = "skipped" if self.action == "skipped" else "running…"
        yield Static(self._title(state), classes="exec-title")
        lexer = {"sh": "bash", "shell": "bash", "py": "python"}.get(self.language, self.language)
        yield Static(Syntax(self.code.rstrip("\n"), lexer, theme="ansi_dark", word_wrap=True), classes="exec-code")
        more = Static("", classes="exec-more")
        more.display = False
        yield more
        yield Static("", classes="exec-output")
        yield Static("", classes="exec-footer")

    def append(self, text: str, stream: str = "stdout") -> None:
        if not text:
            return
        self._chunks.append(text)
        self.lines += text.count("\n")
        self.stderr_seen = self.stderr_seen or stream == "stderr"
        if self.viewer is not None:
            self.viewer.append(text)
        self._show_tail(stream)

    def tail(self, n: int = TAIL_LINES) -> tuple[str, int]:
        """The last ``n`` lines of the output, and how many lines it has in all."""
        out = self.output
        total = self.lines + (0 if out.endswith("\n") or not out else 1)
        end = len(out) - 1 if out.endswith("\n") else len(out)
        start = end
        for _ in range(n):
            start = out.rfind("\n", 0, start)
            if start < 0:
                break
        return out[start + 1:], total

    def _show_tail(self, stream: str = "stdout") -> None:
        shown, total = self.tail()
        more = self.query_one(".exec-more", Static)
        if total > TAIL_LINES:
            more.update(Text.assemble((f"… showing last {TAIL_LINES} of {total} lines", "bold"),
                                      (" · Enter: all", "dim")))
            more.display = True
        self.query_one(".exec-output", Static).update(Text(shown.rstrip("\n"), style="red" if stream == "stderr" else ""))

    def action_full_output(self) -> None:
        self.app.push_screen(OutputScreen(self))

    def on_click(self, event) -> None:
        if event.widget is not None and event.widget.has_class("exec-more"):
            self.action_full_output()

    def finish(self, exit_code: int, duration_s: float, output: str, killed_reason: str | None = None) -> None:
        self.exit_code = exit_code
        self.remove_class("-running")
        if output and not self.output.strip():
            self.append(output)
        elif self.output:
            self._show_tail()
        if self.viewer is not None:
            self.viewer.finished()
        ok = exit_code == 0
        self.add_class("-ok" if ok else "-failed")
        why = f" · {killed_reason}" if killed_reason else ""
        footer = Text(f"{'✓' if ok else '✗'} exit {exit_code} · {duration_s:.2f} s{why}",
                      style="bold green" if ok else "bold red")
        self.query_one(".exec-footer", Static).update(footer)
        self.query_one(".exec-title", Static).update(self._title("done" if ok else "FAILED"))

    def mark_skipped(self) -> None:
        self.remove_class("-running")
        self.add_class("-skipped")
        self.query_one(".exec-footer", Static).update(Text("skipped by the user", style="dim"))

    def on_focus(self) -> None:
        self.post_message(self.Selected(self))


class OutputScreen(ModalScreen[None]):
    """One execution's whole output, scrollable: Textual's Log, a virtual line view that draws only
    the lines in sight, so a 100,000-line output scrolls as fast as a short one; it opens on the
    tail, follows new output while you stay at the end, and its title says where you are."""

    BINDINGS = declare("output", [
        Binding("escape,q", "close", "Close", id="output.close"),
        Binding("ctrl+home", "top", "Top", id="output.top", priority=True),
        Binding("ctrl+end", "bottom", "Bottom", id="output.bottom", priority=True),
    ])
    DEFAULT_CSS = """
    OutputScreen { align: center middle; }
    OutputScreen > Vertical { width: 90%; height: 90%; border: round $accent; background: $surface; }
    OutputScreen #output-title { height: 1; padding: 0 1; }
    OutputScreen Log { height: 1fr; border: none; }
    """

    def __init__(self, entry: ExecutionEntry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="output-title")
            yield Log(auto_scroll=False, id="output-text")

    @property
    def log_view(self) -> Log:
        return self.query_one(Log)

    def on_mount(self) -> None:
        self.entry.viewer = self
        view = self.log_view
        self._partial = ""
        self._write(self.entry.output, follow=True)  # the tail first: where errors are
        view.focus()
        self.watch(view, "scroll_y", self._show_where)
        self._show_where()

    def _show_where(self, *_: object) -> None:
        entry, view = self.entry, self.log_view
        total = view.line_count
        first = int(view.scroll_y) + 1
        last = min(total, first + max(view.scrollable_content_region.height, 1) - 1)
        self.query_one("#output-title", Static).update(Text.assemble(
            (f"#{entry.number} {entry.language} · {entry.author}", "bold"),
            (f" · lines {first}–{last} of {total} · {key_label('output.top')}/{key_label('output.bottom')}: "
             f"top/end · {key_label('output.close')}: close", "dim")))

    def on_unmount(self) -> None:
        if self.entry.viewer is self:
            self.entry.viewer = None

    def _write(self, text: str, follow: bool, final: bool = False) -> None:
        """Whole lines go to the Log at once (write_lines: no per-line work, widths measured in a
        thread); a line still being written waits for its end (or the run's)."""
        text = self._partial + text
        cut = len(text) if final else text.rfind("\n") + 1
        self._partial = text[cut:]
        if cut:
            self.log_view.write_lines(text[:cut].split("\n")[:-1] if text[:cut].endswith("\n") else text[:cut].split("\n"),
                                      scroll_end=follow)

    def append(self, text: str) -> None:
        self._write(text, follow=self.log_view.is_vertical_scroll_end)
        self._show_where()

    def finished(self) -> None:
        """The run ended: a last line without its newline is shown too."""
        if self._partial:
            self._write("", follow=self.log_view.is_vertical_scroll_end, final=True)
            self._show_where()

    def action_top(self) -> None:
        self.log_view.scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.log_view.scroll_end(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)


class ExecutorPane(VerticalScroll):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entries: dict[str, ExecutionEntry] = {}

    async def add_entry(self, execution_id: str, agent: str, language: str, code: str, action: str,
                        turn_id: str | None, author: str = "") -> ExecutionEntry:
        self.query(".exec-empty").remove()
        entry = ExecutionEntry(len(self.entries) + 1, execution_id, agent, language, code, action, turn_id, author)
        self.entries[execution_id] = entry
        await self.mount(entry)
        self.scroll_end(animate=False)
        return entry

    def compose(self) -> ComposeResult:
        yield Static("No code has run yet.", classes="exec-empty")
