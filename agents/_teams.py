"""Team files: a TOML description of who is in a chat and how it runs.

A team names its members (role, system message, model, tools, code execution), how the next
speaker is chosen, and when the chat ends. ``load_team`` validates a file with precise errors (file,
member, field), like models.toml; ``Team.build()`` turns it into agents and a ready chat.

Where teams are found: a path, else ``NAME.toml`` in ``./teams``, the user config dir's
``teams/``, and the teams shipped with moot.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from moot.backends import ConfigError

from ._agent import ConversableAgent
from ._builtin_tools import BUILTIN_TOOLS
from ._groupchat import GroupChat, GroupChatManager
from ._roles import AssistantAgent, UserProxyAgent, register_function
from .termination import MaxMessages, Stall, TerminationCondition, TextMention, Timeout, TokenBudget

PACKAGED_TEAMS = Path(__file__).resolve().parent.parent / "teams"  # moot/teams in a wheel, ./teams in a checkout
HumanInputMode = Literal["ALWAYS", "TERMINATE", "NEVER"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CodeExecution(_Strict):
    """``[members.code_execution]``: AutoGen's code_execution_config keys."""

    executor: Literal["docker", "local"] | None = None
    work_dir: str | None = None
    timeout: float = Field(default=60, gt=0)
    image: str | None = None
    last_n_messages: int | Literal["auto"] = "auto"
    memory: str | None = None


class TeachabilitySettings(_Strict):
    """``[members.teachability]``: teachable memory for a member (unset keys come from models.toml's
    ``[memory]``); ``teachability = true`` takes them all from there."""

    policy: Literal["auto", "confirm", "off"] | None = None
    k: int | None = Field(default=None, gt=0, le=50)
    distance_threshold: float | None = Field(default=None, gt=0, le=2)
    learn_model: str | None = None
    scope: Literal["agent", "shared"] | None = None


