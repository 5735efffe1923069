"""Team files, read and written in one place: the schema, the reader, the writer, where files live.

A team file (TOML) names the members (role, system message, model, tools, code execution,
teachable memory), how the next speaker is chosen, and when the chat ends. ``read_team`` validates
a file's text with precise errors (file, member, field), like models.toml; ``team_toml`` writes a
team back from the same schema (its keys are the schema's fields, nothing listed by hand), so what
is read is what is written: ``read_team(team_toml(spec)) == spec``. ``save_team`` is what the team
editor calls.

Where teams are found: a path, else ``NAME.toml`` in ``./teams``, the user config dir's
``teams/`` (``moot.paths.user_teams_dir``), and the teams shipped with moot (the ``moot.teams``
package, found through importlib.resources, so a wheel install has them too).
"""

from __future__ import annotations

import copy
import importlib.resources
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from moot.backends import ConfigError
from moot.backends.config import _TYPE_TAG, StrictModel, shown, toml_document, toml_loads, validation_problems
from moot.executors import ExecutorError, parse_memory
from moot.paths import user_teams_dir

from ._builtin_tools import BUILTIN_TOOLS
from ._mcpconfig import McpTable, mcp_ref, read_mcp_json, server_problems, user_mcp_file

HumanInputMode = Literal["ALWAYS", "TERMINATE", "NEVER"]


def _packaged_teams() -> Path:
    root = importlib.resources.files("moot.teams")
    return root if isinstance(root, Path) else Path(str(root))


PACKAGED_TEAMS = _packaged_teams()  # site-packages/moot/teams in a wheel, ./teams in a checkout


