"""The memory browser: search, view, edit and delete memos; accept or reject proposals (the
``confirm`` policy); see which session taught what.

The memo store (Chroma) is opened on first use and every call runs in a thread worker: importing
chromadb and embedding a query take long enough to stall the UI otherwise.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label, Select, Static, TextArea

from ..settings import declare, key_label

KIND_OPTIONS = [("fact", "fact"), ("preference", "preference"), ("task advice", "task_advice")]


class MemoEditScreen(ModalScreen[dict | None]):
    """Edit a memo's match text, recall text and kind."""

    CSS_PATH = ["dialogs.tcss", "memory.tcss"]

    BINDINGS = declare("memo editor", [Binding("escape", "cancel", "Cancel", id="memo_edit.cancel"),
                                       Binding("ctrl+s", "save", "Save", id="memo_edit.save", priority=True)])

    def __init__(self, memo: Any) -> None:
        super().__init__(classes="dialog")
        self.memo = memo

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box memo-edit"):
            yield Static(f"Edit memo {self.memo.id}", classes="dialog-question")
            yield Label("Matches messages like")
            yield Input(self.memo.match, id="edit-match")
            yield Label("Recalled as")
            yield TextArea(self.memo.recall, id="edit-recall", soft_wrap=True)
            yield Label("Kind")
            yield Select(KIND_OPTIONS, value=self.memo.kind, allow_blank=False, id="edit-kind")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"Save ({key_label('memo_edit.save')})", id="save", variant="success")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        self.dismiss({"match": self.query_one("#edit-match", Input).value,
                      "recall": self.query_one("#edit-recall", TextArea).text,
                      "kind": self.query_one("#edit-kind", Select).value})

    def action_cancel(self) -> None:
        self.dismiss(None)


