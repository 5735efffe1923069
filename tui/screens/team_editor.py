"""The team editor: members (name, role / system message, model from models.toml, tools,
executor), speaker selection and allowed transitions, termination; saved as a team file after the
engine's own validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, Label, OptionList, Select, Static, TextArea

from ..settings import user_teams_dir
from ..teamfile import format_transitions, parse_transitions, save_team, team_data

ROLES = [("assistant", "assistant"), ("user proxy (runs code, speaks for you)", "user_proxy"), ("conversable", "conversable")]
EXECUTORS = [("no code execution", "none"), ("docker (sandboxed)", "docker"), ("local (asks before running)", "local"),
             ("the default (docker when a daemon answers)", "default")]
HUMAN = [("the role's default", "default"), ("ALWAYS", "ALWAYS"), ("TERMINATE", "TERMINATE"), ("NEVER", "NEVER")]
SELECTION = [("two agents taking turns", "none"), ("auto (a model picks)", "auto"), ("round robin", "round_robin"),
             ("random", "random"), ("manual (you pick)", "manual")]
BUILTIN_TOOLS_HINT = "comma-separated built-in tools"


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _float(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        return None


class TeamEditorScreen(Screen):
    CSS_PATH = "team_editor.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="team_editor.save", priority=True),
        Binding("ctrl+n", "add_member", "Add member", id="team_editor.add_member"),
        Binding("escape", "close", "Close", id="team_editor.close"),
    ]

    def __init__(self, team_name: str | None, models: Any, save_path: Path | None = None) -> None:
        super().__init__()
        self.team_name = team_name
        self.models = models
        self.save_path = save_path
        self.data: dict[str, Any] = {}
        self.index = 0
        self.saved_path: Path | None = None
        self._loading = False

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        model_options = [("the default model", "__default__"), ("no model", "__none__")]
        if self.models is not None:
            model_options += [(name, name) for name in self.models.models]
        from moot.agents._builtin_tools import BUILTIN_TOOLS

        yield Static("Team editor", id="editor-title")
        with Horizontal(id="editor"):
            with Vertical(id="editor-team", classes="editor-col"):
                yield Label("Name")
                yield Input(id="team-name", placeholder="my-team")
                yield Label("Description")
                yield Input(id="team-description")
                yield Label("Members")
                yield OptionList(id="members")
                with Horizontal(classes="editor-buttons"):
                    yield Button("Add", id="add-member", compact=True)
                    yield Button("Remove", id="remove-member", compact=True, variant="error")
            with VerticalScroll(id="editor-member", classes="editor-col"):
                yield Label("Member name")
                yield Input(id="m-name")
                yield Label("Role")
                yield Select(ROLES, id="m-role", allow_blank=False, value="assistant")
                yield Label("Model (from models.toml)")
                yield Select(model_options, id="m-model", allow_blank=False, value="__default__")
                yield Label(f"Tools ({', '.join(BUILTIN_TOOLS)})")
                yield Input(id="m-tools", placeholder=BUILTIN_TOOLS_HINT)
                yield Label("Code execution")
                yield Select(EXECUTORS, id="m-executor", allow_blank=False, value="none")
                yield Label("Human input")
                yield Select(HUMAN, id="m-human", allow_blank=False, value="default")
                yield Label("Ends the chat when its reply contains")
                yield Input(id="m-termination", placeholder="e.g. TERMINATE")
                yield Label("Description (what the selector reads)")
                yield Input(id="m-description")
                yield Label("System message")
                yield TextArea(id="m-system", soft_wrap=True)
            with VerticalScroll(id="editor-chat", classes="editor-col"):
                yield Label("Speaker selection")
                yield Select(SELECTION, id="c-selection", allow_blank=False, value="none")
                yield Label("Who sends the task (initiator)")
                yield Input(id="c-initiator", placeholder="the first user proxy")
                yield Label("Max round (group: messages)")
                yield Input(id="c-max-round", placeholder="12")
                yield Label("Max turns (two agents)")
                yield Input(id="c-max-turns")
                yield Label("Allowed transitions (a: b c; b: a)")
                yield Input(id="c-transitions")
                yield Label("Stop when a message contains")
                yield Input(id="t-text", placeholder="TERMINATE")
                yield Label("Max messages")
                yield Input(id="t-max-messages")
                yield Label("Token budget")
                yield Input(id="t-token-budget")
                yield Label("Time limit (s)")
                yield Input(id="t-timeout")
                yield Checkbox("Stop on a stall (loops, repeats)", value=True, id="t-stall")
        yield Static("", id="editor-problems")
        with Horizontal(id="editor-actions"):
            yield Button("Save (Ctrl+S)", id="save", variant="success")
            yield Button("Close (Esc)", id="close")
        yield Footer()

    def on_mount(self) -> None:
        from moot.agents import load_team
        from moot.backends import ConfigError

        self.data = {"name": "", "description": "", "members": [
            {"name": "user", "role": "user_proxy", "human_input_mode": "NEVER"},
            {"name": "assistant", "role": "assistant"}], "chat": {}, "termination": {}}
        if self.team_name:
            try:
                team = load_team(self.team_name, self.models)
                self.data = team_data(team)
                self.source = Path(team.source)
            except ConfigError as exc:
                self.show_problems(exc.problems)
        self._fill()

    # -- form <-> data ------------------------------------------------------------------------

    def _fill(self) -> None:
        self._loading = True
        d = self.data
        self.query_one("#team-name", Input).value = d.get("name") or ""
        self.query_one("#team-description", Input).value = d.get("description") or ""
        chat, term = d.get("chat", {}), d.get("termination", {})
        self.query_one("#c-selection", Select).value = chat.get("speaker_selection") or "none"
        self.query_one("#c-initiator", Input).value = chat.get("initiator") or ""
        self.query_one("#c-max-round", Input).value = str(chat.get("max_round", "") or "")
        self.query_one("#c-max-turns", Input).value = str(chat.get("max_turns", "") or "")
        self.query_one("#c-transitions", Input).value = format_transitions(chat.get("transitions"))
        self.query_one("#t-text", Input).value = term.get("text") or ""
        self.query_one("#t-max-messages", Input).value = str(term.get("max_messages") or "")
        self.query_one("#t-token-budget", Input).value = str(term.get("token_budget") or "")
        self.query_one("#t-timeout", Input).value = str(term.get("timeout_s") or "")
        self.query_one("#t-stall", Checkbox).value = term.get("stall", True)
        self._fill_members()
        self._loading = False

    def _fill_members(self) -> None:
        members = self.query_one("#members", OptionList)
        members.clear_options()
        for m in self.data["members"]:
            members.add_option(Text.assemble((m.get("name") or "?", "bold"), f"  {m.get('role', 'assistant')}"))
        self.index = min(self.index, len(self.data["members"]) - 1)
        members.highlighted = self.index
        self._load_member()

    def _load_member(self) -> None:
        if not self.data["members"]:
            return
        self._loading = True
        m = self.data["members"][self.index]
        self.query_one("#m-name", Input).value = m.get("name") or ""
        self.query_one("#m-role", Select).value = m.get("role") or "assistant"
        model = m.get("model")
        known = self.models.models if self.models is not None else {}
        self.query_one("#m-model", Select).value = "__none__" if model is False else (model if model in known else "__default__")
        self.query_one("#m-tools", Input).value = ", ".join(m.get("tools") or [])
        code = m.get("code_execution")
        self.query_one("#m-executor", Select).value = ("none" if not code else (code.get("executor") or "default"))
        self.query_one("#m-human", Select).value = m.get("human_input_mode") or "default"
        self.query_one("#m-termination", Input).value = m.get("termination_text") or ""
        self.query_one("#m-description", Input).value = m.get("description") or ""
        self.query_one("#m-system", TextArea).text = m.get("system_message") or ""
        self._loading = False

    def _store_member(self) -> None:
        if not self.data["members"]:
            return
        m = self.data["members"][self.index]
        m["name"] = self.query_one("#m-name", Input).value.strip()
        m["role"] = self.query_one("#m-role", Select).value
        model = self.query_one("#m-model", Select).value
        if model == "__default__":
            m.pop("model", None)
        else:
            m["model"] = False if model == "__none__" else model
        m["tools"] = [t.strip() for t in self.query_one("#m-tools", Input).value.split(",") if t.strip()]
        executor = self.query_one("#m-executor", Select).value
        code = m.get("code_execution") if isinstance(m.get("code_execution"), dict) else {}
        if executor == "none":
            m.pop("code_execution", None)
        else:
            code = dict(code)
            if executor == "default":
                code.pop("executor", None)
            else:
                code["executor"] = executor
            code.setdefault("timeout", 60)
            m["code_execution"] = code
        human = self.query_one("#m-human", Select).value
        if human == "default":
            m.pop("human_input_mode", None)
        else:
            m["human_input_mode"] = human
        for key, widget in (("termination_text", "#m-termination"), ("description", "#m-description")):
            value = self.query_one(widget, Input).value.strip()
            if value:
                m[key] = value
            else:
                m.pop(key, None)
        system = self.query_one("#m-system", TextArea).text
        if system.strip():
            m["system_message"] = system
        else:
            m.pop("system_message", None)

    def _store_team(self) -> None:
        self._store_member()
        d = self.data
        d["name"] = self.query_one("#team-name", Input).value.strip()
        d["description"] = self.query_one("#team-description", Input).value.strip()
        chat = dict(d.get("chat", {}))
        selection = self.query_one("#c-selection", Select).value
        chat["speaker_selection"] = None if selection == "none" else selection
        chat["initiator"] = self.query_one("#c-initiator", Input).value.strip() or None
        chat["max_round"] = _int(self.query_one("#c-max-round", Input).value)
        chat["max_turns"] = _int(self.query_one("#c-max-turns", Input).value)
        chat["transitions"] = parse_transitions(self.query_one("#c-transitions", Input).value)
        d["chat"] = {k: v for k, v in chat.items() if v is not None}
        term = dict(d.get("termination", {}))
        term["text"] = self.query_one("#t-text", Input).value.strip() or None
        term["max_messages"] = _int(self.query_one("#t-max-messages", Input).value)
        term["token_budget"] = _int(self.query_one("#t-token-budget", Input).value)
        term["timeout_s"] = _float(self.query_one("#t-timeout", Input).value)
        stall = self.query_one("#t-stall", Checkbox).value
        term["stall"] = None if stall else False
        d["termination"] = {k: v for k, v in term.items() if v is not None}

    # -- events -------------------------------------------------------------------------------

    @on(OptionList.OptionHighlighted, "#members")
    def member_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if self._loading or event.option_index == self.index:
            return
        self._store_member()
        self.index = event.option_index
        self._load_member()

    @on(Input.Changed, "#m-name")
    def member_renamed(self, event: Input.Changed) -> None:
        if self._loading:
            return
        members = self.query_one("#members", OptionList)
        role = self.query_one("#m-role", Select).value
        members.replace_option_prompt_at_index(self.index, Text.assemble((event.value or "?", "bold"), f"  {role}"))

    @on(Button.Pressed, "#add-member")
    def action_add_member(self) -> None:
        self._store_member()
        names = {m.get("name") for m in self.data["members"]}
        n = len(self.data["members"]) + 1
        while f"agent{n}" in names:
            n += 1
        self.data["members"].append({"name": f"agent{n}", "role": "assistant"})
        self.index = len(self.data["members"]) - 1
        self._loading = True
        self._fill_members()
        self._loading = False
        self.query_one("#m-name", Input).focus()

    @on(Button.Pressed, "#remove-member")
    def remove_member(self) -> None:
        if len(self.data["members"]) <= 1:
            self.notify("a team needs at least one member", severity="warning")
            return
        del self.data["members"][self.index]
        self.index = max(0, self.index - 1)
        self._loading = True
        self._fill_members()
        self._loading = False

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        from moot.backends import ConfigError

        self._store_team()
        name = self.data.get("name") or ""
        if not name:
            self.show_problems(["give the team a name"])
            return
        path = self.save_path or self._default_path(name)
        try:
            save_team(self.data, path, self.models)
        except ConfigError as exc:
            self.show_problems(exc.problems)
            return
        except OSError as exc:
            self.show_problems([f"cannot write {path}: {exc}"])
            return
        self.saved_path = path
        self.show_problems([])
        self.notify(f"saved {path}")

    def _default_path(self, name: str) -> Path:
        source = getattr(self, "source", None)
        if source is not None and source.stem == name and user_teams_dir() in source.parents:
            return source
        return user_teams_dir() / f"{name}.toml"

    def show_problems(self, problems: list[str]) -> None:
        box = self.query_one("#editor-problems", Static)
        box.update(Text("\n".join(problems), style="bold red") if problems else "")
        box.set_class(bool(problems), "-shown")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.app.pop_screen()

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [("Save the team", "Validate and write the team file", self.action_save),
                ("Add a member", "A new assistant", self.action_add_member),
                ("Remove the member", "The one selected", self.remove_member)]
