"""Group chats: ``GroupChat`` (who takes part, how the next speaker is chosen, when to stop) and
``GroupChatManager`` (the agent that runs it)."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from moot.backends import BackendError, ChatMessage

from ._agent import Agent, ConversableAgent
from ._context import ChatStop, current_run
from ._loop import ChatLoop
from ._messages import content_str, stored_copy
from ._models import current_registry, resolve_llm
from ._sync import run_sync
from .termination import TerminationCondition

SELECTION_METHODS = ("auto", "round_robin", "random", "manual")

DEFAULT_SELECT_MESSAGE = (
    "You are in a role play game. The following roles are available:\n{roles}.\n"
    "Read the following conversation.\nThen select the next role from {agentlist} to play. Only return the role."
)
DEFAULT_SELECT_PROMPT = (
    "Read the above conversation. Then select the next role from {agentlist} to play. Only return the role."
)
DEFAULT_INTRO = (
    "Hello everyone. We have assembled a great team today to answer questions and solve tasks. "
    "In attendance are:\n\n{roles}"
)


@dataclass
class Selection:
    """The outcome of choosing a speaker (``agent`` None ends the chat)."""

    agent: Agent | None
    candidates: list[Agent]
    method: str
    reason: str = ""
    raw_answer: str | None = None
    fallback: str | None = None


@dataclass
class GroupChat:
    """Who takes part in a group chat and how the next speaker is chosen (AutoGen 0.2 keywords).

    ``speaker_selection_method``: "auto" (a model picks), "round_robin", "random", "manual" (the
    human picks) or a callable ``f(last_speaker, groupchat)`` returning an agent, a method name, or
    None to end the chat. ``allowed_or_disallowed_speaker_transitions`` with
    ``speaker_transitions_type`` ("allowed" / "disallowed") restricts who may follow whom.

    Better than AutoGen 0.2: "auto" cannot return an invalid speaker. Only eligible agents are
    candidates (the transition graph; the agent that owns a pending tool call); a single
    candidate is chosen without a model call; the model's answer is constrained to the
    candidates' names (``choices=``), and when the model still fails the fallback is recorded in
    the ``SpeakerSelected`` event. ``termination`` takes conditions from ``moot.agents.termination``.
    """

    agents: list[Agent]
    messages: list[dict[str, Any]] = field(default_factory=list)
    max_round: int = 10
    admin_name: str = "Admin"
    func_call_filter: bool = True
    speaker_selection_method: str | Callable[..., Any] = "auto"
    max_retries_for_selecting_speaker: int = 2
    allow_repeat_speaker: bool | list[Agent] | None = None
    allowed_or_disallowed_speaker_transitions: dict[Agent, list[Agent]] | None = None
    speaker_transitions_type: str | None = None
    enable_clear_history: bool = False
    send_introductions: bool = False
    select_speaker_message_template: str = DEFAULT_SELECT_MESSAGE
    select_speaker_prompt_template: str = DEFAULT_SELECT_PROMPT
    role_for_select_speaker_messages: str = "system"
    select_speaker_model: Any = None
    termination: TerminationCondition | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.agents:
            raise ValueError("a group chat needs at least one agent")
        names = [a.name for a in self.agents]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"agent names must be unique in a group chat: {', '.join(sorted(dupes))}")
        method = self.speaker_selection_method
        if isinstance(method, str) and method.lower() not in SELECTION_METHODS:
            raise ValueError(f"speaker_selection_method must be one of {', '.join(SELECTION_METHODS)} or a callable, not {method!r}")
        if self.max_round < 1:
            raise ValueError("max_round must be at least 1")
        self._rng = random.Random(self.seed)
        self._index = {id(a): i for i, a in enumerate(self.agents)}
        self._graph: dict[int, list[Agent]] | None = None
        transitions = self.allowed_or_disallowed_speaker_transitions
        if transitions is not None:
            kind = self.speaker_transitions_type
            if kind not in ("allowed", "disallowed"):
                raise ValueError("speaker_transitions_type must be 'allowed' or 'disallowed' when transitions are given")
            for src, dsts in transitions.items():
                for a in [src, *dsts]:
                    if id(a) not in self._index:
                        raise ValueError(f"transition graph names {getattr(a, 'name', a)!r}, who is not in the group chat")
            if kind == "allowed":
                self._graph = {id(a): list(transitions.get(a, [])) for a in self.agents}
            else:
                self._graph = {id(a): [b for b in self.agents if b not in transitions.get(a, [])] for a in self.agents}
        self._initial_messages = list(self.messages)
        self._next_speaker: str | None = None

    def request_next_speaker(self, name: str) -> None:
        """Have ``name`` speak next, whatever the selection method (the TUI's ``/next NAME``);
        honoured once, at the next selection."""
        if self.agent_by_name(name) is None:
            raise ValueError(f"no agent named {name!r} in the group chat (agents: {', '.join(self.agent_names)})")
        self._next_speaker = name

    # -- AutoGen helpers ------------------------------------------------------------------------

    @property
    def agent_names(self) -> list[str]:
        return [a.name for a in self.agents]

    def agent_by_name(self, name: str) -> Agent | None:
        return next((a for a in self.agents if a.name == name), None)

    def reset(self) -> None:
        self.messages.clear()

    def reset_messages(self) -> None:
        self.messages[:] = list(self._initial_messages)

    def append(self, message: dict[str, Any], speaker: Agent) -> None:
        if message.get("role") != "function":
            message["name"] = speaker.name
        self.messages.append(message)

    def next_agent(self, agent: Agent, agents: list[Agent] | None = None) -> Agent:
        """The agent after ``agent`` in order, among ``agents`` (default: all)."""
        pool = agents or self.agents
        start = self._index.get(id(agent), -1)
        n = len(self.agents)
        for step in range(1, n + 1):
            candidate = self.agents[(start + step) % n]
            if candidate in pool:
                return candidate
        return pool[0]

    def _roles(self, agents: list[Agent]) -> str:
        return "\n".join(f"{a.name}: {a.description}".strip() for a in agents)

    def select_speaker_msg(self, agents: list[Agent] | None = None) -> str:
        agents = agents or self.agents
        return self.select_speaker_message_template.format(roles=self._roles(agents), agentlist=[a.name for a in agents])

    def select_speaker_prompt(self, agents: list[Agent] | None = None) -> str:
        agents = agents or self.agents
        return self.select_speaker_prompt_template.format(agentlist=[a.name for a in agents])

    def introductions_msg(self, agents: list[Agent] | None = None) -> str:
        return DEFAULT_INTRO.format(roles=self._roles(agents or self.agents))

    # -- choosing the next speaker --------------------------------------------------------------

    def eligible(self, last_speaker: Agent | None) -> tuple[list[Agent], str]:
        """The agents that may speak next, and why these."""
        last = self.messages[-1] if self.messages else None
        if last is not None and self.func_call_filter and last.get("tool_calls"):
            names = [c.get("function", {}).get("name") for c in last["tool_calls"]]
            owners = [a for a in self.agents
                      if isinstance(a, ConversableAgent) and any(a.can_execute_function(n) for n in names if n)]
            if owners:
                return owners, f"owner of the pending tool call {', '.join(n for n in names if n)}"
        pool = self.agents  # not copied: nothing below changes a pool, it makes a new one
        why = "all agents"
        if self._graph is not None and last_speaker is not None and id(last_speaker) in self._graph:
            pool = list(self._graph[id(last_speaker)])
            why = f"allowed after {last_speaker.name}"
        repeat = self.allow_repeat_speaker
        if repeat is None:
            repeat = True
        if last_speaker is not None and len(pool) > 1:
            if repeat is False or (isinstance(repeat, list) and last_speaker not in repeat):
                pool = [a for a in pool if a is not last_speaker]
        return pool, why

    async def a_select_speaker(self, last_speaker: Agent, selector: GroupChatManager) -> Selection:
        candidates, why = self.eligible(last_speaker)
        if self._next_speaker is not None:
            chosen, self._next_speaker = self.agent_by_name(self._next_speaker), None
            if chosen is not None:
                outside = "" if chosen in candidates else f", outside the eligible speakers ({why})"
                return Selection(chosen, candidates, "manual", f"chosen by the human with /next{outside}")
        method = self.speaker_selection_method
        if callable(method):
            chosen = method(last_speaker, self)
            if hasattr(chosen, "__await__"):
                chosen = await chosen
            if chosen is None:
                return Selection(None, candidates, "callable", "the selection function returned None")
            if isinstance(chosen, str):
                if chosen.lower() not in SELECTION_METHODS:
                    raise ValueError(f"the speaker selection function returned {chosen!r}: not a method name")
                method = chosen
            else:
                if chosen not in self.agents:
                    raise ValueError(f"the speaker selection function returned {chosen!r}, who is not in the group chat")
                return Selection(chosen, candidates, "callable", "chosen by the selection function")
        method = method.lower()
        if not candidates:
            return Selection(None, [], method, f"no agent may speak after {last_speaker.name} ({why})")
        if len(candidates) == 1:
            return Selection(candidates[0], candidates, method, f"the only eligible speaker ({why})")
        if method == "round_robin":
            return Selection(self.next_agent(last_speaker, candidates), candidates, method, f"next in turn ({why})")
        if method == "random":
            return Selection(self._rng.choice(candidates), candidates, method, f"picked at random ({why})")
        if method == "manual":
            return await self._manual(last_speaker, selector, candidates, why)
        return await self._auto(last_speaker, selector, candidates, why)

    async def _manual(self, last_speaker: Agent, selector: GroupChatManager, candidates: list[Agent], why: str) -> Selection:
        listing = "\n".join(f"{i}: {a.name}" for i, a in enumerate(candidates, 1))
        answers = []
        for _ in range(3):
            answer = (await selector._ask_human(
                f"Please select the next speaker from the list:\n{listing}\n"
                f"Enter the number or the name (press enter to let the chat choose): ")).strip()
            answers.append(answer)
            if not answer:
                break
            if answer.isdigit() and 1 <= int(answer) <= len(candidates):
                return Selection(candidates[int(answer) - 1], candidates, "manual", "chosen by the human", answer)
            for a in candidates:
                if a.name.lower() == answer.lower():
                    return Selection(a, candidates, "manual", "chosen by the human", answer)
        if selector._selector_llm(self) is not None:
            picked = await self._auto(last_speaker, selector, candidates, why)
            picked.method = "manual"
            picked.fallback = f"the human gave no valid choice ({answers!r}); the model chose"
            return picked
        return Selection(self.next_agent(last_speaker, candidates), candidates, "manual", f"next in turn ({why})",
                         answers[-1] if answers else None, f"the human gave no valid choice ({answers!r}); next in turn")

    def _selection_view(self, candidates: list[Agent], budget_chars: int) -> list[ChatMessage]:
        # The system message lists every agent, not only the candidates: it stays the same from
        # turn to turn, so a local backend reuses its KV cache for it and for the transcript, and
        # only the final prompt (which names the candidates) is new.
        view = [ChatMessage("system", self.select_speaker_msg(self.agents))]
        body: list[ChatMessage] = []
        used = 0
        # Newest first until the budget is spent: a small local model keeps its context for the
        # end of the conversation, where the next speaker is decided. Plain text, no tool
        # protocol: the selector only needs to read.
        for message in reversed(self.messages):
            text = content_str(message.get("content"))
            for call in message.get("tool_calls") or ():
                fn = call.get("function", {})
                text += f"\n[calls {fn.get('name')}({fn.get('arguments')})]"
            if message.get("role") == "tool":
                text = f"[tool result] {text}"
            line = f"{message.get('name', 'someone')}: {text}"
            used += len(line)
            if used > budget_chars and body:
                break
            body.append(ChatMessage("user", line))
        view.extend(reversed(body))
        view.append(ChatMessage("user" if self.role_for_select_speaker_messages == "user" else "system",
                                self.select_speaker_prompt(candidates)))
        return view

    async def _auto(self, last_speaker: Agent, selector: GroupChatManager, candidates: list[Agent], why: str) -> Selection:
        llm = selector._selector_llm(self)
        names = [a.name for a in candidates]
        fallback_agent = self.next_agent(last_speaker, candidates)
        if llm is None:
            return Selection(fallback_agent, candidates, "auto", f"next in turn ({why})", None,
                             "no model to choose with (the manager has llm_config=False); next in turn")
        context = llm.context_length() or 8192
        view = self._selection_view(candidates, budget_chars=max(2000, context * 2))
        errors = []
        for _ in range(max(1, self.max_retries_for_selecting_speaker)):
            try:
                completion = await selector._stream_model(llm, view, deltas=False, choices=names, temperature=0.0)
            except ChatStop as stop:
                cause = stop.__cause__
                if isinstance(cause, BackendError) and not getattr(cause, "transient", False):
                    errors.append(str(cause))
                    continue
                raise
            raw = completion.content
            chosen = next((a for a in candidates if a.name == raw), None)
            if chosen is not None:
                return Selection(chosen, candidates, "auto", f"chosen by the model among {names}", raw)
            errors.append(f"answered {raw!r}")
        return Selection(fallback_agent, candidates, "auto", f"next in turn ({why})", None,
                         f"the model gave no valid name ({'; '.join(errors)}); next in turn")


class GroupChatManager(ConversableAgent):
    """The agent that runs a ``GroupChat``: start it with ``initiate_chat(manager, message=...)``.

    ``llm_config`` is the model that picks speakers for "auto" (``GroupChat.select_speaker_model``
    overrides it). The chat stops at ``max_round`` messages, when the manager's
    ``is_termination_msg`` matches, when a speaker has no reply, or when the group's
    ``termination`` fires; the stop reason says which.
    """

    def __init__(self, groupchat: GroupChat, name: str | None = "chat_manager",
                 max_consecutive_auto_reply: int | None = sys.maxsize, human_input_mode: str = "NEVER",
                 system_message: str | list[str] | None = "Group chat manager.", silent: bool = False,
                 llm_config: Any = None, **kwargs: Any):
        if llm_config is None:
            needs_model = groupchat.speaker_selection_method in ("auto", "manual") and groupchat.select_speaker_model is None
            llm_config = {} if needs_model else False
        super().__init__(name=name or "chat_manager", max_consecutive_auto_reply=max_consecutive_auto_reply,
                         human_input_mode=human_input_mode, system_message=system_message, llm_config=llm_config,
                         **kwargs)
        self._groupchat = groupchat
        self._silent_groupchat = silent
        self._select_llm = None
        self._select_llm_key: Any = None
        self.register_reply(Agent, GroupChatManager.a_run_chat, config=groupchat, reset_config=GroupChat.reset)

    @property
    def groupchat(self) -> GroupChat:
        return self._groupchat

    def _selector_llm(self, groupchat: GroupChat) -> Any:
        if groupchat.select_speaker_model is None:
            return self.client
        key = (id(current_registry()), repr(groupchat.select_speaker_model))
        if self._select_llm is None or self._select_llm_key != key:
            self._select_llm = resolve_llm(groupchat.select_speaker_model)
            self._select_llm_key = key
        return self._select_llm

    def broadcast(self, message: dict[str, Any], speaker: Agent) -> None:
        """Every member but ``speaker`` hears ``message`` (stored as received; nobody replies)."""
        stored = stored_copy(message, "user", message.get("name") or self.name)
        if stored is None:
            return
        for agent in self._groupchat.agents:
            if agent is not speaker and isinstance(agent, ConversableAgent):
                agent.deliver(message, self, stored=stored)

    async def a_run_chat(self, messages: list[dict[str, Any]] | None = None, sender: Agent | None = None,
                         config: GroupChat | None = None) -> tuple[bool, Any]:
        """Run the group chat from the message ``sender`` sent (the reply step of the manager);
        it ends with a ``NoReply`` saying why (AutoGen's ``(True, None)``, with a reason)."""
        groupchat = config or self._groupchat
        if messages is None:
            messages = self._oai_messages[sender]
        run = current_run()
        assert run is not None, "a group chat runs inside initiate_chat"
        loop = ChatLoop(run, groupchat.termination)
        if groupchat.send_introductions and not groupchat.messages:
            loop.introduce(self, groupchat)
        speaker = sender if sender is not None else groupchat.agents[0]
        stop = await loop.group(self, groupchat, dict(messages[-1]), speaker,
                                silent=run.silent or self._silent_groupchat)
        return True, stop

    def run_chat(self, messages: list[dict[str, Any]] | None = None, sender: Agent | None = None,
                 config: GroupChat | None = None) -> tuple[bool, Any]:
        return run_sync(self.a_run_chat(messages, sender, config))


__all__ = ["GroupChat", "GroupChatManager", "Selection", "stored_copy"]
