"""The team editor: members (name, role / system message, model from models.toml, tools,
executor), speaker selection and allowed transitions, termination; saved as a team file after the
engine's own validation, by the engine's own writer (``moot.agents.save_team``).

The editor holds the team as the file's data (``team_document``) and writes back only the fields
whose widgets the user changed, so every field it has no widget for (teachability, temperature,
chat options, code execution details) and every value it shows differently is kept as it was.
"""

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

from moot.agents import load_team, save_team, team_document
from moot.agents._builtin_tools import BUILTIN_TOOLS
from moot.backends import ConfigError
from moot.paths import user_teams_dir

ROLES = [("assistant", "assistant"), ("user proxy (runs code, speaks for you)", "user_proxy"), ("conversable", "conversable")]
EXECUTORS = [("no code execution", "none"), ("docker (sandboxed)", "docker"), ("sandbox (bubblewrap, no Docker)", "sandbox"),
             ("local (asks before running)", "local"), ("the default (docker, else the sandbox)", "default")]
HUMAN = [("the role's default", "default"), ("ALWAYS", "ALWAYS"), ("TERMINATE", "TERMINATE"), ("NEVER", "NEVER")]
SELECTION = [("two agents taking turns", "none"), ("auto (a model picks)", "auto"), ("round robin", "round_robin"),
             ("random", "random"), ("manual (you pick)", "manual")]
BUILTIN_TOOLS_HINT = "comma-separated built-in tools"
MODEL_OPTIONS = [("the default model", "__default__"), ("no model", "__none__")]


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


def _float(text: str) -> float | None:
    try:
        return float(text) if text.strip() else None
    except ValueError:
        return None


def parse_transitions(text: str) -> dict[str, list[str]] | None:
    """``"a: b c; b: a"`` -> ``{"a": ["b", "c"], "b": ["a"]}`` (empty text: no transitions)."""
    out: dict[str, list[str]] = {}
    for part in text.replace("\n", ";").split(";"):
        if not part.strip():
            continue
        src, _, dests = part.partition(":")
        out[src.strip()] = [d for d in dests.replace(",", " ").split() if d]
    return out or None


def format_transitions(transitions: dict[str, list[str]] | None) -> str:
    return "; ".join(f"{src}: {' '.join(dests)}" for src, dests in (transitions or {}).items())


