"""The executor pane: one entry per execution with its language, code, live output, exit code and
duration; a failure stands out. Focusing an entry selects the turn that asked for it."""

from __future__ import annotations

from dataclasses import dataclass

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Static

MAX_SHOWN_OUTPUT = 20_000  # characters of output kept on screen per execution (the agent gets its own copy)


class ExecutionEntry(Vertical, can_focus=True):
    @dataclass
    class Selected(Message):
        entry: ExecutionEntry

    def __init__(self, number: int, execution_id: str, agent: str, language: str, code: str, action: str,
                 turn_id: str | None) -> None:
        super().__init__(classes="execution -running")
        self.number = number
        self.execution_id = execution_id
        self.agent = agent
        self.language = language or "text"
        self.code = code
        self.action = action
        self.turn_id = turn_id
        self.output = ""
        self.exit_code: int | None = None

    def _title(self, state: str) -> Text:
        title = Text.assemble((f"#{self.number} ", "bold"), (self.language, "bold"), (f" · {self.agent}", "dim"))
        if self.action == "edited":
            title.append(" · edited", style="yellow")
        title.append(f" · {state}")
        return title

    def compose(self) -> ComposeResult:
        state = "skipped" if self.action == "skipped" else "running…"
        yield Static(self._title(state), classes="exec-title")
        lexer = {"sh": "bash", "shell": "bash", "py": "python"}.get(self.language, self.language)
        yield Static(Syntax(self.code.rstrip("\n"), lexer, theme="ansi_dark", word_wrap=True), classes="exec-code")
        yield Static("", classes="exec-output")
        yield Static("", classes="exec-footer")

    def append(self, text: str, stream: str = "stdout") -> None:
        self.output += text
        shown = self.output[-MAX_SHOWN_OUTPUT:]
        self.query_one(".exec-output", Static).update(Text(shown, style="red" if stream == "stderr" else ""))

    def finish(self, exit_code: int, duration_s: float, output: str, killed_reason: str | None = None) -> None:
        self.exit_code = exit_code
        self.remove_class("-running")
        if output and not self.output.strip():
            self.append(output)
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


class ExecutorPane(VerticalScroll):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entries: dict[str, ExecutionEntry] = {}

    async def add_entry(self, execution_id: str, agent: str, language: str, code: str, action: str,
                        turn_id: str | None) -> ExecutionEntry:
        self.query(".exec-empty").remove()
        entry = ExecutionEntry(len(self.entries) + 1, execution_id, agent, language, code, action, turn_id)
        self.entries[execution_id] = entry
        await self.mount(entry)
        self.scroll_end(animate=False)
        return entry

    def compose(self) -> ComposeResult:
        yield Static("No code has run yet.", classes="exec-empty")