class CodeExecution(StrictModel):
    """``[members.code_execution]``: AutoGen's code_execution_config keys."""

    executor: Literal["docker", "sandbox", "local"] | None = None
    work_dir: str | None = None
    timeout: float = Field(default=60, gt=0)
    image: str | None = None
    last_n_messages: int | Literal["auto"] = "auto"
    memory: str | None = None  # a size: "512m", "1g"
    cpus: float | None = Field(default=None, ge=0.01, le=1024)  # Docker: CPUs' worth of time (default 1)
    disk: str | None = None  # Docker: what the work dir may hold, a size (default "512m")
    files: int | None = Field(default=None, ge=16)  # Docker: files and folders in the work dir (default 10000)
    # Environment variables the code may see beyond the basics (PATH, LANG, ...); keys never by default.
    pass_env: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(default_factory=list)

    @field_validator("last_n_messages")
    @classmethod
    def _count(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 1:
            raise ValueError("must be a number of messages (1 or more) or 'auto'")
        return v

    @field_validator("memory", "disk")
    @classmethod
    def _size(cls, v: str | None) -> str | None:
        try:
            parse_memory(v)
        except ExecutorError:
            raise ValueError("must be a size such as '256m' or '1g' (at least 6m)") from None
        return v


class TeachabilitySettings(StrictModel):
    """``[members.teachability]``: teachable memory for a member (unset keys come from models.toml's
    ``[memory]``); ``teachability = true`` takes them all from there."""

    policy: Literal["auto", "confirm", "off"] | None = None
    k: int | None = Field(default=None, gt=0, le=50)
    distance_threshold: float | None = Field(default=None, gt=0, le=2)
    learn_model: str | None = None
    scope: Literal["agent", "shared"] | None = None


class Member(StrictModel):
    """One ``[[members]]`` entry (fields in the order the writer puts them; tables last)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    role: Literal["assistant", "user_proxy", "conversable"] = "assistant"
    description: str | None = None
    model: str | Literal[False] | None = None  # a models.toml name; false: no model; omitted: the default
    temperature: float | None = Field(default=None, ge=0, le=2)
    tools: list[str] = Field(default_factory=list)
    # Whether the model must call a tool: "auto" (it decides), "required" (a call, one or more), "none",
    # or the name of one of its tools (a built-in's; an MCP server's as SERVER__TOOL), which it must call.
    tool_choice: str | None = None
    human_input_mode: HumanInputMode | None = None
    max_consecutive_auto_reply: int | None = Field(default=None, ge=0)
    default_auto_reply: str = ""
    termination_text: str | None = None  # a reply ending with it ends the chat (AutoGen's usual test)
    system_message: str | None = None
    code_execution: CodeExecution | Literal[False] | None = None
    teachability: bool | TeachabilitySettings = False  # remember what the user teaches (agents.Teachability)


class ChatSettings(StrictModel):
    """``[chat]``: who starts, how the next speaker is chosen, how long it goes."""

    initiator: str | None = None  # who sends the task (default: the first user_proxy, else "user")
    speaker_selection: Literal["auto", "round_robin", "random", "manual"] | None = None  # set: a group chat
    max_round: int = Field(default=12, gt=0)
    max_turns: int | None = Field(default=None, gt=0)  # two-agent chats
    transitions: dict[str, list[str]] | None = None
    transitions_type: Literal["allowed", "disallowed"] = "allowed"
    send_introductions: bool = False
    selector_model: str | None = None
    summary_method: Literal["last_msg", "reflection_with_llm"] = "last_msg"


class TerminationSettings(StrictModel):
    """``[termination]``: the conditions that end a chat (any one of them)."""

    max_messages: int | None = Field(default=None, gt=0)
    text: str | None = None
    text_from: list[str] | None = None  # only these members' messages end the chat with `text`
    token_budget: int | None = Field(default=None, gt=0)
    timeout_s: float | None = Field(default=None, gt=0)
    stall: bool = True
    # The no-progress rule: the same speakers in turn this many times with no new code or tool
    # result end the chat (0: off). Unset: 3 in a group chat, off between two agents.
    stall_rounds: int | None = Field(default=None, ge=0)


class ContextSettings(StrictModel):
    """``[context]``: how a conversation that outgrows a model's window is compacted, in order
    (``elide_outputs``, ``sliding_window``, ``summary``: see moot.agents._window)."""

    strategies: list[Literal["elide_outputs", "sliding_window", "summary"]] | None = None


class TeamFile(StrictModel):
    """A whole team file."""

    schema_version: Literal[1]
    name: str | None = None
    description: str = ""
    suggested_task: str | None = None  # a first task this team does well (the app offers it)
    members: list[Member] = Field(min_length=1)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    termination: TerminationSettings = Field(default_factory=TerminationSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)
    mcp: dict[str, McpTable] = Field(default_factory=dict)  # [mcp.NAME]: MCP servers (see _mcpconfig)


# -- reading ------------------------------------------------------------------------------------

def read_team(text: str, source: str, models: Any = None) -> TeamFile:
    """Validate a team file's text; raise ``ConfigError`` listing every mistake.

    ``models`` (a ``ModelsConfig``) lets the check name models that do not exist.
    """
    return validate_team(toml_loads(text, source), source, models)


def validate_team(raw: Mapping[str, Any] | TeamFile, source: str, models: Any = None) -> TeamFile:
    """Validate a team file's data (what ``tomllib`` gives, or a ``TeamFile``): the shape, then the
    checks across fields (names, tools, models, transitions)."""
    if isinstance(raw, TeamFile):
        raw = team_document(raw)
    try:
        spec = TeamFile.model_validate(raw)
    except ValidationError as exc:
        problems = validation_problems(source, exc, raw)
        # Every problem at once: the checks across fields run on the file without its bad values.
        rest = _without_mistakes(raw, exc)
        if rest is not None:
            try:
                validate_team(rest, source, models)
            except ConfigError as more:
                problems += [p for p in more.problems if p not in problems]
        raise ConfigError(problems) from None
    problems = []
    names = [m.name for m in spec.members]
    for i, m in enumerate(spec.members):
        where = f"{source}: [[members]] entry {i + 1} ({shown(m.name)})"
        if names.index(m.name) != i:
            problems.append(f"{where}: field 'name': duplicate name (also entry {names.index(m.name) + 1})")
        for tool in m.tools:
            ref = mcp_ref(tool)
            if ref is not None:
                problems += _mcp_pick_problems(spec, ref, tool, where)
            elif tool not in BUILTIN_TOOLS:
                problems.append(f"{where}: field 'tools': no tool named {shown(tool)} (tools: {', '.join(BUILTIN_TOOLS)}; "
                                f"an MCP server's: SERVER.TOOL or SERVER.*)")
        if m.tool_choice not in (None, "auto", "required", "none") and not (m.tool_choice in m.tools and mcp_ref(m.tool_choice) is None or any(
                m.tool_choice.startswith(f"{ref[0]}__") for ref in map(mcp_ref, m.tools) if ref)):
            problems.append(f"{where}: field 'tool_choice': must be 'auto', 'required', 'none' or one of the member's "
                            f"tools (got {shown(m.tool_choice)}; tools: {', '.join(m.tools) or 'none'})")
        if models is not None and isinstance(m.model, str) and m.model not in models.models:
            problems.append(f"{where}: field 'model': no model named {shown(m.model)} in {models.source} (models: {', '.join(models.models)})")
        learn = m.teachability.learn_model if not isinstance(m.teachability, bool) else None
        if models is not None and learn is not None and learn not in models.models:
            problems.append(f"{where}: field 'teachability.learn_model': no model named {shown(learn)} in {models.source}")
    chat = spec.chat
    known = set(names) | {"user"}
    if chat.initiator is not None and chat.initiator not in known:
        problems.append(f"{source}: [chat]: field 'initiator': no member named {shown(chat.initiator)}")
    for src, dests in (chat.transitions or {}).items():
        for n in [src, *dests]:
            if n not in known:
                problems.append(f"{source}: [chat]: field 'transitions': no member named {shown(n)}")
    for n in spec.termination.text_from or ():
        if n not in known:
            problems.append(f"{source}: [termination]: field 'text_from': no member named {shown(n)}")
    if spec.termination.text_from is not None and spec.termination.text is None:
        problems.append(f"{source}: [termination]: field 'text_from' needs 'text' (the text those members say)")
    if chat.transitions and chat.speaker_selection is None:
        problems.append(f"{source}: [chat]: field 'transitions' needs 'speaker_selection' (a group chat)")
    if models is not None and chat.selector_model is not None and chat.selector_model not in models.models:
        problems.append(f"{source}: [chat]: field 'selector_model': no model named {shown(chat.selector_model)}")
    group = chat.speaker_selection is not None
    if not group and len(spec.members) + (0 if any(m.role == "user_proxy" for m in spec.members) else 1) != 2:
        problems.append(f"{source}: [chat]: a team of {len(spec.members)} members needs 'speaker_selection' "
                        f"(a group chat); without it a team is two agents, or one agent and the user")
    for name, server in spec.mcp.items():
        problems += server_problems(name, server, f"{source}: [mcp.{name}]")
    if problems:
        raise ConfigError(problems)
    return spec


def _without_mistakes(raw: Mapping[str, Any], exc: ValidationError, rounds: int = 5) -> dict[str, Any] | None:
    """The file's data with each value pydantic refused taken out (a required one: its whole
    table; a member: a stand-in, so the others keep their numbers), so the checks across fields
    can still run; None when no valid team is left."""
    data = copy.deepcopy(dict(raw))
    for _ in range(rounds):
        locs = [list(e["loc"]) if e["type"] != "missing" else list(e["loc"])[:-1] for e in exc.errors()]
        for loc in sorted(locs, key=lambda loc: [str(p).zfill(6) for p in loc], reverse=True):
            _drop(data, [p for p in loc if not (isinstance(p, str) and _TYPE_TAG.match(p))])
        try:
            TeamFile.model_validate(data)
            return data
        except ValidationError as again:
            exc = again
    return None


def _drop(data: Any, loc: list[Any]) -> None:
    """Remove the value at ``loc`` (the deepest part of it that exists)."""
    top = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(data, dict) and part in data:
            if last:
                del data[part]
                return
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            if last:
                if data is top.get("members"):
                    data[part] = {"name": f"_entry{part + 1}"}  # a stand-in keeps the others' numbers
                else:
                    del data[part]
                return
            data = data[part]
        else:
            return


def graph_warnings(spec: TeamFile, source: str) -> list[str]:
    """What a group team's transition graph gets wrong, as warnings naming ``source`` (the team
    still loads): a member nobody can reach (never speaks), and members that go round with no
    way on to a terminating agent (the chat can only stop at a limit).

    The graph is the one the chat uses: ``[chat] transitions`` ("allowed": a member missing from
    it may be followed by nobody; "disallowed": everyone else may follow), else everyone may
    follow everyone; a member that asks for a tool may also be followed by the member who runs it.
    The chat starts at the initiator when it is a member, else at any member. A terminating
    agent is one whose message can end the chat as the file says: one nobody may follow (the
    chat ends after it), and, with ``[termination] text``, a member named in ``text_from``, or
    without it, one whose system message asks it to say the text; when no member's does, any
    member may say it and no cycle is reported. Limits (max_round, max_messages, timeout_s, the
    stall rules) always end a chat and are not counted."""
    chat = spec.chat
    if chat.speaker_selection is None:
        return []
    names = [m.name for m in spec.members]
    runner = next((m.name for m in spec.members if m.role == "user_proxy"), None)
    if chat.transitions is None:
        graph = {n: list(names) for n in names}
    elif chat.transitions_type == "allowed":
        graph = {n: [d for d in chat.transitions.get(n, []) if d in names] for n in names}
    else:
        graph = {n: [d for d in names if d not in chat.transitions.get(n, [])] for n in names}
    for m in spec.members:
        if m.tools and (runner or m.name) not in graph[m.name]:
            graph[m.name].append(runner or m.name)
    proxies = [m.name for m in spec.members if m.role == "user_proxy"]
    first = chat.initiator or (proxies[0] if proxies else "user")
    start = [first] if first in names else names
    reach = _reachable(graph, start)
    where = f"{source}: [chat]: field 'transitions'"
    warnings = [f"{where}: nobody can reach {shown(n)} from {shown(first)}, so it never speaks"
                for n in names if n not in reach]
    t = spec.termination
    ends = {n for n in names if not graph[n]}
    if t.text is not None:
        asked = set(t.text_from) if t.text_from is not None else {
            m.name for m in spec.members if m.system_message and t.text in m.system_message}
        if not asked and t.text_from is None:
            return warnings  # anyone may say it
        ends |= asked & set(names)
    elif not ends:
        return warnings  # nothing but limits ends this chat, as the file says
    reverse: dict[str, list[str]] = {n: [] for n in names}
    for n, ds in graph.items():
        for d in ds:
            reverse[d].append(n)
    exits = _reachable(reverse, sorted(ends))
    trapped = [n for n in names if n in reach and n not in exits]
    goal = ", ".join(shown(n) for n in sorted(ends, key=names.index)) or "none"
    after = {n: _reachable(graph, graph[n]) for n in trapped}  # one step or more from n
    done: set[str] = set()
    for n in trapped:
        if n in done or n not in after[n]:  # done, or on the way into a cycle, not on one
            continue
        loop = [m for m in trapped if m in after[n] and n in after[m]]
        done |= set(loop)
        if loop:
            warnings.append(f"{where}: {' -> '.join(loop + loop[:1])} can go round with no way to a "
                            f"terminating agent ({goal}); only a limit ends the chat there")
    return warnings


def _reachable(graph: Mapping[str, list[str]], start: list[str]) -> set[str]:
    seen = set(start)
    todo = list(start)
    while todo:
        for d in graph.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def _mcp_pick_problems(spec: TeamFile, ref: tuple[str, str], tool: str, where: str) -> list[str]:
    """A member's ``SERVER.PATTERN`` pick: the server must be the team's or in the user's mcp.json."""
    server, pattern = ref
    if not pattern:
        return [f"{where}: field 'tools': {shown(tool)} names no tool (SERVER.TOOL or SERVER.*)"]
    if server in spec.mcp:
        return []
    if server in read_mcp_json():  # a broken mcp.json is a ConfigError naming it
        return []
    known = sorted({*spec.mcp, *read_mcp_json()})
    return [f"{where}: field 'tools': {shown(tool)}: no MCP server named {shown(server)} (declare it as "
            f"[mcp.{server}] in the team file or in {user_mcp_file()}; servers: {', '.join(known) or 'none'})"]


