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

from ..settings import declare, key_label


def _ago(ts: float) -> str:
    delta = max(0, time.time() - ts)
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{delta / 60:.0f} min ago"
    if delta < 86400:
        return f"{delta / 3600:.0f} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(ts))


def quick_teams() -> list[tuple[str, Path, dict[str, Any]]]:
    """The teams as ``moot.agents.list_teams`` finds them (the same folders in the same order: a
    test holds them equal), each file's tables read with tomllib alone, for the first frame."""
    import importlib.util
    import tomllib

    from moot.paths import user_teams_dir

    packaged = Path(importlib.util.find_spec("moot.teams").submodule_search_locations[0])
    found: dict[str, Path] = {}
    for folder in (Path.cwd() / "teams", user_teams_dir(), packaged):
        if folder.is_dir():
            for p in sorted(folder.glob("*.toml")):
                found.setdefault(p.stem, p)
    out = []
    for name, path in sorted(found.items()):
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
            raw = {}
        out.append((name, path, raw if isinstance(raw, dict) else {}))
    return out


def quick_models(explicit: str | None, loaded: Any = None) -> list[tuple[str, str, str]]:
    """(name, backend, model) of each model in the models.toml the app will load (the lookup order
    of ``moot.backends.find_models_file``), read with tomllib alone, for the first frame."""
    import importlib.util
    import os
    import tomllib

    from moot.paths import user_models_file

    if loaded is not None:
        entries = [{"name": m.name, "backend": m.backend, "model": m.model or m.model_path} for m in loaded.models.values()]
        default = loaded.default
    else:
        packaged = Path(importlib.util.find_spec("moot.backends").submodule_search_locations[0]) / "models.toml"
        candidates = [explicit, os.environ.get("MOOT_MODELS"), Path.cwd() / "models.toml", user_models_file(), packaged]
        path = next((Path(c).expanduser() for c in candidates if c and Path(c).expanduser().is_file()), None)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8")) if path else {}
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
            raw = {}
        entries = [m for m in raw.get("models", []) if isinstance(m, dict)]
        default = raw.get("default")
    return [(str(m.get("name")) + (" (default)" if m.get("name") == default else ""), str(m.get("backend", "")),
             str(m.get("model") or m.get("model_path") or "-")) for m in entries]


def executor_status(executor: str | None, refresh: bool = False) -> tuple[str, bool]:
    """Where code run with ``executor`` (None: the default order) goes, in words, and whether it
    can run there now: ("sandbox", True), ("docker: no daemon answers", False)."""
    from moot.executors import planned_executor, sandbox_problem

    plan = planned_executor({"executor": executor}, refresh=refresh)
    if plan.startswith("none"):
        return plan, False
    if plan == "docker" and executor == "docker" and planned_executor({"executor": None}) != "docker":
        return "docker: no Docker daemon answers", False
    if plan == "sandbox":
        problem = sandbox_problem()
        if problem is not None:
            return f"sandbox: {problem}", False
    return (plan + (" (asks first)" if plan == "local" else "")), True


def executor_line(team: Any, override: str | None, refresh: bool = False) -> list[tuple[str, str]]:
    """' · code: sandbox ✓' (per member when they differ): where a team's code runs, and if it can."""
    plans = {m.name: executor_status(override or m.code_execution.executor, refresh)
             for m in team.spec.members if m.code_execution}
    if not plans:
        return []
    if len(set(plans.values())) == 1:
        parts = [next(iter(plans.values()))]
    else:
        parts = [(f"{name}: {text}", ok) for name, (text, ok) in plans.items()]
    out: list[tuple[str, str]] = [(" · code: ", "dim")]
    for i, (text, ok) in enumerate(parts):
        out += [(", " if i else "", "dim"), (f"{text} ✓" if ok else f"{text} ✗", "green" if ok else "bold red")]
    return out


