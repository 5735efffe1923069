"""moot's terminal app: home, chat, memory browser, team editor, help, and the command palette.

Start it with ``moot`` (or ``moot --team TEAM --task TEXT`` to open straight into a running chat).
Heavy parts (llama.cpp, Chroma, Docker) are imported only when a chat or the memory browser needs
them, so the first frame comes fast.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from . import settings as user_settings
from .settings import declare, key_label


GC_YOUNG_THRESHOLD = 10_000  # Python's default is 700


def quiet_gc() -> None:
    """Keep the garbage collector's full passes out of the way of keys and streaming: each
    scanned every object (Textual's render caches hold ~100k: seven FIFOCaches per Strip) and took
    85-290 ms here, several times a second while tokens streamed. What start-up made (modules,
    classes, the home screen) is frozen out of those passes, and young objects are collected in
    bigger, rarer batches (so the full passes come seldom). Once a process: a second app in the
    same process (tests) must not freeze the first one's garbage. ``moot`` starts with the
    collector off (``tui.cli.main``); this turns it back on."""
    gc.enable()
    if gc.get_freeze_count():
        return
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


class MootApp(App):
    CSS_PATH = ["moot.tcss", "screens/home.tcss"]  # the other screens load their own when first shown
    TITLE = "moot"
    BINDINGS = declare("everywhere", [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("f1", "help", "Help", id="app.help"),
        Binding("f2", "memory", "Memory", id="app.memory"),
        Binding("f3", "home", "Home", id="app.home"),
        Binding("f4", "toggle_approval", "Approve code", id="app.toggle_approval", show=False),
    ])

    def __init__(self, *, models_path: str | None = None, team: str | None = None, task: str | None = None,
                 executor: str | None = None, work_dir: str | None = None, models: Any = None,
                 memo_store: Any = None, session_store: Any = None) -> None:
        super().__init__()
        self.models_path = models_path
        self.start_team = team
        self.start_task = task
        self.executor_override = executor
        self.work_dir = work_dir
        self.models = models
        self.models_problem: str | None = None
        self._memo_store = memo_store
        self._session_store = session_store
        self.session_problem: str | None = None
        self.memo_problem: str | None = None
        self.settings = user_settings.load_settings()
        self.ready = False  # models loaded (just after the first frame)
        self.chats: list[Any] = []  # chat screens alive in this app: a run goes on when you leave its chat
        self.input_history: list[str] = []  # what the user sent in any chat (Up in the input bar recalls it)

    # -- start-up -----------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.settings.get("theme") in self.available_themes:
            self.theme = self.settings["theme"]
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        keymap, problems = user_settings.load_keymap()
        if keymap:
            self.set_keymap(keymap)
        for problem in problems:
            self.notify(problem, title="keymap", severity="warning", timeout=10, markup=False)
        # The home screen's frame first; models, teams and sessions fill in right after it.
        self.call_after_refresh(self._start)

    def get_default_screen(self) -> Screen:
        from .screens.home import HomeScreen

        return HomeScreen()

    def _start(self) -> None:
        self._load_models()
        self.ready = True
        quiet_gc()
        from .screens.home import HomeScreen

        for screen in self.screen_stack:
            if isinstance(screen, HomeScreen):
                screen.populate()
        if self.start_team:
            self.open_team(self.start_team, task=self.start_task)

    def _load_models(self) -> None:
        from moot.agents import use_models
        from moot.backends import ConfigError, load_models

        if self.models is None:
            try:
                self.models = load_models(self.models_path)
            except ConfigError as exc:
                self.models_problem = "; ".join(exc.problems)
                self.notify(self.models_problem, title="models.toml", severity="error", timeout=15, markup=False)
                return
        use_models(self.models)

    def _remember_theme(self, theme: Any) -> None:
        self.settings["theme"] = theme.name
        try:
            user_settings.save_settings(self.settings)
        except OSError as exc:
            self.notify(f"cannot save the theme: {exc}", severity="warning")

    # -- stores (opened on first use) ---------------------------------------------------------

    def session_store(self) -> Any:
        if self._session_store is None and self.session_problem is None:
            try:
                from moot.memory import SessionStore

                self._session_store = SessionStore.open_default()
            except Exception as exc:  # missing module or a store that cannot be opened: say so
                self.session_problem = f"sessions unavailable: {exc}"
        return self._session_store

    def memo_store(self) -> Any:
        """The memo store models.toml describes (opened on first use; chromadb is imported then)."""
        if self._memo_store is None and self.memo_problem is None:
            try:
                from moot.memory.memos import MemoStore

                self._memo_store = MemoStore.from_config(self.models)
            except Exception as exc:  # missing module or a store that cannot be opened: say so
                self.memo_problem = f"memory unavailable: {exc}"
        return self._memo_store

    # -- models -------------------------------------------------------------------------------

    def model_status(self, model: Any) -> Text:
        """A model's status from its registry (config problems, loaded or not), never calling it."""
        from moot.agents import current_registry

        if self.models is None:
            return Text("")
        status = current_registry().status(model.name)
        if status.state == "failed":
            return Text(f"✗ {status.detail}", style="red")
        if status.state == "loaded":
            return Text("● loaded", style="green")
        if getattr(model, "base_url", None):
            return Text("checking…", style="yellow")  # the home screen asks the server
        return Text(f"ready ({status.detail})" if status.detail else "ready", style="green")

    # -- navigation ---------------------------------------------------------------------------

    def open_team(self, name: str, task: str | None = None) -> None:
        """Open a chat with a team, after checking its models can be used."""
        from moot.agents import load_team
        from moot.backends import ConfigError

        if self.models is None:
            self.notify(f"models.toml has errors: {self.models_problem}", severity="error", markup=False)
            return
        try:
            team = load_team(name, self.models)
            problems = [p for m in team.models_used(self.models.default) for p in self.models.get(m).problems()]
        except ConfigError as exc:
            self.notify("\n".join(exc.problems), title=f"team {name}", severity="error", timeout=15, markup=False)
            return
        if problems:
            self.notify("\n".join(problems), title=f"team {name} cannot run", severity="error", timeout=15,
                        markup=False)
            return
        live = self.live_chat(team=name)
        if live is not None and task is None:
            self.show_chat(live)  # the team's chat that runs in the background: back to it
            return
        from .screens.chat import ChatScreen

        self.show_chat(ChatScreen(team, self.models, task=task, executor=self.executor_override, work_dir=self.work_dir))

    def resume_session(self, session_id: str) -> None:
        """Open a stored session: its conversation is shown and the next message continues it."""
        from moot.agents import load_team, parse_team
        from moot.agents.events import Event
        from moot.backends import ConfigError

        live = self.live_chat(session_id=session_id)
        if live is not None:
            self.show_chat(live)
            return
        store = self.session_store()
        if store is None:
            self.notify(self.session_problem or "no session store", severity="error")
            return
        try:
            info = store.get(session_id)
            if info.team_text:
                team = parse_team(info.team_text, f"session {session_id}", self.models)
                if info.team_name:
                    team.name = info.team_name
            else:
                team = load_team(info.team_name or "", self.models)
            events = []
            for data in store.events(session_id):
                try:
                    events.append(Event.from_dict(data))
                except (ValueError, TypeError):
                    continue  # an event type this moot does not know: skip it, show the rest
        except (ConfigError, Exception) as exc:
            text = "; ".join(exc.problems) if isinstance(exc, ConfigError) else str(exc)
            self.notify(f"cannot resume {session_id}: {text}", severity="error", timeout=10, markup=False)
            return
        from .screens.chat import ChatScreen

        self.show_chat(ChatScreen(team, self.models, replay=events, session_id=session_id,
                                  executor=self.executor_override, work_dir=self.work_dir))

    # -- chats that outlive their screen ------------------------------------------------------
    # A chat screen is installed while it lives, so leaving it (F3, Ctrl+B) keeps it and its run
    # (a worker of the app, not of the screen) going; it is dropped when left with nothing running.

    def show_chat(self, screen: Any) -> None:
        if screen not in self.chats:
            self.chats.append(screen)
            self.install_screen(screen, f"chat-{id(screen)}")
        if self.screen is not screen:
            self.push_screen(screen)

    def live_chat(self, *, team: str | None = None, session_id: str | None = None) -> Any:
        """The chat of ``team`` (or of ``session_id``) that this app still holds, if any."""
        for chat in self.chats:
            if (team is not None and chat.team.name == team and chat.running) or (
                    session_id is not None and chat.session_id == session_id):
                return chat
        return None

    def chat_mark(self, team: str) -> Text:
        """What Home says after a team whose chat goes on in the background ("" for none)."""
        chat = next((c for c in self.chats if c.team.name == team and c.running), None)
        if chat is None:
            return Text("")
        state = "waiting for you" if chat.waiting else "running"
        return Text.assemble("  ", (f"● {state}", "bold green" if state == "running" else "bold yellow"),
                             (" · Enter: back to it", "dim"))

    def chat_changed(self) -> None:
        """A chat started, stopped or began waiting: Home, if shown, marks it afresh."""
        from .screens.home import HomeScreen

        if isinstance(self.screen, HomeScreen) and self.screen.populated:
            self.screen.load_teams()

    async def drop_idle_chats(self) -> None:
        """Close the chats that are neither shown nor running (their sessions are in the store)."""
        for chat in list(self.chats):
            if chat.running or any(chat in stack for stack in self._screen_stacks.values()):
                continue
            self.chats.remove(chat)
            self.uninstall_screen(chat)
            await chat.remove()

    async def action_quit(self) -> None:
        """Ctrl+Q: with a chat still running (or waiting for you), ask first; yes stops them."""
        from .screens.dialogs import ConfirmScreen

        live = [c for c in self.chats if c.running]
        if not live:
            self.exit()
            return
        if isinstance(self.screen, ConfirmScreen) and getattr(self.screen, "quitting", False):
            return
        names = ", ".join(sorted({c.team.name for c in live}))
        dialog = ConfirmScreen(f"{len(live)} chat{'s' if len(live) > 1 else ''} still running ({names}). "
                               "Stop and quit?")
        dialog.quitting = True

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._stop_and_quit(live), group="quit")

        self.push_screen(dialog, answer)

    async def _stop_and_quit(self, live: list[Any]) -> None:
        import asyncio
        import time

        for chat in live:
            chat.stop_now(f"the user quit moot ({key_label('app.quit')})")
        deadline = time.monotonic() + 5.0
        while any(c.running for c in live) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.exit()

    def open_team_editor(self, name: str | None) -> None:
        from .screens.team_editor import TeamEditorScreen

        self.push_screen(TeamEditorScreen(name, self.models))

    def action_memory(self) -> None:
        from .screens.memory import MemoryScreen

        if not isinstance(self.screen, MemoryScreen):
            self.push_screen(MemoryScreen())

    async def action_home(self) -> None:
        """F3: back to Home. A chat left while it runs goes on (Home marks it); others close."""
        from .screens.home import HomeScreen

        while len(self.screen_stack) > 1 and not isinstance(self.screen, HomeScreen):
            await self.pop_screen()
        await self.drop_idle_chats()

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.binding_rows(), str(user_settings.keymap_path())))

    def action_toggle_approval(self) -> None:
        self.settings["approve_local_code"] = not self.settings.get("approve_local_code", True)
        user_settings.save_settings(self.settings)
        state = "asks before running" if self.settings["approve_local_code"] else "runs without asking"
        self.notify(f"code on the local executor now {state} (new chats)")

    def binding_rows(self) -> list[tuple[str, str, str, str]]:
        """(where, keys, description, id) of every binding, with the user's keymap applied."""
        from .screens.approval import ApprovalScreen
        from .screens.chat import ChatScreen
        from .screens.home import HomeScreen
        from .screens.memory import MemoryScreen
        from .screens.team_editor import TeamEditorScreen

        rows = []
        keymap = getattr(self, "_keymap", {}) or {}
        for where, cls in (("everywhere", MootApp), ("home", HomeScreen), ("chat", ChatScreen),
                           ("approval", ApprovalScreen), ("memory", MemoryScreen), ("team editor", TeamEditorScreen)):
            for b in cls.BINDINGS:
                if isinstance(b, Binding) and b.id:
                    rows.append((where, keymap.get(b.id, b.key), b.description, b.id))
        rows.append(("everywhere", "ctrl+p", "Command palette", "app.command_palette"))
        return rows

    # -- command palette ----------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "Keys, binding ids and how moot works", self.action_help)
        yield SystemCommand("Home", "Teams, sessions and models", self.action_home)
        yield SystemCommand("Memory browser", "Search, edit and delete memos; accept proposals", self.action_memory)
        yield SystemCommand("New team", "Create a team in the team editor", lambda: self.open_team_editor(None))
        yield SystemCommand("Toggle code approval", "Ask before running code on the local executor (new chats)",
                            self.action_toggle_approval)
        if self.models is not None:
            from moot.agents import list_teams

            for name, _path in list_teams():
                yield SystemCommand(f"Chat with {name}", f"Open a chat with the {name} team",
                                    lambda n=name: self.open_team(n))
                yield SystemCommand(f"Edit team {name}", "Open it in the team editor",
                                    lambda n=name: self.open_team_editor(n), discover=False)
        commands = getattr(screen, "palette_commands", None)
        if commands is not None:
            for title, help_text, callback in commands():
                yield SystemCommand(title, help_text, callback)


def run_app(args: Any) -> int:
    """``moot`` with no command: the app (``--team``/``--task`` open straight into a chat)."""
    app = MootApp(models_path=getattr(args, "models", None), team=getattr(args, "team", None),
                  task=getattr(args, "task", None), executor=getattr(args, "tui_executor", None),
                  work_dir=getattr(args, "tui_work_dir", None))
    app.run()
    return 0
