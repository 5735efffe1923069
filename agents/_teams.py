"""Teams: a team file's members turned into agents and a ready chat.

The file format (schema, reader, writer, where files are found) lives in ``_teamfile``;
``load_team`` finds and validates a file, ``Team.build()`` creates the agents.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._agent import ConversableAgent
from ._builtin_tools import BUILTIN_TOOLS
from ._groupchat import GroupChat, GroupChatManager
from ._mcp import McpTools
from ._mcpconfig import mcp_ref, team_servers
from ._roles import AssistantAgent, UserProxyAgent, register_function
from ._teachability import Teachability
from ._teamfile import Member, TeachabilitySettings, TeamFile, find_team, graph_warnings, read_team, read_team_file
from .termination import MaxMessages, Stall, TerminationCondition, TextMention, Timeout, TokenBudget


def parse_team(text: str, source: str, models: Any = None) -> Team:
    """Validate a team file's text into a ``Team``; raise ``ConfigError`` listing every mistake.

    ``models`` (a ``ModelsConfig``) lets the check name models that do not exist.
    """
    spec = read_team(text, source, models)
    return Team(spec=spec, source=source, name=spec.name or Path(source).stem, text=text,
                warnings=graph_warnings(spec, source))


def load_team(name_or_path: str, models: Any = None) -> Team:
    """Find a team by name or path (see ``find_team``) and validate it."""
    path = find_team(name_or_path)
    spec = read_team_file(path, models)
    return Team(spec=spec, source=str(path), name=spec.name or path.stem, text=path.read_text(encoding="utf-8"),
                warnings=graph_warnings(spec, str(path)))


@dataclass
class BuiltTeam:
    """A team's agents, ready to run: ``initiator.run_stream(recipient, **chat_kwargs, message=task)``."""

    initiator: ConversableAgent
    recipient: ConversableAgent
    members: dict[str, ConversableAgent]
    chat_kwargs: dict[str, Any]
    groupchat: GroupChat | None = None
    mcp: McpTools | None = None  # the MCP servers members take tools from (started by the session)


@dataclass
class Team:
    spec: TeamFile
    source: str
    name: str
    text: str | None = None  # the file's text as read: a session records it, so it can be rebuilt
    # What the transition graph gets wrong (``graph_warnings``): the team loads, `moot teams` and
    # the app's Home show them.
    warnings: list[str] = field(default_factory=list)

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
            parts.append(TextMention(t.text, t.text_from))
        if t.token_budget:
            parts.append(TokenBudget(t.token_budget))
        if t.timeout_s:
            parts.append(Timeout(t.timeout_s))
        # stall = false turns every stall rule off, but the no-progress rule when stall_rounds is set
        rounds = t.stall_rounds if t.stall_rounds is not None else (3 if self.is_group and t.stall else 0)
        if t.stall:
            parts.append(Stall(rounds=rounds))
        elif rounds:
            parts.append(Stall(max_repeats=sys.maxsize, ping_pong_rounds=0, rounds=rounds))
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
        wanted = []
        for m in self.spec.members:
            for tool in m.tools:
                if mcp_ref(tool) is None:
                    register_function(BUILTIN_TOOLS[tool], caller=agents[m.name], executor=runner or agents[m.name])
            if self.spec.mcp or any(mcp_ref(t) for t in m.tools):
                wanted.append((m.name, agents[m.name], runner or agents[m.name], m.tools))
        mcp = None
        if wanted:  # MCP tools come when the session starts the servers
            servers = team_servers(self.spec.mcp, [t for m in self.spec.members for t in m.tools], self.source)
            mcp = McpTools.for_team(servers, wanted, self.source)
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
            return BuiltTeam(initiator, others[0], agents, kwargs, mcp=mcp)
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
        return BuiltTeam(initiator, manager, agents, kwargs, group, mcp=mcp)

    def _add_teachability(self, agents: dict[str, ConversableAgent]) -> None:
        teachable = [m for m in self.spec.members if m.teachability]
        if not teachable:
            return
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
        if llm is not False and m.tool_choice is not None:  # None: the default model
            llm = {**(llm if isinstance(llm, dict) else {} if llm is None else {"model": llm}), "tool_choice": m.tool_choice}
        code: dict[str, Any] | bool = False
        if m.code_execution:
            ce = m.code_execution
            code = {k: v for k, v in {"executor": executor or ce.executor, "work_dir": work_dir or ce.work_dir,
                                      "timeout": ce.timeout, "image": ce.image, "memory": ce.memory,
                                      "cpus": ce.cpus, "disk": ce.disk, "files": ce.files,
                                      "last_n_messages": ce.last_n_messages,
                                      "pass_env": list(ce.pass_env) or None}.items() if v is not None}
        kwargs: dict[str, Any] = {"name": m.name, "description": m.description, "default_auto_reply": m.default_auto_reply,
                                  "code_execution_config": code}
        if m.system_message is not None:
            kwargs["system_message"] = m.system_message
        if self.spec.context.strategies is not None:
            kwargs["context_strategies"] = self.spec.context.strategies
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