class MemoryScreen(Screen):
    CSS_PATH = "memory.tcss"
    BINDINGS = declare("memory", [
        Binding("slash", "focus_search", "Search", id="memory.search"),
        Binding("e", "edit", "Edit", id="memory.edit"),
        Binding("d", "delete", "Delete", id="memory.delete"),
        Binding("a", "accept", "Accept", id="memory.accept"),
        Binding("j", "reject", "Reject", id="memory.reject"),
        Binding("p", "toggle_pending", "Proposals", id="memory.pending"),
        Binding("escape", "close", "Back", id="memory.close"),
    ])

    class Loaded(Message):
        """The table shows the store's current state (tests wait for it)."""

    def __init__(self) -> None:
        super().__init__()
        self.memos: list[Any] = []
        self.distances: dict[str, float] = {}
        self.query_text = ""
        self.show_pending = False

    def compose(self) -> ComposeResult:
        yield Static("Memory", id="memory-title")
        yield Input(id="memo-search", placeholder="Search memos by meaning (Enter); empty lists them all")
        yield DataTable(id="memos", cursor_type="row", zebra_stripes=True)
        yield Static("", id="memo-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#memos", DataTable)
        table.add_columns("", "kind", "agent", "matches", "recalled as", "taught in", "when")
        table.focus()
        self.reload()

    # -- loading (thread workers: chromadb and the embedder are blocking) ----------------------

    def store(self) -> Any:
        return self.app.memo_store()

    def reload(self) -> None:
        self.load(self.query_text, self.show_pending)

    @work(thread=True, exclusive=True, group="memos", exit_on_error=False)
    def load(self, query: str, pending: bool) -> None:
        store = self.store()
        if store is None:
            self.app.call_from_thread(self._show_error, self.app.memo_problem or "no memo store")
            return
        try:
            if query.strip():
                hits = store.search(query, k=20, pending=True if pending else False)
                memos = [h.memo for h in hits]
                distances = {h.memo.id: h.distance for h in hits}
            else:
                memos = store.list(pending=True if pending else None)
                distances = {}
        except Exception as exc:
            self.app.call_from_thread(self._show_error, f"{type(exc).__name__}: {exc}")
            return
        titles = self._session_titles(memos)
        self.app.call_from_thread(self._fill, memos, distances, titles)

    def _session_titles(self, memos: list[Any]) -> dict[str, str]:
        store = self.app.session_store() if hasattr(self.app, "session_store") else None
        titles: dict[str, str] = {}
        for memo in memos:
            sid = memo.session_id
            if sid and sid not in titles:
                try:
                    titles[sid] = store.get(sid).title if store is not None else sid
                except Exception:
                    titles[sid] = f"{sid} (gone)"
        return titles

    def _show_error(self, text: str) -> None:
        self.query_one("#memo-detail", Static).update(Text(text, style="red"))
        self.post_message(self.Loaded())

    def _fill(self, memos: list[Any], distances: dict[str, float], titles: dict[str, str]) -> None:
        self.memos = memos
        self.distances = distances
        self.titles = titles
        table = self.query_one("#memos", DataTable)
        table.clear()
        for memo in memos:
            flag = Text("proposal", style="bold yellow") if memo.pending else Text("")
            taught = titles.get(memo.session_id, "") if memo.session_id else "by hand"
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(memo.created))
            table.add_row(flag, memo.kind, memo.agent, memo.match[:40], memo.recall[:50], taught[:24], when, key=memo.id)
        what = f"{len(memos)} memo{'s' if len(memos) != 1 else ''}"
        if self.query_text:
            what += f" matching {self.query_text!r}"
        if self.show_pending:
            what += " (proposals only)"
        self.query_one("#memory-title", Static).update(Text.assemble(("Memory", "bold"), f"  {what}  ",
                                                                      ("/ search · e edit · d delete · a accept · j reject · p proposals", "dim")))
        self._show_detail()
        self.post_message(self.Loaded())

    def selected(self) -> Any:
        table = self.query_one("#memos", DataTable)
        if not self.memos or table.cursor_row is None or table.cursor_row >= len(self.memos):
            return None
        return self.memos[table.cursor_row]

    @on(DataTable.RowHighlighted, "#memos")
    def _show_detail(self) -> None:
        memo = self.selected()
        detail = self.query_one("#memo-detail", Static)
        if memo is None:
            detail.update(Text("No memos yet. Agents learn them as they chat (teachability), or add them with "
                               "`moot memory`.", style="dim"))
            return
        text = Text.assemble(("matches: ", "bold"), memo.match, "\n", ("recalled as: ", "bold"), memo.recall, "\n",
                             (f"{memo.kind} · for {memo.agent} · id {memo.id}", "dim"))
        if memo.session_id:
            text.append(f"\ntaught in session {memo.session_id}: {self.titles.get(memo.session_id, '')}", style="dim")
        if memo.pending:
            text.append("\nproposal: a accepts it, j rejects it" + (f" (would replace {memo.replaces})" if memo.replaces else ""),
                        style="yellow")
        if memo.id in self.distances:
            text.append(f"\ndistance to the search: {self.distances[memo.id]:.3f}", style="dim")
        detail.update(text)

    # -- actions ------------------------------------------------------------------------------

    @on(Input.Submitted, "#memo-search")
    def search(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        self.reload()
        self.query_one("#memos", DataTable).focus()

    def action_focus_search(self) -> None:
        self.query_one("#memo-search", Input).focus()

    def action_toggle_pending(self) -> None:
        self.show_pending = not self.show_pending
        self.reload()

    @work(thread=True, group="memo-change", exit_on_error=False)
    def change(self, what: str, memo_id: str, fields: dict[str, Any] | None = None) -> None:
        store = self.store()
        try:
            if what == "update":
                store.update(memo_id, **(fields or {}))
            elif what in ("delete", "reject"):
                store.delete(memo_id)
            elif what == "accept":
                store.accept(memo_id)
        except Exception as exc:
            self.app.call_from_thread(self.notify, f"cannot {what} {memo_id}: {exc}", severity="error")
            return
        done = {"update": "saved", "delete": "deleted", "reject": "rejected", "accept": "accepted"}[what]
        self.app.call_from_thread(self.notify, f"{done} {memo_id}")
        self.app.call_from_thread(self.reload)

    def action_edit(self) -> None:
        memo = self.selected()
        if memo is None:
            return

        def save(fields: dict | None) -> None:
            if fields:
                self.change("update", memo.id, fields)

        self.app.push_screen(MemoEditScreen(memo), save)

    def action_delete(self) -> None:
        memo = self.selected()
        if memo is None:
            return
        from .dialogs import ConfirmScreen

        self.app.push_screen(ConfirmScreen(f"Delete the memo {memo.recall[:60]!r}?"),
                             lambda yes: self.change("delete", memo.id) if yes else None)

    def action_accept(self) -> None:
        memo = self.selected()
        if memo is None or not memo.pending:
            self.notify("select a proposal to accept (p shows only proposals)", severity="warning")
            return
        self.change("accept", memo.id)

    def action_reject(self) -> None:
        memo = self.selected()
        if memo is None or not memo.pending:
            self.notify("select a proposal to reject (p shows only proposals)", severity="warning")
            return
        self.change("reject", memo.id)

    def action_close(self) -> None:
        self.app.pop_screen()

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [("Search memos", "By meaning", self.action_focus_search),
                ("Edit the memo", "Match text, recall text, kind", self.action_edit),
                ("Delete the memo", "Asks first", self.action_delete),
                ("Accept the proposal", "It becomes a memo agents recall", self.action_accept),
                ("Reject the proposal", "It is dropped", self.action_reject),
                ("Show proposals only / all memos", "Toggle", self.action_toggle_pending)]