# -- writing ------------------------------------------------------------------------------------

def team_document(spec: TeamFile) -> dict[str, Any]:
    """A team's data as its file holds it (what ``tomllib`` would give; defaults left out). The
    team editor edits this dict."""
    return spec.model_dump(exclude_defaults=True)


def team_toml(team: TeamFile | Mapping[str, Any], header: str = "") -> str:
    """The TOML text of a team: every field the schema has and the team sets, nothing else."""
    spec = team if isinstance(team, TeamFile) else TeamFile.model_validate(team)
    return toml_document(team_document(spec), header=header)


def save_team(team: TeamFile | Mapping[str, Any], path: Path, models: Any = None,
              header: str = "Written by moot's team editor.") -> Path:
    """Validate the team (raising ``ConfigError`` with every problem, named after ``path``) and
    write it to ``path`` atomically."""
    spec = validate_team(team, str(path), models)
    text = team_toml(spec, header=header)
    if read_team(text, str(path), models) != spec:  # never write a file that means something else
        raise ConfigError([f"{path}: not saved: the team writer would change this team (a bug in moot; please report it)"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


# -- finding ------------------------------------------------------------------------------------

def team_dirs() -> list[Path]:
    """Where teams are looked for by name, first match wins."""
    return [Path.cwd() / "teams", user_teams_dir(), PACKAGED_TEAMS]


def find_team(name_or_path: str) -> Path:
    """The file of a team given by path or by name."""
    path = Path(name_or_path).expanduser()
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError([f"team file {str(path)!r}: no such file"])
        return path
    for folder in team_dirs():
        candidate = folder / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in team_dirs() if d.is_dir() for p in d.glob("*.toml")})
    raise ConfigError([f"no team named {name_or_path!r} (teams: {', '.join(known) or 'none'}; looked in "
                       f"{', '.join(str(d) for d in team_dirs())})"])


def list_teams() -> list[tuple[str, Path]]:
    """Every team found, by name; a team in an earlier folder hides one of the same name later."""
    found: dict[str, Path] = {}
    for folder in team_dirs():
        if folder.is_dir():
            for p in sorted(folder.glob("*.toml")):
                found.setdefault(p.stem, p)
    return sorted(found.items())


def read_team_file(path: Path, models: Any = None) -> TeamFile:
    """Read and validate the team file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return read_team(text, str(path), models)