class HomeScreen(Screen):
    BINDINGS = declare("home", [
        Binding("n", "new_team", "New team", id="home.new_team"),
        Binding("e", "edit_team", "Edit team", id="home.edit_team"),
        Binding("r", "resume", "Resume", id="home.resume"),
        Binding("f", "fork", "Fork", id="home.fork"),
        Binding("x", "export", "Export", id="home.export"),
        Binding("d", "delete", "Delete", id="home.delete"),
        Binding("m", "memory", "Memory", id="home.memory"),
        Binding("g", "refresh", "Refresh", id="home.refresh"),
        Binding("v", "eval_runs", "Eval runs", id="home.eval_runs"),
    ])

    def compose(self) -> ComposeResult:
        # The first frame already lists the teams and models, read with tomllib alone (``quick_*``);
        # validation, model status, executors and sessions need the engine (its imports take a
        # while) and fill in right after it (``populate``).
        from textual.widgets import DataTable, Footer, OptionList

        yield Static(Text.assemble(("moot", "bold"), "  ", ("multi-agent workbench · offline-first", "dim")), id="home-title")
        with Horizontal(id="home-top"):
            with Vertical(id="teams-box", classes="home-box"):
                yield Static(Text.assemble("Teams  ", (f"Enter: new chat · {key_label('home.edit_team')}: edit · "
                                                  f"{key_label('home.new_team')}: new", "dim")), classes="box-title")
                yield OptionList(id="teams")
            with Vertical(id="sessions-box", classes="home-box"):
                yield Static(Text.assemble("Recent sessions  ", (" · ".join(f"{key_label('home.' + a)}: {a}" for a in
                                                                  ("resume", "fork", "export", "delete")), "dim")),
                         classes="box-title")
                yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        with Vertical(id="models-box", classes="home-box"):
            yield Static("Models", classes="box-title")
            yield DataTable(id="models", cursor_type="row")
            yield Static("", id="model-detail")
        yield Footer()

    populated = False

    def on_mount(self) -> None:
        from textual.widgets.option_list import Option

        self.query_one("#sessions").add_columns("when", "team", "title", "msgs", "status")
        models = self.query_one("#models")
        models.add_columns("name", "backend", "model", "status")
        teams = self.query_one("#teams")
        for name, _path, raw in quick_teams():
            members = ", ".join(str(m.get("name")) for m in raw.get("members", []) if isinstance(m, dict))
            teams.add_option(Option(Text.assemble((name, "bold"), f"  {raw.get('description', '')}\n",
                                                  (f"  {members} · checking…", "dim")), id=name))
        for name, backend, model in quick_models(self.app.models_path, self.app.models):
            models.add_row(name, backend, model, Text("checking…", style="dim"))
        teams.focus()
        if self.app.ready:
            self.populate()

    def populate(self) -> None:
        """Fill the lists with what the engine says (teams checked, model status, sessions)."""
        if self.populated:
            return
        self.populated = True
        self.refresh_all()
        self.set_timer(0.3, self.check_keymap)  # after the lists are drawn: it imports every screen

    def check_keymap(self) -> None:
        """keymap.toml's unknown ids and clashing keys, each with its line (once per start)."""
        from .help import check_keymap

        app = self.app
        if getattr(app, "keymap_checked", False):
            return
        app.keymap_checked = True
        for problem in check_keymap():
            app.notify(problem, title="keymap", severity="warning", timeout=15, markup=False)

    def on_screen_resume(self) -> None:
        if self.populated:
            self.refresh_all()

    # -- content ------------------------------------------------------------------------------

    def refresh_all(self) -> None:
        self.load_teams()
        self.load_sessions()
        self.load_models()

    def load_teams(self) -> None:
        """The teams, each checked against the models in use: a broken one shows every problem
        (and a model missing from models.toml is one), before Enter. Where each team's code will
        run is asked in a thread (Docker's probe may take a moment) and filled in after."""
        from textual.widgets.option_list import Option

        from moot.agents import list_teams, load_team
        from moot.backends import ConfigError

        teams = self.query_one("#teams")
        highlighted = teams.highlighted
        teams.clear_options()
        self.team_paths: dict[str, Path] = {}
        self.team_rows: dict[str, tuple[Any, Text]] = {}  # name -> (team, its label without the executor line)
        models = self.app.models
        for name, path in list_teams():
            self.team_paths[name] = path
            try:
                team = load_team(str(path), models)
                problems = [p for m in team.models_used(models.default) for p in models.get(m).problems()] if models else []
            except ConfigError as exc:
                teams.add_option(Option(self._broken(name, path, exc.problems, "broken"), id=name))
                continue
            if problems:
                teams.add_option(Option(self._broken(name, path, problems, "cannot run"), id=name))
                continue
            members = ", ".join(m.name for m in team.spec.members)
            kind = f"group · {team.spec.chat.speaker_selection}" if team.is_group else "two agents"
            label = Text.assemble((name, "bold"), self.app.chat_mark(name), f"  {team.spec.description}\n",
                                  (f"  {members} · {kind}", "dim"))
            self.team_rows[name] = (team, label)
            coded = any(m.code_execution for m in team.spec.members)
            teams.add_option(Option(self._team_label(name, [(" · code: checking…", "dim")] if coded else []), id=name))
        if teams.option_count:
            teams.highlighted = min(highlighted or 0, teams.option_count - 1)
        self.plan_executors({n: t for n, (t, _label) in self.team_rows.items()}, self._refresh_probes,
                            self.app.executor_override)
        self._refresh_probes = False

    def _team_label(self, name: str, executor: list[tuple[str, str]]) -> Text:
        team, label = self.team_rows[name]
        task = team.spec.suggested_task
        return Text.assemble(label, *executor, *([(f"\n  try: {task}", "italic")] if task else []),
                             *((f"\n  ⚠ {w}", "yellow") for w in team.warnings))

    def _broken(self, name: str, path: Path, problems: list[str], what: str) -> Text:
        """A team that cannot be used: a badge, then every problem on its own line (in the text's
        own colour, so it stays readable on the highlighted row)."""
        label = Text.assemble((name, "bold"), "  ", (f" {what} ", "bold white on dark_red"),
                              (f"  {len(problems)} problem{'s' * (len(problems) > 1)} · "
                               f"{key_label('home.edit_team')}: open {path.name} to fix", "italic"))
        for problem in problems:
            label.append("\n  ✗ ", "bold red")
            label.append(problem.replace(f"{path}: ", "", 1))
        return label

    @work(thread=True, group="executors", exclusive=True, exit_on_error=False)
    def plan_executors(self, teams: dict[str, Any], refresh: bool, override: str | None) -> None:
        """Where each team's code will run and whether that works here (in a thread: Docker's
        probe can take a moment); each team's row is filled in when known."""
        plans = {name: executor_line(team, override, refresh) for name, team in teams.items()}
        self.app.call_from_thread(self._show_plans, plans)

    executors_planned = False  # each team's executor line filled in (tests wait for it)

    def _show_plans(self, plans: dict[str, list[tuple[str, str]]]) -> None:
        self.executors_planned = True
        teams = self.query_one("#teams")
        for name, line in plans.items():
            if name not in self.team_rows:
                continue
            try:
                index = teams.get_option_index(name)
            except Exception:  # the list was refilled meanwhile
                continue
            teams.replace_option_prompt_at_index(index, self._team_label(name, line))

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
        from ..sessions_cmd import lineage, tree_title

        for info, depth in lineage(sessions):  # a fork under the session it came from
            status = Text(info.status, style={"failed": "red", "interrupted": "yellow", "running": "green"}.get(info.status, ""))
            title = Text(tree_title(info, depth, 60))
            if info.parent_id and not depth:
                title.append(f" (fork of {info.parent_id})", "dim")
            table.add_row(_ago(info.updated), info.team_name or "-", title, str(info.messages), status, key=info.id)
            self.session_rows.append(info)

    def load_models(self) -> None:
        table = self.query_one("#models")
        table.clear()
        config = self.app.models
        if config is None:
            table.add_row(Text("models.toml", style="red"), "", "", Text(self.app.models_problem or "", style="red"))
            return
        remote = []
        self.model_statuses: dict[str, Text] = {}
        for m in config.models.values():
            status = self.app.model_status(m)
            self.model_statuses[m.name] = status
            name = m.name + (" (default)" if m.name == config.default else "")
            table.add_row(name, m.backend, m.model or m.model_path or "-", status, key=m.name)
            if not m.problems() and m.backend in ("ollama", "openai", "anthropic") and getattr(m, "base_url", None):
                remote.append(m)
        if remote:
            self.check_remote(remote)
        self._show_model_detail()

    def _show_model_detail(self) -> None:
        """The highlighted model's whole status under the table, wrapped (a cell cuts it short)."""
        table = self.query_one("#models")
        statuses = getattr(self, "model_statuses", {})
        if table.row_count == 0 or not statuses:
            return
        name = str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)
        status = statuses.get(name)
        if status is not None:
            self.query_one("#model-detail", Static).update(Text.assemble((f"{name}: ", "bold"), status))

    def on_data_table_row_highlighted(self, event: Any) -> None:
        if event.data_table.id == "models":
            self._show_model_detail()

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
                    status = Text(f"unreachable at {m.base_url} ({type(exc).__name__})", style="red")
                self.model_statuses[m.name] = status
                try:
                    table.update_cell(m.name, table.ordered_columns[3].key, status)
                except Exception:
                    pass
            self._show_model_detail()

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
        """The team's own file in the editor (a broken one too, with its problems shown)."""
        name = self.selected_team()
        if name:
            self.app.open_team_editor(str(self.team_paths.get(name, name)))

    def action_memory(self) -> None:
        self.app.action_memory()

    def action_eval_runs(self) -> None:
        from .eval_runs import EvalRunsScreen

        self.app.push_screen(EvalRunsScreen())

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
                self.notify(f"cannot fork: {exc}", severity="error", markup=False)
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
                self.notify(f"cannot export: {exc}", severity="error", markup=False)
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
                self.notify(f"cannot delete: {exc}", severity="error", markup=False)
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
            ("Eval runs", "moot eval's runs, pass rates; open a failed task's session", self.action_eval_runs),
        ]
