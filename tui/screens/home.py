"""Home: the teams, the recent sessions (resume / fork / export / delete) and the models with their
status (ready, loaded, reachable, or what is missing and why)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Static


def _ago(ts: float) -> str:
    delta = max(0, time.time() - ts)
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{delta / 60:.0f} min ago"
    if delta < 86400:
        return f"{delta / 3600:.0f} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(ts))


class HomeScreen(Screen):
    BINDINGS = [
        Binding("n", "new_team", "New team", id="home.new_team"),
        Binding("e", "edit_team", "Edit team", id="home.edit_team"),
        Binding("r", "resume", "Resume", id="home.resume"),
        Binding("f", "fork", "Fork", id="home.fork"),
        Binding("x", "export", "Export", id="home.export"),
        Binding("d", "delete", "Delete", id="home.delete"),
        Binding("m", "memory", "Memory", id="home.memory"),
        Binding("g", "refresh", "Refresh", id="home.refresh"),
    ]

    def compose(self) -> ComposeResult:
        # The first frame is only the frame: the lists (and their imports) are mounted right after
        # it (``populate``), so ``moot`` shows something at once.
        yield Static(Text.assemble(("moot", "bold"), "  ", ("multi-agent workbench · offline-first", "dim")), id="home-title")
        with Horizontal(id="home-top"):
            with Vertical(id="teams-box", classes="home-box"):
                yield Static("Teams  [dim]Enter: new chat · e: edit · n: new[/]", classes="box-title")
                yield Static("loading…", classes="placeholder")
            with Vertical(id="sessions-box", classes="home-box"):
                yield Static("Recent sessions  [dim]r: resume · f: fork · x: export · d: delete[/]", classes="box-title")
                yield Static("loading…", classes="placeholder")
        with Vertical(id="models-box", classes="home-box"):
            yield Static("Models", classes="box-title")
            yield Static("loading…", classes="placeholder")

    populated = False

    def on_mount(self) -> None:
        if self.app.ready:
            self.populate()

    def populate(self) -> None:
        """Mount the lists and fill them (teams, sessions, models)."""
        if self.populated:
            return
        from textual.widgets import DataTable, Footer, OptionList

        self.populated = True
        self.query(".placeholder").remove()
        teams = OptionList(id="teams")
        sessions = DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        models = DataTable(id="models", cursor_type="row")
        self.query_one("#teams-box").mount(teams)
        self.query_one("#sessions-box").mount(sessions)
        self.query_one("#models-box").mount(models)
        self.mount(Footer())
        sessions.add_columns("when", "team", "title", "msgs", "status")
        models.add_columns("name", "backend", "model", "status")
        teams.focus()
        self.refresh_all()

    def on_screen_resume(self) -> None:
        if self.populated:
            self.refresh_all()

    # -- content ------------------------------------------------------------------------------

    def refresh_all(self) -> None:
        self.load_teams()
        self.load_sessions()
        self.load_models()

    def load_teams(self) -> None:
        from moot.agents import list_teams, load_team
        from moot.backends import ConfigError

        teams = self.query_one("#teams")
        highlighted = teams.highlighted
        teams.clear_options()
        self.team_paths: dict[str, Path] = {}
        from textual.widgets.option_list import Option

        for name, path in list_teams():
            self.team_paths[name] = path
            try:
                team = load_team(str(path))
            except ConfigError as exc:
                teams.add_option(Option(Text.assemble((name, "bold red"), "  ", (exc.problems[0], "red")), id=name))
                continue
            members = ", ".join(m.name for m in team.spec.members)
            kind = f"group · {team.spec.chat.speaker_selection}" if team.is_group else "two agents"
            label = Text.assemble((name, "bold"), self.app.chat_mark(name), f"  {team.spec.description}\n",
                                  (f"  {members} · {kind}", "dim"),
                                  *self._executors(team), *((f"\n  ⚠ {w}", "yellow") for w in team.warnings))
            teams.add_option(Option(label, id=name))
        if teams.option_count:
            teams.highlighted = min(highlighted or 0, teams.option_count - 1)

    def _executors(self, team: Any) -> list[tuple[str, str]]:
        """' · code: sandbox' (per member when they differ): where the team's code will run."""
        from moot.executors import planned_executor

        plans = {m.name: planned_executor({"executor": self.app.executor_override or m.code_execution.executor},
                                          refresh=self._refresh_probes)
                 for m in team.spec.members if m.code_execution}
        self._refresh_probes = False
        if not plans:
            return []
        shown = next(iter(plans.values())) if len(set(plans.values())) == 1 else \
            ", ".join(f"{name} {plan}" for name, plan in plans.items())
        return [(" · code: ", "dim"), (shown, "red" if shown.startswith("none") else "dim")]

    _refresh_probes = False

    def load_sessions(self) -> None:
        table = self.query_one("#sessions")
        table.clear()
        self.session_rows: list[Any] = []
        store = self.app.session_store()
        if store is None:
            table.add_row("", "", Text(self.app.session_problem or "no session store", style="dim"), "", "")
            return
        try:
            sessions = store.list(limit=50)
        except Exception as exc:
            table.add_row("", "", Text(f"cannot list sessions: {exc}", style="red"), "", "")
            return
        for info in sessions:
            status = Text(info.status, style={"failed": "red", "interrupted": "yellow", "running": "green"}.get(info.status, ""))
            table.add_row(_ago(info.updated), info.team_name or "-", (info.title or info.task or "")[:60],
                          str(info.messages), status, key=info.id)
            self.session_rows.append(info)

    def load_models(self) -> None:
        table = self.query_one("#models")
        table.clear()
        config = self.app.models
        if config is None:
            table.add_row(Text("models.toml", style="red"), "", "", Text(self.app.models_problem or "", style="red"))
            return
        remote = []
        for m in config.models.values():
            status = self.app.model_status(m)
            name = m.name + (" (default)" if m.name == config.default else "")
            table.add_row(name, m.backend, m.model or m.model_path or "-", status, key=m.name)
            if not m.problems() and m.backend in ("ollama", "openai", "anthropic") and getattr(m, "base_url", None):
                remote.append(m)
        if remote:
            self.check_remote(remote)

    @work(group="models", exclusive=True, exit_on_error=False)
    async def check_remote(self, models: list[Any]) -> None:
        """Ask each remote server if it answers (short timeout; never blocks the UI)."""
        import httpx

        table = self.query_one("#models")
        async with httpx.AsyncClient(timeout=1.5, trust_env=False) as client:
            for m in models:
                url = m.base_url.rstrip("/") + ("/api/tags" if m.backend == "ollama" else "/models")
                try:
                    response = await client.get(url)
                    status = Text(f"reachable ({response.status_code})", style="green")
                except httpx.HTTPError as exc:
                    status = Text(f"unreachable: {type(exc).__name__} at {m.base_url}", style="red")
                try:
                    table.update_cell(m.name, table.ordered_columns[3].key, status)
                except Exception:
                    pass

    # -- teams --------------------------------------------------------------------------------

    def on_option_list_option_selected(self, event: Any) -> None:
        if event.option_list.id == "teams":
            self.app.open_team(str(event.option.id))

    def selected_team(self) -> str | None:
        teams = self.query_one("#teams")
        if teams.highlighted is None:
            return None
        return str(teams.get_option_at_index(teams.highlighted).id)

    def action_new_team(self) -> None:
        self.app.open_team_editor(None)

    def action_edit_team(self) -> None:
        name = self.selected_team()
        if name:
            self.app.open_team_editor(name)

    def action_memory(self) -> None:
        self.app.action_memory()

    def action_refresh(self) -> None:
        self._refresh_probes = True  # Docker may have started since: ask again
        self.refresh_all()

    # -- sessions -----------------------------------------------------------------------------

    def selected_session(self) -> Any:
        table = self.query_one("#sessions")
        if not self.session_rows or table.cursor_row is None or table.cursor_row >= len(self.session_rows):
            self.notify("no session selected", severity="warning")
            return None
        return self.session_rows[table.cursor_row]

    def on_data_table_row_selected(self, event: Any) -> None:
        if event.data_table.id == "sessions":
            self.action_resume()

    def action_resume(self) -> None:
        info = self.selected_session()
        if info is not None:
            self.app.resume_session(info.id)

    def action_fork(self) -> None:
        info = self.selected_session()
        if info is None:
            return
        from .dialogs import PromptScreen

        def fork(answer: str | None) -> None:
            if answer is None:
                return
            store = self.app.session_store()
            try:
                at: str | int = int(answer) if answer.strip().lstrip("-").isdigit() else answer.strip()
                new = store.fork(info.id, at)
            except Exception as exc:
                self.notify(f"cannot fork: {exc}", severity="error")
                return
            self.notify(f"forked {info.id} at message {answer}: new session {new}")
            self.load_sessions()

        self.app.push_screen(PromptScreen(f"Fork '{info.title}' at which message? (1-{info.messages})",
                                          str(info.messages)), fork)

    def action_export(self) -> None:
        info = self.selected_session()
        if info is None:
            return
        from .dialogs import PromptScreen

        def export(answer: str | None) -> None:
            if not answer:
                return
            path = Path(answer).expanduser()
            fmt = "json" if path.suffix == ".json" else "md"
            from moot.agents.transcript import to_markdown
            try:
                store = self.app.session_store()
                text = store.export(info.id, "json") if fmt == "json" else to_markdown(store.events(info.id), info)
                path.write_text(text, encoding="utf-8")
            except Exception as exc:
                self.notify(f"cannot export: {exc}", severity="error")
                return
            self.notify(f"exported to {path}")

        self.app.push_screen(PromptScreen("Export to (.md or .json):", str(Path.cwd() / f"moot-session-{info.id}.md")),
                             export)

    def action_delete(self) -> None:
        info = self.selected_session()
        if info is None:
            return
        from .dialogs import ConfirmScreen

        def delete(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.app.session_store().delete(info.id)
            except Exception as exc:
                self.notify(f"cannot delete: {exc}", severity="error")
                return
            self.notify(f"deleted session {info.id}")
            self.load_sessions()

        self.app.push_screen(ConfirmScreen(f"Delete session '{info.title or info.id}'?"), delete)

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [
            ("Resume the selected session", "Open it and continue the conversation", self.action_resume),
            ("Fork the selected session", "A copy up to a message, to take another way", self.action_fork),
            ("Export the selected session", "Markdown or JSON", self.action_export),
            ("Delete the selected session", "Asks first", self.action_delete),
            ("Edit the selected team", "The team editor", self.action_edit_team),
            ("Refresh home", "Teams, sessions, models", self.action_refresh),
        ]
