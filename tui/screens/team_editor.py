"""The team editor: members (name, role / system message, model from models.toml, tools,
executor and its limits, teachable memory), speaker selection and allowed transitions,
termination, the team's MCP servers; saved as a team file after the engine's own validation, by
the engine's own writer (``moot.agents.save_team``).

The editor holds the team as the file's data (``team_document``, or the file's raw tables when it
does not validate, so a broken team opens with its errors to be fixed) and writes back only the
fields whose widgets the user changed, so every field it has no widget for and every value it
shows differently is kept as it was. A team is saved to the file it came from (unless that is a
packaged team, which is copied to the user's teams folder); the title says where, and a save that
another folder would hide says so.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.validation import Function
from textual.widgets import Button, Checkbox, Footer, Input, Label, OptionList, Select, Static, TextArea

from moot.agents import load_team, save_team, team_document
from moot.agents._builtin_tools import BUILTIN_TOOLS
from moot.agents._teamfile import PACKAGED_TEAMS, find_team, team_dirs
from moot.backends import ConfigError
from moot.backends.config import shown, toml_document
from moot.executors import ExecutorError, parse_memory
from moot.paths import user_teams_dir

from ..settings import declare, key_label

ROLES = [("assistant", "assistant"), ("user proxy (runs code, speaks for you)", "user_proxy"), ("conversable", "conversable")]
EXECUTORS = [("no code execution", "none"), ("docker (sandboxed)", "docker"), ("sandbox (bubblewrap, no Docker)", "sandbox"),
             ("local (asks before running)", "local"), ("the default (docker, else the sandbox)", "default")]
HUMAN = [("the role's default", "default"), ("ALWAYS", "ALWAYS"), ("TERMINATE", "TERMINATE"), ("NEVER", "NEVER")]
SELECTION = [("two agents taking turns", "none"), ("auto (a model picks)", "auto"), ("round robin", "round_robin"),
             ("random", "random"), ("manual (you pick)", "manual")]
TEACH = [("off", "off"), ("on (settings from models.toml [memory])", "on"),
         ("on, asks before it remembers (confirm)", "confirm"), ("on, remembers on its own (auto)", "auto")]
BUILTIN_TOOLS_HINT = "comma-separated built-in tools"
MODEL_OPTIONS = [("the default model", "__default__"), ("no model", "__none__")]


def _is_whole(text: str) -> bool:
    return not text.strip() or (text.strip().isdigit() and int(text) > 0)


def _is_positive(text: str) -> bool:
    try:
        return not text.strip() or float(text) > 0
    except ValueError:
        return False


def _is_size(text: str) -> bool:
    try:
        parse_memory(text.strip() or None)
    except ExecutorError:
        return False
    return True


WHOLE = Function(_is_whole, "must be a whole number above 0 (empty: unset)")
POSITIVE = Function(_is_positive, "must be a number above 0 (empty: unset)")
SIZE = Function(_is_size, "must be a size such as '256m' or '1g' (at least 6m; empty: the default)")

# Each checked field: (selector, where it goes in the file, field, validator).
NUMBER_FIELDS = [
    ("#c-max-round", "[chat]", "max_round", WHOLE), ("#c-max-turns", "[chat]", "max_turns", WHOLE),
    ("#t-max-messages", "[termination]", "max_messages", WHOLE), ("#t-token-budget", "[termination]", "token_budget", WHOLE),
    ("#t-timeout", "[termination]", "timeout_s", POSITIVE),
]
MEMBER_NUMBER_FIELDS = [
    ("#m-timeout", "code_execution.timeout", POSITIVE), ("#m-memory", "code_execution.memory", SIZE),
    ("#m-cpus", "code_execution.cpus", POSITIVE),
]


def _int(text: str) -> int | None:
    return int(text) if text.strip() else None


def _float(text: str) -> float | None:
    return float(text) if text.strip() else None


def parse_transitions(text: str) -> dict[str, list[str]] | None:
    """``"a: b c; b: a"`` -> ``{"a": ["b", "c"], "b": ["a"]}`` (empty text: no transitions)."""
    out: dict[str, list[str]] = {}
    for part in text.replace("\n", ";").split(";"):
        if not part.strip():
            continue
        src, _, dests = part.partition(":")
        out[src.strip()] = [d for d in dests.replace(",", " ").split() if d]
    return out or None


def format_transitions(transitions: Any) -> str:
    if not isinstance(transitions, dict):
        return ""
    return "; ".join(f"{src}: {' '.join(map(str, dests)) if isinstance(dests, list) else dests}"
                     for src, dests in transitions.items())


def _put(table: dict[str, Any], key: str, value: Any) -> None:
    """Set a key, or drop it when the form says "unset" (None)."""
    if value is None:
        table.pop(key, None)
    else:
        table[key] = value


def _text(value: Any) -> str:
    """A value as a text field shows it ('' for unset; a wrong type as written, to be fixed)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 20.0 shows as 20
    return "" if value is None or value is False else str(value)