class Member(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    role: Literal["assistant", "user_proxy", "conversable"] = "assistant"
    system_message: str | None = None
    description: str | None = None
    model: str | Literal[False] | None = None  # a models.toml name; false: no model; omitted: the default
    temperature: float | None = Field(default=None, ge=0, le=2)
    tools: list[str] = Field(default_factory=list)
    code_execution: CodeExecution | Literal[False] | None = None
    human_input_mode: HumanInputMode | None = None
    max_consecutive_auto_reply: int | None = Field(default=None, ge=0)
    default_auto_reply: str = ""
    termination_text: str | None = None  # a reply ending with it ends the chat (AutoGen's usual test)
    teachability: bool | TeachabilitySettings = False  # remember what the user teaches (agents.Teachability)


class ChatSettings(_Strict):
    initiator: str | None = None  # who sends the task (default: the first user_proxy, else "user")
    speaker_selection: Literal["auto", "round_robin", "random", "manual"] | None = None  # set: a group chat
    max_round: int = Field(default=12, gt=0)
    max_turns: int | None = Field(default=None, gt=0)  # two-agent chats
    transitions: dict[str, list[str]] | None = None
    transitions_type: Literal["allowed", "disallowed"] = "allowed"
    send_introductions: bool = False
    selector_model: str | None = None
    summary_method: Literal["last_msg", "reflection_with_llm"] = "last_msg"


class TerminationSettings(_Strict):
    max_messages: int | None = Field(default=None, gt=0)
    text: str | None = None
    token_budget: int | None = Field(default=None, gt=0)
    timeout_s: float | None = Field(default=None, gt=0)
    stall: bool = True


class TeamFile(_Strict):
    schema_version: Literal[1]
    name: str | None = None
    description: str = ""
    members: list[Member] = Field(min_length=1)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    termination: TerminationSettings = Field(default_factory=TerminationSettings)


def _where(loc: tuple[Any, ...], raw: dict[str, Any]) -> tuple[str, str | None]:
    if loc and loc[0] == "members" and len(loc) >= 2 and isinstance(loc[1], int):
        members = raw.get("members") if isinstance(raw.get("members"), list) else []
        entry = members[loc[1]] if loc[1] < len(members) and isinstance(members[loc[1]], dict) else {}
        name = entry.get("name")
        where = f"[[members]] entry {loc[1] + 1}" + (f" ({name!r})" if isinstance(name, str) else "")
        return where, ".".join(str(p) for p in loc[2:] if not str(p).startswith(("literal", "str", "bool"))) or None
    if loc and loc[0] in ("chat", "termination"):
        return f"[{loc[0]}]", ".".join(str(p) for p in loc[1:]) or None
    return "top level", ".".join(str(p) for p in loc) or None


def _problems(source: str, exc: ValidationError, raw: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for err in exc.errors():
        where, fld = _where(tuple(err["loc"]), raw)
        if err["type"] == "extra_forbidden":
            line = f"{source}: {where}: unknown field {fld!r}"
        elif err["type"] == "missing":
            line = f"{source}: {where}: field {fld!r} is required"
        else:
            line = f"{source}: {where}: field {fld!r}: {err['msg'].removeprefix('Value error, ')} (got {err.get('input')!r})"
        if line not in out:
            out.append(line)
    return out


def parse_team(text: str, source: str, models: Any = None) -> Team:
    """Validate a team file's text; raise ``ConfigError`` listing every mistake.

    ``models`` (a ``ModelsConfig``) lets the check name models that do not exist.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: not valid TOML: {exc}"]) from None
    try:
        spec = TeamFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_problems(source, exc, raw)) from None
    problems: list[str] = []
    names = [m.name for m in spec.members]
    for i, m in enumerate(spec.members):
        where = f"{source}: [[members]] entry {i + 1} ({m.name!r})"
        if names.index(m.name) != i:
            problems.append(f"{where}: field 'name': duplicate name (also entry {names.index(m.name) + 1})")
        for tool in m.tools:
            if tool not in BUILTIN_TOOLS:
                problems.append(f"{where}: field 'tools': no tool named {tool!r} (tools: {', '.join(BUILTIN_TOOLS)})")
        if models is not None and isinstance(m.model, str) and m.model not in models.models:
            problems.append(f"{where}: field 'model': no model named {m.model!r} in {models.source} (models: {', '.join(models.models)})")
        learn = m.teachability.learn_model if not isinstance(m.teachability, bool) else None
        if models is not None and learn is not None and learn not in models.models:
            problems.append(f"{where}: field 'teachability.learn_model': no model named {learn!r} in {models.source}")
    chat = spec.chat
    known = set(names) | {"user"}
    if chat.initiator is not None and chat.initiator not in known:
        problems.append(f"{source}: [chat]: field 'initiator': no member named {chat.initiator!r}")
    for src, dests in (chat.transitions or {}).items():
        for n in [src, *dests]:
            if n not in known:
                problems.append(f"{source}: [chat]: field 'transitions': no member named {n!r}")
    if chat.transitions and chat.speaker_selection is None:
        problems.append(f"{source}: [chat]: field 'transitions' needs 'speaker_selection' (a group chat)")
    if models is not None and chat.selector_model is not None and chat.selector_model not in models.models:
        problems.append(f"{source}: [chat]: field 'selector_model': no model named {chat.selector_model!r}")
    group = chat.speaker_selection is not None
    if not group and len(spec.members) + (0 if any(m.role == "user_proxy" for m in spec.members) else 1) != 2:
        problems.append(f"{source}: [chat]: a team of {len(spec.members)} members needs 'speaker_selection' "
                        f"(a group chat); without it a team is two agents, or one agent and the user")
    if problems:
        raise ConfigError(problems)
    return Team(spec=spec, source=source, name=spec.name or Path(source).stem)


def team_dirs() -> list[Path]:
    return [Path.cwd() / "teams", Path(platformdirs.user_config_dir("moot")) / "teams", PACKAGED_TEAMS]


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


def load_team(name_or_path: str, models: Any = None) -> Team:
    path = find_team(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return parse_team(text, str(path), models)


@dataclass
class BuiltTeam:
    """A team's agents, ready to run: ``initiator.run_stream(recipient, **chat_kwargs, message=task)``."""

    initiator: ConversableAgent
    recipient: ConversableAgent
    members: dict[str, ConversableAgent]
    chat_kwargs: dict[str, Any]
    groupchat: GroupChat | None = None


@dataclass
class Team:
    spec: TeamFile
    source: str
    name: str

    @property
    def is_group(self) -> bool:
        return self.spec.chat.speaker_selection is not None

    def models_used(self, default: str | None = None) -> list[str]:
        used = {m.model for m in self.spec.members if isinstance(m.model, str)}
        if any(m.model is None and m.role != "user_proxy" for m in self.spec.members) and default:
            used.add(default)
        if self.spec.chat.selector_model:
            used.add(self.spec.chat.selector_model)
        return sorted(used)

    def termination(self) -> TerminationCondition | None:
        t = self.spec.termination
        parts: list[TerminationCondition] = []
        if t.max_messages:
            parts.append(MaxMessages(t.max_messages))
        if t.text:
            parts.append(TextMention(t.text))
        if t.token_budget:
            parts.append(TokenBudget(t.token_budget))
        if t.timeout_s:
            parts.append(Timeout(t.timeout_s))
        if t.stall:
            parts.append(Stall())
        condition = None
        for p in parts:
            condition = p if condition is None else condition | p
        return condition

    def build(self, *, executor: str | None = None, work_dir: str | None = None, human_input_mode: str | None = None) -> BuiltTeam:
        """Create the agents. ``executor``/``work_dir`` override every member's code execution;
        ``human_input_mode`` overrides the user proxy's (e.g. NEVER for a headless run)."""
        agents: dict[str, ConversableAgent] = {}
        for m in self.spec.members:
            agents[m.name] = self._agent(m, executor, work_dir, human_input_mode)
        self._add_teachability(agents)
        # Tools: the member that asks for a tool may call it; the team's user proxy (else the
        # member itself) runs it.
        runner = next((agents[m.name] for m in self.spec.members if m.role == "user_proxy"), None)
        for m in self.spec.members:
            for tool in m.tools:
                register_function(BUILTIN_TOOLS[tool], caller=agents[m.name], executor=runner or agents[m.name])
        chat = self.spec.chat
        proxies = [m.name for m in self.spec.members if m.role == "user_proxy"]
        initiator_name = chat.initiator or (proxies[0] if proxies else "user")
        if initiator_name not in agents:
            agents[initiator_name] = UserProxyAgent(initiator_name, human_input_mode=human_input_mode or "NEVER",
                                                    code_execution_config=False, default_auto_reply="",
                                                    max_consecutive_auto_reply=0 if not self.is_group else None)
        initiator = agents[initiator_name]
        kwargs: dict[str, Any] = {"summary_method": chat.summary_method}
        condition = self.termination()
        if not self.is_group:
            others = [a for n, a in agents.items() if n != initiator_name]
            if chat.max_turns:
                kwargs["max_turns"] = chat.max_turns
            if condition is not None:
                kwargs["termination"] = condition
            return BuiltTeam(initiator, others[0], agents, kwargs)
        members = [a for n, a in agents.items() if n != initiator_name or n in {m.name for m in self.spec.members}]
        transitions = None
        if chat.transitions:
            transitions = {agents[s]: [agents[d] for d in ds] for s, ds in chat.transitions.items()}
        group = GroupChat(
            agents=members, messages=[], max_round=chat.max_round, speaker_selection_method=chat.speaker_selection,
            allowed_or_disallowed_speaker_transitions=transitions,
            speaker_transitions_type=chat.transitions_type if transitions else None,
            send_introductions=chat.send_introductions, termination=condition,
        )
        manager = GroupChatManager(group, llm_config=chat.selector_model or None)
        return BuiltTeam(initiator, manager, agents, kwargs, group)

    def _add_teachability(self, agents: dict[str, ConversableAgent]) -> None:
        teachable = [m for m in self.spec.members if m.teachability]
        if not teachable:
            return
        from ._teachability import Teachability

        store = None  # one memo store for the whole team, opened on first use
        # Learn from what the humans say (user proxies, the initiator), not from the other agents.
        humans = {m.name for m in self.spec.members if m.role == "user_proxy"} | {self.spec.chat.initiator or "user"}
        for m in teachable:
            settings = m.teachability if isinstance(m.teachability, TeachabilitySettings) else TeachabilitySettings()
            t = Teachability.from_config(**settings.model_dump(exclude_none=True), memo_store=store, learn_from=humans)
            store = t.memo_store
            t.add_to_agent(agents[m.name])

    def _agent(self, m: Member, executor: str | None, work_dir: str | None, human_input_mode: str | None) -> ConversableAgent:
        llm: Any
        if m.model is False:
            llm = False
        elif m.model is None:
            llm = False if m.role == "user_proxy" else None
        else:
            llm = m.model
        if llm not in (False, None) and m.temperature is not None:
            llm = {"model": llm, "temperature": m.temperature}
        code: dict[str, Any] | bool = False
        if m.code_execution:
            ce = m.code_execution
            code = {k: v for k, v in {"executor": executor or ce.executor, "work_dir": work_dir or ce.work_dir,
                                      "timeout": ce.timeout, "image": ce.image, "memory": ce.memory,
                                      "last_n_messages": ce.last_n_messages}.items() if v is not None}
        kwargs: dict[str, Any] = {"name": m.name, "description": m.description, "default_auto_reply": m.default_auto_reply,
                                  "code_execution_config": code}
        if m.system_message is not None:
            kwargs["system_message"] = m.system_message
        if m.max_consecutive_auto_reply is not None:
            kwargs["max_consecutive_auto_reply"] = m.max_consecutive_auto_reply
        mode = (human_input_mode if m.role == "user_proxy" and human_input_mode else None) or m.human_input_mode
        if mode:
            kwargs["human_input_mode"] = mode
        if m.termination_text:
            text = m.termination_text
            # Ends with, not contains: a tiny model that writes the word inside its code must not
            # end the chat before the code has run.
            kwargs["is_termination_msg"] = lambda msg, text=text: str(msg.get("content") or "").rstrip().endswith(text)
        if m.role == "user_proxy":
            return UserProxyAgent(llm_config=llm if llm is not None else False, **kwargs)
        if m.role == "assistant":
            return AssistantAgent(llm_config=llm, **kwargs)
        return ConversableAgent(llm_config=llm, **kwargs)