def _put(table: dict[str, Any], key: str, value: Any) -> None:
    """Set a key, or drop it when the form says "unset" (None)."""
    if value is None:
        table.pop(key, None)
    else:
        table[key] = value


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
        self._shown: dict[str, Any] = {}  # what each widget was given, to tell what the user changed

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        model_options = self._model_options()
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

    def _model_options(self, extra: list[str] = ()) -> list[tuple[str, str]]:
        options = list(MODEL_OPTIONS)
        if self.models is not None:
            options += [(name, name) for name in self.models.models]
        # A model the team names but this models.toml lacks stays selectable, so it is kept.
        options += [(f"{name} (not in models.toml)", name) for name in extra if (name, name) not in options]
        return options

    def on_mount(self) -> None:
        self.data = {"schema_version": 1, "name": "", "description": "", "members": [
            {"name": "user", "role": "user_proxy", "human_input_mode": "NEVER"},
            {"name": "assistant", "role": "assistant"}], "chat": {}, "termination": {}}
        if self.team_name:
            try:
                team = load_team(self.team_name, self.models)
            except ConfigError as exc:
                # Still open a team that names models this models.toml lacks, to fix it here.
                self.show_problems(exc.problems)
                try:
                    team = load_team(self.team_name)
                except ConfigError:
                    team = None
            if team is not None:
                self.data = team_document(team.spec)
                self.data["name"] = team.spec.name or team.name
                self.source = Path(team.source)
                named = [m["model"] for m in self.data["members"] if isinstance(m.get("model"), str)]
                self.query_one("#m-model", Select).set_options(self._model_options(named))
        self._fill()

    def _show(self, selector: str, value: Any) -> None:
        """Put a value in a widget and remember it: only a value the user changes is stored back."""
        widget = self.query_one(selector)
        if isinstance(widget, TextArea):
            widget.text = value
        else:
            widget.value = value
        self._shown[selector] = self._changed(selector)[1]  # as the widget reports it (TextArea may normalise)

    def _changed(self, selector: str) -> tuple[bool, Any]:
        widget = self.query_one(selector)
        value = widget.text if isinstance(widget, TextArea) else widget.value
        return (selector not in self._shown or value != self._shown[selector]), value

    # -- form <-> data ------------------------------------------------------------------------

    def _fill(self) -> None:
        self._loading = True
        d = self.data
        self._show("#team-name", d.get("name") or "")
        self._show("#team-description", d.get("description") or "")
        chat, term = d.get("chat", {}), d.get("termination", {})
        self._show("#c-selection", chat.get("speaker_selection") or "none")
        self._show("#c-initiator", chat.get("initiator") or "")
        self._show("#c-max-round", str(chat.get("max_round", "") or ""))
        self._show("#c-max-turns", str(chat.get("max_turns", "") or ""))
        self._show("#c-transitions", format_transitions(chat.get("transitions")))
        self._show("#t-text", term.get("text") or "")
        self._show("#t-max-messages", str(term.get("max_messages") or ""))
        self._show("#t-token-budget", str(term.get("token_budget") or ""))
        self._show("#t-timeout", str(term.get("timeout_s") or ""))
        self._show("#t-stall", term.get("stall", True))
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
        self._show("#m-name", m.get("name") or "")
        self._show("#m-role", m.get("role") or "assistant")
        model = m.get("model")
        self._show("#m-model", "__none__" if model is False else (model if isinstance(model, str) else "__default__"))
        self._show("#m-tools", ", ".join(m.get("tools") or []))
        code = m.get("code_execution")
        self._show("#m-executor", "none" if code is None or code is False else (code.get("executor") or "default"))
        self._show("#m-human", m.get("human_input_mode") or "default")
        self._show("#m-termination", m.get("termination_text") or "")
        self._show("#m-description", m.get("description") or "")
        self._show("#m-system", m.get("system_message") or "")
        self._loading = False

    def _store_member(self) -> None:
        """Write back the member fields the user changed (the others stay exactly as loaded)."""
        if not self.data["members"]:
            return
        m = self.data["members"][self.index]
        changed, value = self._changed("#m-name")
        if changed:
            m["name"] = value.strip()
        changed, value = self._changed("#m-role")
        if changed:
            m["role"] = value
        changed, value = self._changed("#m-model")
        if changed:
            _put(m, "model", None if value == "__default__" else False if value == "__none__" else value)
        changed, value = self._changed("#m-tools")
        if changed:
            _put(m, "tools", [t.strip() for t in value.split(",") if t.strip()] or None)
        changed, value = self._changed("#m-executor")
        if changed:
            code = dict(m["code_execution"]) if isinstance(m.get("code_execution"), dict) else {}
            if value == "none":
                m.pop("code_execution", None)
            else:
                _put(code, "executor", None if value == "default" else value)
                m["code_execution"] = code
        changed, value = self._changed("#m-human")
        if changed:
            _put(m, "human_input_mode", None if value == "default" else value)
        for key, selector in (("termination_text", "#m-termination"), ("description", "#m-description")):
            changed, value = self._changed(selector)
            if changed:
                _put(m, key, value.strip() or None)
        changed, value = self._changed("#m-system")
        if changed:
            _put(m, "system_message", value if value.strip() else None)
        self._mark_member_stored()

    def _mark_member_stored(self) -> None:
        """After storing, the widgets' values are what the data says (a second store changes nothing)."""
        for selector in ("#m-name", "#m-role", "#m-model", "#m-tools", "#m-executor", "#m-human",
                         "#m-termination", "#m-description", "#m-system"):
            self._shown[selector] = self._changed(selector)[1]

    def _store_team(self) -> None:
        """Write back the team, chat and termination fields the user changed."""
        self._store_member()
        d = self.data
        for key, selector in (("name", "#team-name"), ("description", "#team-description")):
            changed, value = self._changed(selector)
            if changed:
                d[key] = value.strip()
        chat = d.setdefault("chat", {})
        for key, selector, read in (
            ("speaker_selection", "#c-selection", lambda v: None if v == "none" else v),
            ("initiator", "#c-initiator", lambda v: v.strip() or None),
            ("max_round", "#c-max-round", _int),
            ("max_turns", "#c-max-turns", _int),
            ("transitions", "#c-transitions", parse_transitions),
        ):
            changed, value = self._changed(selector)
            if changed:
                _put(chat, key, read(value))
        term = d.setdefault("termination", {})
        for key, selector, read in (
            ("text", "#t-text", lambda v: v.strip() or None),
            ("max_messages", "#t-max-messages", _int),
            ("token_budget", "#t-token-budget", _int),
            ("timeout_s", "#t-timeout", _float),
            ("stall", "#t-stall", lambda v: None if v else False),
        ):
            changed, value = self._changed(selector)
            if changed:
                _put(term, key, read(value))
        for selector in ("#team-name", "#team-description", "#c-selection", "#c-initiator", "#c-max-round",
                         "#c-max-turns", "#c-transitions", "#t-text", "#t-max-messages", "#t-token-budget",
                         "#t-timeout", "#t-stall"):
            self._shown[selector] = self._changed(selector)[1]

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