def _pruned(value: Any) -> Any:
    """Data without empty tables and unset values: what tells an edit from none."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {})}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def raw_team(path: Path) -> dict[str, Any] | None:
    """A team file's tables as written (None when it is not TOML): a broken team opens with them."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return None
    members = raw.get("members")
    raw["members"] = [m for m in members if isinstance(m, dict)] if isinstance(members, list) else []
    for key in ("chat", "termination", "mcp"):
        if not isinstance(raw.get(key), dict):
            raw.pop(key, None)
    return raw


def save_target(name: str, source: Path | None) -> Path:
    """Where a team named ``name`` is saved: its own file when it came from one the user can
    edit (``./teams``, the user's teams folder, any path given), a new file in that folder when it
    was renamed; a packaged team (or a new one) goes to the user's teams folder."""
    if source is not None and not (source.parent == PACKAGED_TEAMS and source.parent not in team_dirs()[:2]):
        return source if source.stem == name else source.parent / f"{name}.toml"
    return user_teams_dir() / f"{name}.toml"


class TeamEditorScreen(Screen):
    CSS_PATH = "team_editor.tcss"
    BINDINGS = declare("team editor", [
        Binding("ctrl+s", "save", "Save", id="team_editor.save", priority=True),
        Binding("ctrl+r", "run_now", "Run it now", id="team_editor.run"),
        Binding("ctrl+n", "add_member", "Add member", id="team_editor.add_member"),
        Binding("escape", "close", "Close", id="team_editor.close"),
    ])

    def __init__(self, team_name: str | None, models: Any, save_path: Path | None = None) -> None:
        super().__init__()
        self.team_name = team_name
        self.models = models
        self.save_path = save_path
        self.source: Path | None = None
        self.data: dict[str, Any] = {}
        self._saved: dict[str, Any] = {}  # the data as last loaded or saved: what "unsaved" compares to
        self.index = 0
        self.saved_path: Path | None = None
        self._loading = False
        self._shown: dict[str, Any] = {}  # what each widget was given, to tell what the user changed
        self._invalid: list[str] = []  # fields whose text is not a valid value (never silently dropped)

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
                yield Label("Suggested first task")
                yield Input(id="team-suggested", placeholder="offered in a new chat")
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
                yield Label(f"Tools ({', '.join(BUILTIN_TOOLS)}; MCP: SERVER.TOOL, SERVER.*)")
                yield Input(id="m-tools", placeholder=BUILTIN_TOOLS_HINT)
                yield Label("Code execution")
                yield Select(EXECUTORS, id="m-executor", allow_blank=False, value="none")
                with Horizontal(id="m-limits"):
                    with Vertical():
                        yield Label("Timeout (s)")
                        yield Input(id="m-timeout", placeholder="60", validators=[POSITIVE])
                    with Vertical():
                        yield Label("Memory")
                        yield Input(id="m-memory", placeholder="512m", validators=[SIZE])
                    with Vertical():
                        yield Label("CPUs (Docker)")
                        yield Input(id="m-cpus", placeholder="1", validators=[POSITIVE])
                yield Label("Human input")
                yield Select(HUMAN, id="m-human", allow_blank=False, value="default")
                yield Label("Teachable memory (remembers what you teach it)")
                yield Select(TEACH, id="m-teach", allow_blank=False, value="off")
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
                yield Input(id="c-max-round", placeholder="12", validators=[WHOLE])
                yield Label("Max turns (two agents)")
                yield Input(id="c-max-turns", validators=[WHOLE])
                yield Label("Allowed transitions (a: b c; b: a)")
                yield Input(id="c-transitions")
                yield Label("Stop when a message contains")
                yield Input(id="t-text", placeholder="TERMINATE")
                yield Label("Max messages")
                yield Input(id="t-max-messages", validators=[WHOLE])
                yield Label("Token budget")
                yield Input(id="t-token-budget", validators=[WHOLE])
                yield Label("Time limit (s)")
                yield Input(id="t-timeout", validators=[POSITIVE])
                yield Checkbox("Stop on a stall (loops, repeats)", value=True, id="t-stall")
                yield Label("MCP servers ([mcp.NAME] tables, as in the team file)")
                yield TextArea(id="c-mcp", language="toml", soft_wrap=True)
        with VerticalScroll(id="editor-problems-box"):
            yield Static("", id="editor-problems")
        with Horizontal(id="editor-actions"):
            yield Button(f"Save ({key_label('team_editor.save')})", id="save", variant="success")
            yield Button(f"Run it now ({key_label('team_editor.run')})", id="run-now", variant="primary", disabled=True)
            yield Button(f"Close ({key_label('team_editor.close')})", id="close")
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
            self._open(self.team_name)
        self._fill()
        self._saved = copy.deepcopy(self.data)
        self._show_title()

    def _open(self, name: str) -> None:
        """Load the team; a broken one opens as its file is written, with every problem shown."""
        try:
            self.source = find_team(name)
        except ConfigError as exc:
            self.show_problems(exc.problems)
            return
        try:
            team = load_team(str(self.source), self.models)
        except ConfigError as exc:
            self.show_problems(exc.problems)
            raw = raw_team(self.source)
            if raw is None:
                return  # not TOML: the problems say where; saving writes a new file over it
            self.data = {"schema_version": 1, **raw}
            self.data.setdefault("name", self.source.stem)
        else:
            self.data = team_document(team.spec)
            self.data["name"] = team.spec.name or team.name
        named = [m["model"] for m in self.data["members"] if isinstance(m.get("model"), str)]
        self.query_one("#m-model", Select).set_options(self._model_options(named))

    def _target(self) -> Path:
        return self.save_path or save_target(self.query_one("#team-name", Input).value.strip() or "team", self.source)

    def _show_title(self) -> None:
        name = self.query_one("#team-name", Input).value.strip() or "a new team"
        title = Text.assemble(("Team editor", "bold"), " · ", (name, "bold"))
        if self.source is not None:
            title.append(f" · from {self.source}", "dim")
        target = self._target()
        if target == self.source:
            title.append(" · Save writes back to it", "dim")
        else:
            title.append(" · Save writes ", "dim")
            title.append(str(target))
        self.query_one("#editor-title", Static).update(title)

    def _show(self, selector: str, value: Any) -> None:
        """Put a value in a widget and remember it: only a value the user changes is stored back."""
        widget = self.query_one(selector)
        if isinstance(widget, TextArea):
            widget.text = value
        elif isinstance(widget, Select):
            options = {v for _label, v in widget._options}
            if value not in options:  # a value the file has but the form does not offer: kept, shown as written
                widget.set_options([*((str(p), v) for p, v in widget._options if v is not Select.BLANK),
                                    (f"{value} (as written)", value)])
            widget.value = value
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
        self._show("#team-name", _text(d.get("name")))
        self._show("#team-description", _text(d.get("description")))
        self._show("#team-suggested", _text(d.get("suggested_task")))
        chat, term = d.get("chat", {}), d.get("termination", {})
        self._show("#c-selection", chat.get("speaker_selection") or "none")
        self._show("#c-initiator", _text(chat.get("initiator")))
        self._show("#c-max-round", _text(chat.get("max_round")))
        self._show("#c-max-turns", _text(chat.get("max_turns")))
        self._show("#c-transitions", format_transitions(chat.get("transitions")))
        self._show("#t-text", _text(term.get("text")))
        self._show("#t-max-messages", _text(term.get("max_messages")))
        self._show("#t-token-budget", _text(term.get("token_budget")))
        self._show("#t-timeout", _text(term.get("timeout_s")))
        self._show("#t-stall", term.get("stall", True) is not False)
        mcp = d.get("mcp")
        self._show("#c-mcp", toml_document({"mcp": mcp}).removeprefix("\n") if mcp else "")
        self._fill_members()
        self._loading = False

    def _fill_members(self) -> None:
        members = self.query_one("#members", OptionList)
        members.clear_options()
        for m in self.data["members"]:
            members.add_option(Text.assemble((_text(m.get("name")) or "?", "bold"), f"  {m.get('role', 'assistant')}"))
        self.index = max(0, min(self.index, len(self.data["members"]) - 1))
        members.highlighted = self.index if self.data["members"] else None
        self._load_member()

    def _load_member(self) -> None:
        if not self.data["members"]:
            return
        self._loading = True
        m = self.data["members"][self.index]
        self._show("#m-name", _text(m.get("name")))
        self._show("#m-role", m.get("role") or "assistant")
        model = m.get("model")
        self._show("#m-model", "__none__" if model is False else (model if isinstance(model, str) else "__default__"))
        tools = m.get("tools")
        self._show("#m-tools", ", ".join(map(str, tools)) if isinstance(tools, list) else _text(tools))
        code = m.get("code_execution")
        code = code if isinstance(code, dict) else {}
        self._show("#m-executor", "none" if not isinstance(m.get("code_execution"), dict) else (code.get("executor") or "default"))
        self._show("#m-timeout", _text(code.get("timeout")))
        self._show("#m-memory", _text(code.get("memory")))
        self._show("#m-cpus", _text(code.get("cpus")))
        self._show("#m-human", m.get("human_input_mode") or "default")
        teach = m.get("teachability", False)
        self._show("#m-teach", "off" if not teach else (teach.get("policy") or "on") if isinstance(teach, dict) else "on")
        self._show("#m-termination", _text(m.get("termination_text")))
        self._show("#m-description", _text(m.get("description")))
        self._show("#m-system", _text(m.get("system_message")))
        self._loading = False

    def _number(self, selector: str, where: str, field: str, read: Any) -> tuple[bool, Any]:
        """A number field: (changed, value); an invalid text is recorded as a problem, not dropped."""
        changed, text = self._changed(selector)
        widget = self.query_one(selector, Input)
        result = widget.validate(text)
        if result is not None and not result.is_valid:
            self._invalid.append(f"{self._target()}: {where}: field {field!r}: {text!r} "
                                 f"{result.failure_descriptions[0]}")
            return False, None
        return changed, read(text)

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
        where = f"[[members]] entry {self.index + 1} ({shown(m.get('name'))})"
        for selector, field, validator in MEMBER_NUMBER_FIELDS:
            read = (lambda v: v.strip() or None) if validator is SIZE else _float
            changed, value = self._number(selector, where, field, read)
            if changed and isinstance(m.get("code_execution"), dict):
                code = dict(m["code_execution"])
                _put(code, field.split(".")[1], value)
                m["code_execution"] = code
            elif changed and value is not None:
                self._invalid.append(f"{self._target()}: {where}: field {field!r}: set 'Code execution' first "
                                     f"(this member runs no code)")
        changed, value = self._changed("#m-human")
        if changed:
            _put(m, "human_input_mode", None if value == "default" else value)
        changed, value = self._changed("#m-teach")
        if changed:
            teach = m.get("teachability")
            if value == "off":
                m.pop("teachability", None)
            elif isinstance(teach, dict):  # keep its other settings (k, scope, ...)
                _put(teach, "policy", None if value == "on" else value)
                m["teachability"] = teach or True
            else:
                m["teachability"] = True if value == "on" else {"policy": value}
        for key, selector in (("termination_text", "#m-termination"), ("description", "#m-description")):
            changed, value = self._changed(selector)
            if changed:
                _put(m, key, value.strip() or None)
        changed, value = self._changed("#m-system")
        if changed:
            _put(m, "system_message", value if value.strip() else None)
        self._mark_member_stored()

    def _mark_member_stored(self) -> None:
        """After storing, the widgets' values are what the data says (a second store changes nothing);
        an invalid field stays as typed and unstored, so it is reported again."""
        invalid = {s for s, _f, v in MEMBER_NUMBER_FIELDS if not self._valid(s)}
        for selector in ("#m-name", "#m-role", "#m-model", "#m-tools", "#m-executor", "#m-timeout", "#m-memory",
                         "#m-cpus", "#m-human", "#m-teach", "#m-termination", "#m-description", "#m-system"):
            if selector not in invalid:
                self._shown[selector] = self._changed(selector)[1]

    def _valid(self, selector: str) -> bool:
        result = self.query_one(selector, Input).validate(self.query_one(selector, Input).value)
        return result is None or result.is_valid

    def _store_team(self) -> None:
        """Write back the team, chat and termination fields the user changed."""
        self._invalid = []
        self._store_member()
        d = self.data
        for key, selector in (("name", "#team-name"), ("description", "#team-description")):
            changed, value = self._changed(selector)
            if changed:
                d[key] = value.strip()
        changed, value = self._changed("#team-suggested")
        if changed:
            _put(d, "suggested_task", value.strip() or None)
        chat = d.setdefault("chat", {})
        term = d.setdefault("termination", {})
        for key, selector, read in (
            ("speaker_selection", "#c-selection", lambda v: None if v == "none" else v),
            ("initiator", "#c-initiator", lambda v: v.strip() or None),
            ("transitions", "#c-transitions", parse_transitions),
        ):
            changed, value = self._changed(selector)
            if changed:
                _put(chat, key, read(value))
        for selector, where, field, validator in NUMBER_FIELDS:
            changed, value = self._number(selector, where, field, _int if validator is WHOLE else _float)
            if changed:
                _put(chat if where == "[chat]" else term, field, value)
        for key, selector, read in (
            ("text", "#t-text", lambda v: v.strip() or None),
            ("stall", "#t-stall", lambda v: None if v else False),
        ):
            changed, value = self._changed(selector)
            if changed:
                _put(term, key, read(value))
        changed, value = self._changed("#c-mcp")
        mcp_ok = True
        if changed:
            try:
                raw = tomllib.loads(value)
            except tomllib.TOMLDecodeError as exc:
                self._invalid.append(f"MCP servers: not valid TOML: {exc}")
                mcp_ok = False
            else:
                extra = [k for k in raw if k != "mcp"]
                if extra or not isinstance(raw.get("mcp", {}), dict):
                    self._invalid.append(f"MCP servers: only [mcp.NAME] tables go here (found {', '.join(map(repr, extra))})")
                    mcp_ok = False
                else:
                    _put(d, "mcp", raw.get("mcp") or None)
        invalid = {s for s, *_rest in NUMBER_FIELDS if not self._valid(s)} | (set() if mcp_ok else {"#c-mcp"})
        for selector in ("#team-name", "#team-description", "#team-suggested", "#c-selection", "#c-initiator", "#c-max-round",
                         "#c-max-turns", "#c-transitions", "#t-text", "#t-max-messages", "#t-token-budget",
                         "#t-timeout", "#t-stall", "#c-mcp"):
            if selector not in invalid:
                self._shown[selector] = self._changed(selector)[1]

    @property
    def unsaved(self) -> bool:
        """Whether the form holds changes not saved yet (an invalid field counts)."""
        self._store_team()
        # An invalid value the user typed counts; a broken file's own invalid values are not edits.
        typed = [sel for sel, *_rest in NUMBER_FIELDS] + [sel for sel, *_rest in MEMBER_NUMBER_FIELDS]
        edited_invalid = any(self._changed(sel)[0] and not self._valid(sel) for sel in typed)
        return edited_invalid or self._changed("#c-mcp")[0] or _pruned(self.data) != _pruned(self._saved)

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

    @on(Input.Changed, "#team-name")
    def team_renamed(self) -> None:
        self._show_title()

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
    def action_save(self) -> bool:
        self._store_team()
        if self._invalid:
            self.show_problems(["not saved: fix these fields first", *self._invalid])
            return False
        name = self.data.get("name") or ""
        if not name:
            self.show_problems(["give the team a name"])
            return False
        path = self._target()
        try:
            save_team(self.data, path, self.models)
        except ConfigError as exc:
            self.show_problems(exc.problems)
            return False
        except OSError as exc:
            self.show_problems([f"cannot write {path}: {exc}"])
            return False
        self.saved_path = path
        self.source = path
        self._saved = copy.deepcopy(self.data)
        self.query_one("#run-now", Button).disabled = False
        self._show_title()
        try:
            found = find_team(name)
        except ConfigError:
            found = path
        if found.resolve() != path.resolve():
            self.show_problems([f"saved {path}, but the team {name!r} is found first in {found}, which wins: "
                                f"rename one of them, or run this one by its path"])
        else:
            self.show_problems([])
        self.notify(f"saved {path} · {key_label('team_editor.run')} runs it now", markup=False)
        return True

    def show_problems(self, problems: list[str]) -> None:
        self.query_one("#editor-problems", Static).update(Text("\n".join(problems), style="bold red") if problems else "")
        self.query_one("#editor-problems-box").set_class(bool(problems), "-shown")

    @on(Button.Pressed, "#run-now")
    def action_run_now(self) -> None:
        """Open a chat with the saved team (save first when there are changes)."""
        if (self.saved_path is None or self.unsaved) and not self.action_save():
            return
        path = str(self.saved_path)
        self.app.pop_screen()
        self.app.open_team(path)

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        if not self.unsaved:
            self.app.pop_screen()
            return
        from .dialogs import ConfirmScreen

        def answer(discard: bool | None) -> None:
            if discard:
                self.app.pop_screen()

        name = self.data.get("name") or "the new team"
        self.app.push_screen(ConfirmScreen(f"Discard the unsaved changes to {name}? (No: back to the editor, "
                                           f"where {key_label('team_editor.save')} saves them)"), answer)

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        return [("Save the team", "Validate and write the team file", self.action_save),
                ("Run the team now", "Save, then open a chat with it", self.action_run_now),
                ("Add a member", "A new assistant", self.action_add_member),
                ("Remove the member", "The one selected", self.remove_member)]
