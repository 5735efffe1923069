"""Eval runs (``moot eval``): each run with its pass rate and 95% interval; the selected run's
tasks below it, failures first; Enter on a task opens the session it ran as (resume it, read it,
fork it), so a failure can be looked at where it happened."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ..settings import declare, key_label


class EvalRunsScreen(Screen):
    DEFAULT_CSS = """
    EvalRunsScreen .eval-box { border: round $primary 50%; padding: 0 1; }
    EvalRunsScreen #eval-runs-box { height: 2fr; }
    EvalRunsScreen #eval-tasks-box { height: 3fr; }
    EvalRunsScreen .box-title { height: 1; color: $text-muted; }
    EvalRunsScreen DataTable { height: 1fr; }
    """
    BINDINGS = declare("eval runs", [
        Binding("escape", "close", "Back", id="eval_runs.close"),
        Binding("g", "refresh", "Refresh", id="eval_runs.refresh"),
    ])

    def __init__(self, store: Any = None) -> None:
        """``store``: a ``moot.evals.EvalStore`` (default: the one ``moot eval`` writes)."""
        super().__init__()
        self.store = store
        self.runs: list[Any] = []
        self.tasks: list[Any] = []
        self.problem: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="eval-runs-box", classes="eval-box"):
            yield Static("Eval runs (moot eval)  most recent first", classes="box-title")
            yield DataTable(id="eval-runs", cursor_type="row", zebra_stripes=True)
        with Vertical(id="eval-tasks-box", classes="eval-box"):
            yield Static("", id="eval-tasks-title", classes="box-title")
            yield DataTable(id="eval-tasks", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#eval-runs", DataTable).add_columns("when", "suite", "team", "model", "pass rate", "95% interval",
                                                            "tasks", "failures")
        self.query_one("#eval-tasks", DataTable).add_columns("task", "repeat", "result", "why", "session", "tokens", "time")
        self.action_refresh()

    def _store(self) -> Any:
        if self.store is None and self.problem is None:
            try:
                from moot.evals import EvalStore

                self.store = EvalStore.open_default()
            except Exception as exc:  # no eval table yet, or one that cannot be opened: say so
                self.problem = f"eval runs unavailable: {exc}"
        return self.store

    def action_refresh(self) -> None:
        from moot.evals import summarise

        table = self.query_one("#eval-runs", DataTable)
        table.clear()
        self.runs = []
        store = self._store()
        try:
            runs = store.list(limit=100) if store is not None else []
        except Exception as exc:
            self.problem = f"cannot list eval runs: {exc}"
            runs = []
        if not runs:
            table.add_row("", "", Text(self.problem or "no eval runs yet: `moot eval SUITE --team T` makes one",
                                       style="red" if self.problem else "dim"), "", "", "", "", "")
            self._show_tasks(None)
            return
        for run in runs:
            summary = summarise(run, store.results(run.id))
            low, high = summary.interval
            rate = Text(f"{summary.pass_rate:.0%} ({summary.passed}/{summary.n})",
                        style="green" if summary.n and summary.passed == summary.n else "yellow" if summary.passed else "red")
            failures = ", ".join(f"{kind} {n}" for kind, n in summary.failures.most_common()) or "-"
            tasks = f"{summary.n}" + (f" (+{summary.missing} not run)" if summary.missing > 0 else "")
            table.add_row(time.strftime("%Y-%m-%d %H:%M", time.localtime(run.created)), run.suite, run.team,
                          run.model or "-", rate, f"{low:.0%}–{high:.0%}", tasks, failures, key=run.id)
            self.runs.append((run, summary))
        self._show_tasks(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "eval-runs" and self.runs:
            self._show_tasks(event.cursor_row)

    def _show_tasks(self, index: int | None) -> None:
        table = self.query_one("#eval-tasks", DataTable)
        table.clear()
        self.tasks = []
        title = self.query_one("#eval-tasks-title", Static)
        if index is None or index >= len(self.runs):
            title.update("")
            return
        run, summary = self.runs[index]
        title.update(Text.assemble(f"Run {run.id}: its tasks, failures first  ",
                                   (f"Enter: open the task's session · {key_label('eval_runs.close')}: back", "dim")))
        for r in sorted(summary.results, key=lambda r: (r.passed, r.task_id, r.repeat)):
            result = Text("✓ passed", style="green") if r.passed else Text(f"✗ {r.kind or 'failed'}", style="bold red")
            table.add_row(r.task_id, str(r.repeat), result, (r.detail or "")[:80], r.session or "-", str(r.tokens),
                          f"{r.wall_s:.1f} s")
            self.tasks.append(r)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "eval-tasks" or event.cursor_row >= len(self.tasks):
            return
        task = self.tasks[event.cursor_row]
        if not task.session:
            self.notify(f"{task.task_id} never started a session ({task.kind}: {task.detail})", severity="warning",
                        markup=False)
            return
        self.app.resume_session(task.session)

    def action_close(self) -> None:
        self.app.pop_screen()
