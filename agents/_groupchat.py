"""Group chats: ``GroupChat`` (who takes part, how the next speaker is chosen, when to stop) and
``GroupChatManager`` (the agent that runs it)."""

from __future__ import annotations

import copy
import json
import logging
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from types import MethodType
from typing import Any

from moot.backends import BackendError, ChatMessage

from . import _agent
from ._agent import Agent, ConversableAgent
from ._context import ChatRun, ChatStop, current_run, enter_run, leave_run
from ._errors import AgentNameConflict, NoEligibleSpeaker, UndefinedNextAgent
from ._loop import ChatLoop
from ._messages import content_str, stored_copy
from ._models import current_registry, resolve_llm
from ._sync import run_sync
from .termination import TerminationCondition

logger = logging.getLogger(__name__)

SELECTION_METHODS = ("auto", "round_robin", "random", "manual")
_METHOD_LIST = ["auto", "manual", "random", "round_robin"]  # as AutoGen lists them in its errors

DEFAULT_SELECT_MESSAGE = (
    "You are in a role play game. The following roles are available:\n{roles}.\n"
    "Read the following conversation.\nThen select the next role from {agentlist} to play. Only return the role."
)
DEFAULT_SELECT_PROMPT = (
    "Read the above conversation. Then select the next role from {agentlist} to play. Only return the role."
)
DEFAULT_MULTIPLE_NAMES = (
    "Your answer named more than one speaker. Give only the name of the one who speaks next: the one the "
    "conversation asks for, else the first one it mentions. Names are case-sensitive; write the name exactly, "
    "with no reason."
)
DEFAULT_NO_NAME = (
    "Your answer named no speaker. Give only the name of the one who speaks next, exactly as written in "
    "{agentlist}, with no reason."
)
DEFAULT_INTRO = (
    "Hello everyone. We have assembled a great team today to answer questions and solve tasks. "
    "In attendance are:\n\n{roles}"
)
_ALL = "all agents"
_NEXT_OF_ALL = f"next in turn ({_ALL})"  # the reason of most round-robin turns, made once
SELECTED, FAILED = "[AGENT SELECTED]", "[AGENT SELECTION FAILED]"  # AutoGen's markers in its selection chat


@dataclass(slots=True)
class Selection:
    """The outcome of choosing a speaker (``agent`` None ends the chat)."""

    agent: Agent | None
    candidates: list[Agent]
    method: str
    reason: str = ""
    raw_answer: str | None = None
    fallback: str | None = None


def _required(value: Any, name: str) -> None:
    if value is None or len(value) == 0:
        raise ValueError(f"{name} cannot be empty or None.")


@dataclass
class GroupChat:
    """Who takes part in a group chat and how the next speaker is chosen (AutoGen 0.2 keywords,
    in AutoGen's order; moot's ``select_speaker_model``, ``termination`` and ``seed`` follow).

    ``speaker_selection_method``: "auto" (a model picks), "round_robin", "random", "manual" (the
    human picks) or a callable ``f(last_speaker, groupchat)`` returning an agent, a method name, or
    None to end the chat; a wrong name raises AutoGen's ``ValueError`` when a speaker is selected.
    ``allowed_or_disallowed_speaker_transitions`` with ``speaker_transitions_type`` ("allowed" /
    "disallowed") restricts who may follow whom (``allowed_speaker_transitions_dict`` holds the
    result, as in AutoGen). Names need not be unique: ``agent_by_name`` gives the first one, or
    raises ``AgentNameConflict`` with ``raise_on_name_conflict=True``; ``recursive=True`` looks
    into nested teams (a ``GroupChatManager`` among the agents).

    "auto" asks a model, ``1 + max_retries_for_selecting_speaker`` times at most; an answer that
    names none of the candidates is asked again with ``select_speaker_auto_none_template`` added.
    ``select_speaker_auto_llm_config`` (or moot's ``select_speaker_model``) is the model instead of
    the manager's; ``select_speaker_transform_messages`` (a ``TransformMessages``) changes the
    messages the selector reads. ``_mentioned_agents`` / ``_validate_speaker_name`` /
    ``_process_speaker_selection_result`` are AutoGen's helpers (names also written with spaces or
    ``\\_`` for underscores), for scripts that call them.

    Better than AutoGen 0.2 (constrained speaker selection): "auto" cannot return an invalid
    speaker. Only eligible agents are candidates (the transition graph; the agent that owns a
    pending tool or function call); a single candidate is chosen without a model call; the
    model's answer is constrained to the candidates' names (``choices=``: an answer naming several
    gives the first one named, where AutoGen asks again with ``select_speaker_auto_multiple_template``),
    and when it still fails, the next in turn speaks (as in AutoGen) and the fallback is recorded
    in the ``SpeakerSelected`` event.
    "manual" also takes a name, and with no valid answer lets the model choose (else the next in
    turn). A group of one agent lets it speak (AutoGen refuses fewer than two; none is an error
    here too); an agent whose allowed list is empty ends the chat, as one missing from the dict
    does. ``allow_repeat_speaker`` may be given with a transition graph (AutoGen refuses both): it
    then also applies. ``termination`` takes conditions from ``moot.agents.termination``.
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
    select_speaker_prompt_template: str | None = DEFAULT_SELECT_PROMPT
    select_speaker_auto_multiple_template: str = DEFAULT_MULTIPLE_NAMES
    select_speaker_auto_none_template: str = DEFAULT_NO_NAME
    select_speaker_transform_messages: Any = None
    select_speaker_auto_verbose: bool = False
    select_speaker_auto_model_client_cls: Any = None
    select_speaker_auto_llm_config: Any = None
    role_for_select_speaker_messages: str = "system"
    select_speaker_model: Any = None
    termination: TerminationCondition | None = None
    seed: int | None = None
    allowed_speaker_transitions_dict: dict[Agent, list[Agent]] = field(init=False, repr=False)

    DEFAULT_INTRO_MSG = DEFAULT_INTRO.split("\n\n")[0]

    def __post_init__(self) -> None:
        repeat = self.allow_repeat_speaker
        if repeat is not None and not isinstance(repeat, (bool, list)):
            raise ValueError("GroupChat allow_repeat_speaker should be a bool or a list of Agents.")
        kind = self.speaker_transitions_type
        if kind is not None:
            kind = self.speaker_transitions_type = kind.lower()
        if kind not in ("allowed", "disallowed", None):
            raise ValueError(f"GroupChat speaker_transitions_type is set to '{kind}'. It should be one of "
                             f"['allowed', 'disallowed', None] (case insensitive). ")
        transitions = self.allowed_or_disallowed_speaker_transitions
        if transitions is None and repeat is None:
            repeat = self.allow_repeat_speaker = True
        if transitions is not None and kind is None:
            raise ValueError("GroupChat allowed_or_disallowed_speaker_transitions is not None, but "
                             "speaker_transitions_type is None. Please set speaker_transitions_type to either "
                             "'allowed' or 'disallowed'.")
        self._rng = random.Random(self.seed)
        self._index: dict[int, int] = {}
        self._reindex()
        if transitions is None:
            self.allowed_speaker_transitions_dict = {
                a: [b for b in self.agents if b is not a or repeat is True or (isinstance(repeat, list) and a in repeat)]
                for a in self.agents}
        else:
            if not isinstance(transitions, dict) or not all(isinstance(v, list) for v in transitions.values()):
                raise ValueError("allowed_or_disallowed_speaker_transitions must be a dict of agent -> list of agents")
            for src, dsts in transitions.items():
                for a in [src, *dsts]:
                    if id(a) not in self._index:
                        raise ValueError(f"transition graph names {getattr(a, 'name', a)!r}, who is not in the group chat")
            if kind == "allowed":
                self.allowed_speaker_transitions_dict = transitions
            else:
                self.allowed_speaker_transitions_dict = {
                    a: [b for b in self.agents if b not in transitions.get(a, [])] for a in self.agents}
        # The default (everyone may follow everyone) needs no lookup per turn.
        self._graph = self.allowed_speaker_transitions_dict if transitions is not None else None
        _required(self.select_speaker_message_template, "select_speaker_message_template")
        if self.select_speaker_prompt_template is not None and len(self.select_speaker_prompt_template) == 0:
            self.select_speaker_prompt_template = None
        _required(self.role_for_select_speaker_messages, "role_for_select_speaker_messages")
        _required(self.select_speaker_auto_multiple_template, "select_speaker_auto_multiple_template")
        _required(self.select_speaker_auto_none_template, "select_speaker_auto_none_template")
        retries = self.max_retries_for_selecting_speaker
        if not isinstance(retries, int) or isinstance(retries, bool):
            raise ValueError("max_retries_for_selecting_speaker cannot be None or non-int")
        if retries < 0:
            raise ValueError("max_retries_for_selecting_speaker must be greater than or equal to zero")
        transforms = self.select_speaker_transform_messages
        if transforms is not None and not (hasattr(transforms, "transform_messages") and hasattr(transforms, "add_to_agent")):
            raise ValueError("select_speaker_transform_messages must be None or MessageTransforms.")
        self._speaker_selection_transforms = transforms
        if not isinstance(self.select_speaker_auto_verbose, bool):
            raise ValueError("select_speaker_auto_verbose cannot be None or non-bool")
        if self.max_round < 1:
            raise ValueError("max_round must be at least 1")
        self._initial_messages = list(self.messages)
        self._next_speaker: str | None = None
        self._select_llm: Any = None
        self._select_llm_key: Any = None

    def _reindex(self) -> None:
        self._index = {id(a): i for i, a in enumerate(self.agents)}

    def _position(self, agent: Any) -> int | None:
        """Where ``agent`` (this very object) is in ``agents``, also after the list was changed."""
        i = self._index.get(id(agent))
        if i is not None:
            try:
                if self.agents[i] is agent:
                    return i
            except IndexError:
                pass
        self._reindex()
        return self._index.get(id(agent))

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

    def agent_by_name(self, name: str, recursive: bool = False, raise_on_name_conflict: bool = False) -> Agent | None:
        """The agent called ``name`` (the first one), or None; ``recursive``: also the members of
        nested teams; ``raise_on_name_conflict``: ``AgentNameConflict`` when several have it."""
        pool = self.nested_agents() if recursive else self.agents
        found = [a for a in pool if a.name == name]
        if raise_on_name_conflict and len(found) > 1:
            raise AgentNameConflict()
        return found[0] if found else None

    def nested_agents(self) -> list[Agent]:
        """Every agent of the group and, after each team manager, the agents of its team."""
        out: list[Agent] = []
        seen = {id(self)}
        stack = [iter(self.agents)]
        while stack:
            agent = next(stack[-1], None)
            if agent is None:
                stack.pop()
                continue
            out.append(agent)
            inner = agent.groupchat if isinstance(agent, GroupChatManager) else None
            if inner is not None and id(inner) not in seen:
                seen.add(id(inner))
                stack.append(iter(inner.agents))
        return out

    def reset(self) -> None:
        self.messages.clear()

    def reset_messages(self) -> None:
        self.messages[:] = list(self._initial_messages)

    def append(self, message: dict[str, Any], speaker: Agent) -> None:
        if message.get("role") != "function":
            message["name"] = speaker.name
        self.messages.append(message)

    def next_agent(self, agent: Agent, agents: list[Agent] | None = None) -> Agent:
        """The agent after ``agent`` in the group's order, among ``agents`` (default: all);
        ``UndefinedNextAgent`` when ``agents`` holds one who is not in the group, or none."""
        everyone = self.agents
        pool = everyone if agents is None else agents
        if pool is not everyone and any(self._position(a) is None for a in pool):
            raise UndefinedNextAgent()
        n = len(everyone)
        start = self._index.get(id(agent))
        if start is None or start >= n or everyone[start] is not agent:
            start = self._position(agent)
            if start is None:  # not one of the group: where an agent of that name is (AutoGen finds it by name)
                start = next((i for i, a in enumerate(everyone) if a.name == agent.name), -1)
        if pool is everyone and n:
            return everyone[(start + 1) % n]
        for step in range(1, n + 1):
            candidate = everyone[(start + step) % n]
            if candidate in pool:
                return candidate
        raise UndefinedNextAgent()

    def _roles(self, agents: list[Agent]) -> str:
        return "\n".join(f"{a.name}: {a.description}".strip() for a in agents)

    def select_speaker_msg(self, agents: list[Agent] | None = None) -> str:
        """The selector's system message (the first of what it reads)."""
        agents = self.agents if agents is None else agents
        return self.select_speaker_message_template.format(roles=self._roles(agents), agentlist=[a.name for a in agents])

    def select_speaker_prompt(self, agents: list[Agent] | None = None) -> str | None:
        """The selector's last message, naming the candidates; None without a prompt template."""
        if self.select_speaker_prompt_template is None:
            return None
        agents = self.agents if agents is None else agents
        return self.select_speaker_prompt_template.format(agentlist=[a.name for a in agents])

    def introductions_msg(self, agents: list[Agent] | None = None) -> str:
        return DEFAULT_INTRO.format(roles=self._roles(self.agents if agents is None else agents))

    def _mentioned_agents(self, message_content: str | list[Any] | dict[str, Any], agents: list[Agent] | None) -> dict[str, int]:
        """How often each agent is named in ``message_content``: whole words, case-sensitive; a
        name's underscores may also be written as spaces or as ``\\_``."""
        if isinstance(message_content, dict):
            message_content = message_content.get("content")
        text = f" {content_str(message_content)} "
        counts: dict[str, int] = {}
        for agent in self.agents if agents is None else agents:
            name = agent.name
            forms = dict.fromkeys([name, name.replace("_", " "), name.replace("_", "\\_")])
            found = len(re.findall(r"(?<=\W)(?:" + "|".join(map(re.escape, forms)) + r")(?=\W)", text))
            if found:
                counts[name] = found
        return counts

    def _validate_speaker_name(self, recipient: Any, messages: list[dict[str, Any]], sender: Any, config: Any,
                               attempts_left: int, attempt: int, agents: list[Agent]) -> tuple[bool, dict[str, Any] | None]:
        """AutoGen's check of one selector answer (``messages[-1]``): one agent named, or no
        attempts left, appends the outcome marker and gives ``(True, None)``; otherwise
        ``(True, message)`` asks again with the template for several names or for none."""
        mentions = self._mentioned_agents(content_str(messages[-1].get("content")).strip(), agents)
        if len(mentions) == 1:
            name = next(iter(mentions))
            messages.append({"role": "user", "content": f"{SELECTED}{name}"})
            if self.select_speaker_auto_verbose:
                print(f">>>>>>>> Select speaker attempt {attempt} of {attempt + attempts_left} "
                      f"successfully selected: {name}", flush=True)
            return True, None
        several = len(mentions) > 1
        if self.select_speaker_auto_verbose:
            print(f">>>>>>>> Select speaker attempt {attempt} of {attempt + attempts_left} failed as it "
                  f"{'included multiple agent names' if several else 'did not include any agent names'}.", flush=True)
        if attempts_left:
            template = self.select_speaker_auto_multiple_template if several else self.select_speaker_auto_none_template
            return True, {"content": template.format(agentlist=f"{[a.name for a in agents]}"), "name": "checking_agent",
                          "override_role": self.role_for_select_speaker_messages}
        why = "returned multiple names" if several else "did not include any agent names"
        messages.append({"role": "user",
                         "content": f"{FAILED}Select speaker attempt #{attempt} of {attempt + attempts_left} failed as it {why}."})
        return True, None

    def _process_speaker_selection_result(self, result: Any, last_speaker: Agent, agents: list[Agent] | None) -> Agent | None:
        """The speaker a selection chat's result names (its last message), else the next in turn."""
        if not result.chat_history:
            return None
        final = content_str(result.chat_history[-1].get("content"))
        if SELECTED in final:
            return self.agent_by_name(final.replace(SELECTED, ""))
        return self.next_agent(last_speaker, agents)

    # -- choosing the next speaker --------------------------------------------------------------

    def _call_owners(self, last: dict[str, Any]) -> list[Agent]:
        """Who may answer the pending function/tool calls of ``last``: the agents that run them
        all, else every agent that runs functions; AutoGen's ``ValueError`` when none does."""
        names = [last["function_call"].get("name")] if last.get("function_call") else []
        names += [c.get("function", {}).get("name") for c in last.get("tool_calls") or ()
                  if c.get("type", "function") == "function"]
        owners = [a for a in self.agents if getattr(a, "can_execute_function", None) and a.can_execute_function(names)]
        if not owners:
            owners = [a for a in self.agents if getattr(a, "function_map", None)]
            if not owners:
                raise ValueError(f"No agent can execute the function {', '.join(map(str, names))}. "
                                 "Please check the function_map of the agents.")
        return owners

    def eligible(self, last_speaker: Agent | None) -> tuple[list[Agent], str]:
        """The agents that may speak next, and why these."""
        last = self.messages[-1] if self.messages else None
        if last is not None and self.func_call_filter and (last.get("tool_calls") or last.get("function_call")):
            owners = self._call_owners(last)
            calls = [last["function_call"]] if last.get("function_call") else [c.get("function", {}) for c in last["tool_calls"]]
            return owners, f"owner of the pending tool call {', '.join(str(c.get('name')) for c in calls)}"
        pool = self.agents  # not copied: nothing below changes a pool, it makes a new one
        why = _ALL
        graph = self._graph
        if graph is not None and last_speaker is not None and self._position(last_speaker) is not None:
            allowed = graph.get(last_speaker, ())
            pool = [a for a in pool if a in allowed]
            why = f"allowed after {last_speaker.name}"
        repeat = self.allow_repeat_speaker
        if last_speaker is not None and len(pool) > 1 and repeat is not True and repeat is not None:
            if repeat is False or last_speaker not in repeat:
                pool = [a for a in pool if a is not last_speaker]
        return pool, why

    def select_speaker(self, last_speaker: Agent, selector: ConversableAgent) -> Agent:
        """The next speaker (AutoGen's sync form); ``NoEligibleSpeaker`` when none may speak."""
        chosen = run_sync(self.a_select_speaker(last_speaker, selector)).agent
        if chosen is None:
            raise NoEligibleSpeaker()
        return chosen

    def select_now(self, last_speaker: Agent) -> Selection | None:
        """The choice ``a_select_speaker`` makes when it needs nothing awaited (a /next pick,
        round robin, random, a single candidate), made at once; ``None`` when it must ask (a
        selection function, the human, the model) or a subclass chooses in its own way. The chat
        loop asks this first: a round-robin turn makes no coroutine to pick its speaker."""
        if type(self).a_select_speaker is not GroupChat.a_select_speaker:
            return None
        if self._next_speaker is not None:
            picked = self._human_pick(last_speaker)
            if picked is not None:
                return picked
        method = self.speaker_selection_method
        return None if callable(method) else self._select_by(method, last_speaker)

    def _human_pick(self, last_speaker: Agent) -> Selection | None:
        """The speaker the human named with /next (once), else ``None``."""
        candidates, why = self.eligible(last_speaker)
        chosen, self._next_speaker = self.agent_by_name(self._next_speaker), None
        if chosen is None:
            return None
        outside = "" if chosen in candidates else f", outside the eligible speakers ({why})"
        return Selection(chosen, candidates, "manual", f"chosen by the human with /next{outside}")

    def _select_by(self, method: str, last_speaker: Agent) -> Selection | None:
        """The choice a method name makes without asking anyone; ``None`` for "manual" and
        "auto" with several candidates (``a_select_speaker`` asks the human or the model)."""
        lowered = method.lower()
        if lowered not in SELECTION_METHODS:
            raise ValueError(f"GroupChat speaker_selection_method is set to '{method}'. "
                             f"It should be one of {_METHOD_LIST} (case insensitive). ")
        if not self.agents:
            raise ValueError("GroupChat is underpopulated with 0 agents. "
                             "Please add more agents to the GroupChat or use direct communication instead.")
        candidates, why = self.eligible(last_speaker)
        if not candidates:
            return Selection(None, [], lowered, f"no agent may speak after {last_speaker.name} ({why})")
        if len(candidates) == 1:
            return Selection(candidates[0], candidates, lowered, f"the only eligible speaker ({why})")
        if lowered == "round_robin":
            return Selection(self.next_agent(last_speaker, candidates), candidates, lowered,
                             _NEXT_OF_ALL if why == _ALL else f"next in turn ({why})")
        if lowered == "random":
            return Selection(self._rng.choice(candidates), candidates, lowered, f"picked at random ({why})")
        return None

    async def a_select_speaker(self, last_speaker: Agent, selector: ConversableAgent) -> Selection:
        """Who speaks after ``last_speaker``, as a ``Selection`` (the agent, the candidates, why;
        AutoGen's form returns the agent: ``selection.agent``). ``selector`` is the manager."""
        if self._next_speaker is not None:
            picked = self._human_pick(last_speaker)
            if picked is not None:
                return picked
        method = self.speaker_selection_method
        if callable(method):
            chosen = method(last_speaker, self)
            if hasattr(chosen, "__await__"):
                chosen = await chosen
            if chosen is None:
                return Selection(None, self.agents, "callable", "the selection function returned None")
            if isinstance(chosen, Agent):
                if self._position(chosen) is None:
                    raise ValueError(f"Custom speaker selection function returned an agent {chosen.name} not in the group chat.")
                return Selection(chosen, self.agents, "callable", "chosen by the selection function")
            if not isinstance(chosen, str):
                raise ValueError(f"Custom speaker selection function returned an object of type {type(chosen)} "
                                 "instead of Agent or str.")
            method = chosen
        picked = self._select_by(method, last_speaker)
        if picked is not None:
            return picked
        candidates, why = self.eligible(last_speaker)
        if method.lower() == "manual":
            return await self._manual(last_speaker, selector, candidates, why)
        return await self._auto(last_speaker, selector, candidates, why)

    @staticmethod
    def _manual_prompt(agents: list[Agent], invalid: str | None) -> str:
        listing = "\n".join(f"{i}: {a.name}" for i, a in enumerate(agents, 1))
        again = f"Invalid input ({invalid!r}). Please enter a number between 1 and {len(agents)}.\n" if invalid is not None else ""
        return (f"{again}Please select the next speaker from the following list:\n{listing}\n"
                "Enter the number or the name of the next speaker (enter nothing or `q` to use auto selection): ")

    @staticmethod
    def _manual_pick(answer: str, agents: list[Agent]) -> Agent | None:
        if answer.isdigit() and 1 <= int(answer) <= len(agents):
            return agents[int(answer) - 1]
        return next((a for a in agents if a.name.lower() == answer.lower()), None)

    def manual_select_speaker(self, agents: list[Agent] | None = None) -> Agent | None:
        """Ask on the console who speaks next (a number or a name; two tries); None when the
        human gives no valid choice."""
        agents = self.agents if agents is None else agents
        invalid = None
        for _ in range(2):
            answer = input(self._manual_prompt(agents, invalid)).strip()
            if answer in ("", "q"):
                return None
            chosen = self._manual_pick(answer, agents)
            if chosen is not None:
                return chosen
            invalid = answer
        return None

    async def _manual(self, last_speaker: Agent, selector: ConversableAgent, candidates: list[Agent], why: str) -> Selection:
        answers: list[str] = []
        for _ in range(2):  # as AutoGen: two tries, then the chat chooses
            answer = (await selector._ask_human(self._manual_prompt(candidates, answers[-1] if answers else None))).strip()
            answers.append(answer)
            if answer in ("", "q"):
                break
            chosen = self._manual_pick(answer, candidates)
            if chosen is not None:
                return Selection(chosen, candidates, "manual", "chosen by the human", answer)
        if self._selection_llm(selector) is not None:
            picked = await self._auto(last_speaker, selector, candidates, why)
            picked.method = "manual"
            picked.fallback = f"the human gave no valid choice ({answers!r}); the model chose"
            return picked
        return Selection(self.next_agent(last_speaker, candidates), candidates, "manual", f"next in turn ({why})",
                         answers[-1] if answers else None, f"the human gave no valid choice ({answers!r}); next in turn")

    def _selection_llm(self, selector: Any) -> Any:
        """The model that picks speakers: ``select_speaker_model`` or ``select_speaker_auto_llm_config``,
        else the manager's."""
        given = self.select_speaker_model if self.select_speaker_model is not None else (self.select_speaker_auto_llm_config or None)
        if given is None:
            return getattr(selector, "client", None)
        key = (id(current_registry()), repr(given))
        if self._select_llm is None or self._select_llm_key != key:
            self._select_llm = resolve_llm(given)
            self._select_llm_key = key
        return self._select_llm

    def _selection_view(self, candidates: list[Agent], budget_chars: int) -> list[ChatMessage]:
        # The system message lists every agent, not only the candidates: it stays the same from
        # turn to turn, so a local backend reuses its KV cache for it and for the transcript, and
        # only the final prompt (which names the candidates) is new.
        view = [ChatMessage("system", self.select_speaker_msg(self.agents))]
        body: list[ChatMessage] = []
        used = 0
        messages = self.messages
        if self._speaker_selection_transforms is not None:
            messages = self._speaker_selection_transforms.transform_messages(list(messages))
        # Newest first until the budget is spent: a small local model keeps its context for the
        # end of the conversation, where the next speaker is decided. Plain text, no tool
        # protocol: the selector only needs to read.
        for message in reversed(messages):
            text = content_str(message.get("content"))
            calls = list(message.get("tool_calls") or ())
            if message.get("function_call"):
                calls.append({"function": message["function_call"]})
            for call in calls:
                fn = call.get("function", {})
                text += f"\n[calls {fn.get('name')}({fn.get('arguments')})]"
            if message.get("role") in ("tool", "function"):
                text = f"[tool result] {text}"
            line = f"{message.get('name', 'someone')}: {text}"
            used += len(line)
            if used > budget_chars and body:
                break
            body.append(ChatMessage("user", line))
        view.extend(reversed(body))
        prompt = self.select_speaker_prompt(candidates)
        if prompt is not None:
            view.append(ChatMessage(self._prompt_role(), prompt))
        return view

    def _prompt_role(self) -> str:
        return "user" if self.role_for_select_speaker_messages == "user" else "system"

    async def _auto(self, last_speaker: Agent, selector: ConversableAgent, candidates: list[Agent], why: str) -> Selection:
        llm = self._selection_llm(selector)
        names = [a.name for a in candidates]
        fallback_agent = self.next_agent(last_speaker, candidates)
        if llm is None:
            return Selection(fallback_agent, candidates, "auto", f"next in turn ({why})", None,
                             "no model to choose with (the manager has llm_config=False); next in turn")
        context = llm.context_length() or 8192
        view = self._selection_view(candidates, budget_chars=max(2000, context * 2))
        errors = []
        attempts = 1 + self.max_retries_for_selecting_speaker
        retry = ChatMessage(self._prompt_role(), self.select_speaker_auto_none_template.format(agentlist=f"{names}"))
        for attempt in range(1, attempts + 1):
            try:
                completion = await selector._stream_model(llm, view, deltas=False, choices=names, temperature=0.0)
            except ChatStop as stop:
                cause = stop.__cause__
                if not isinstance(cause, BackendError) or getattr(cause, "transient", False):
                    raise
                errors.append(str(cause))  # the answer named none of the candidates: ask again, saying so
                if attempt == 1:
                    view = [*view, retry]
                continue
            raw = completion.content
            chosen = next((a for a in candidates if a.name == raw), None)
            if self.select_speaker_auto_verbose:
                print(f">>>>>>>> Select speaker attempt {attempt} of {attempts}: {raw!r}", flush=True)
            if chosen is not None:
                return Selection(chosen, candidates, "auto", f"chosen by the model among {names}", raw)
            errors.append(f"answered {raw!r}")
        return Selection(fallback_agent, candidates, "auto", f"next in turn ({why})", None,
                         f"the model gave no valid name ({'; '.join(errors)}); next in turn")


def _broadcast(manager: Any, groupchat: GroupChat, message: dict[str, Any], speaker: Agent | None, *,
               stored: bool = False) -> None:
    """``GroupChatManager.broadcast`` for any agent running a group (``stored`` as there)."""
    received = message if stored else stored_copy(message, "user", message.get("name") or manager.name)
    if received is None:
        return
    for agent in groupchat.agents:
        if agent is not speaker:
            if isinstance(agent, ConversableAgent):
                agent.deliver(message, manager, stored=received)
            elif hasattr(agent, "receive"):  # an agent of the user's own: AutoGen's receive, no reply asked
                agent.receive(dict(received), manager, False, True)


def clear_agents_history(reply: dict[str, Any], groupchat: GroupChat) -> str:
    """Act on a "clear history [AGENT] [N]" phrase in ``reply`` (AutoGen's experimental
    ``enable_clear_history``): forget the history of every agent, or of AGENT, but the last N
    messages (one, the tool call, when the reply answers tool calls), the group's too when every
    agent's is cleared; returns the reply's text without the phrase."""
    words = content_str(reply.get("content")).split()
    at = max(i for i, w in enumerate(words) if w.upper() == "CLEAR")
    keep: int | None = None
    keep_given = False
    target: Agent | None = None
    for word in words[at + 2:at + 4]:
        bare = word if word.isdigit() else word[:-1]
        if bare.isdigit():
            keep, keep_given = int(bare), True
            continue
        target = next((a for a in groupchat.agents if a.name in (word, word[:-1])), target)
    if "tool_responses" in reply and not keep:
        keep = 1  # the tool call stays, so its response is never left alone
        logger.warning("The last tool call message will be saved to prevent errors caused by tool response without tool call.")
    if target is not None:
        print(f"Clearing history for {target.name}" + (f" except last {keep} messages." if keep else "."))
        target.clear_history(nr_messages_to_preserve=keep)
    else:
        print("Clearing history for all agents" + (f" except last {keep} messages." if keep else "."))
        groupchat.messages[:] = groupchat.messages[-keep:] if keep else []
        for agent in groupchat.agents:
            agent.clear_history(nr_messages_to_preserve=keep)
    skip = 2 + (target is not None) + keep_given
    return " ".join(words[:at] + words[at + skip:])


async def _receive_with_clear(manager: Any, message: Any, sender: Any, request_reply: bool | None = None,
                              silent: bool | None = False) -> None:
    """The manager's ``a_receive`` while ``enable_clear_history`` is on: a group member's reply
    that says "clear history" has it done, and goes on without the phrase."""
    groupchat = getattr(manager, "_clearing", None)
    content = message.get("content") if isinstance(message, dict) else message
    if (groupchat is not None and isinstance(content, str) and "CLEAR HISTORY" in content.upper()
            and groupchat._position(sender) is not None):
        message = dict(message) if isinstance(message, dict) else {"content": message}
        mine = sender.chat_messages.get(manager) if isinstance(sender, ConversableAgent) else None
        own = mine[-1] if mine else None  # what the speaker stored as sent
        message["content"] = clear_agents_history(message, groupchat)
        if own is not None:
            own["content"] = message["content"]
            if not mine or mine[-1] is not own:
                mine.append(own)
    await ConversableAgent.a_receive(manager, message, sender, request_reply, silent)


class GroupChatManager(ConversableAgent):
    """The agent that runs a ``GroupChat``: start it with ``initiate_chat(manager, message=...)``.

    ``llm_config`` is the model that picks speakers for "auto" (``GroupChat.select_speaker_model``
    overrides it; a manager makes no tool calls, so ``functions``/``tools`` in it are refused). The
    chat stops at ``max_round`` messages, when the manager's ``is_termination_msg`` matches, when a
    speaker has no reply, or when the group's ``termination`` fires; the stop reason says which.
    ``resume(messages)`` loads a saved group chat (``messages_to_string`` / ``messages_from_string``)
    so that it goes on with ``last_agent.initiate_chat(manager, message=last_message, clear_history=False)``.
    """

    def __init__(self, groupchat: GroupChat, name: str | None = "chat_manager",
                 max_consecutive_auto_reply: int | None = sys.maxsize, human_input_mode: str = "NEVER",
                 system_message: str | list[str] | None = "Group chat manager.", silent: bool = False,
                 llm_config: Any = None, **kwargs: Any):
        if isinstance(llm_config, dict) and (llm_config.get("functions") or llm_config.get("tools")):
            raise ValueError("GroupChatManager is not allowed to make function/tool calls. Please remove the "
                             "'functions' or 'tools' config in 'llm_config' you passed in.")
        if llm_config is None:
            method = groupchat.speaker_selection_method
            needs_model = (isinstance(method, str) and method.lower() in ("auto", "manual")
                           and groupchat.select_speaker_model is None
                           and not groupchat.select_speaker_auto_llm_config)
            llm_config = {} if needs_model else False
        super().__init__(name=name or "chat_manager", max_consecutive_auto_reply=max_consecutive_auto_reply,
                         human_input_mode=human_input_mode, system_message=system_message, llm_config=llm_config,
                         **kwargs)
        self._groupchat = groupchat
        self._silent_groupchat = silent
        self._last_speaker: Agent | None = None
        self.register_reply(Agent, GroupChatManager.a_run_chat, config=groupchat, reset_config=GroupChat.reset)

    @property
    def groupchat(self) -> GroupChat:
        return self._groupchat

    @property
    def last_speaker(self) -> Agent | None:
        """Who said the message the group heard last (the manager relays every message)."""
        return self._last_speaker

    def chat_messages_for_summary(self, agent: Agent) -> list[dict[str, Any]]:
        """The group's messages (whoever ``agent`` is): what a summary of the chat reads."""
        return self._groupchat.messages

    def prepare_members(self, initiator: Agent, clear_history: bool) -> None:
        """A new chat with this manager: each member (but the initiator, whom the chat prepares)
        starts its auto-reply count with the manager again, and with ``clear_history`` forgets
        what it heard from it, as AutoGen prepares them."""
        for agent in self._groupchat.agents:
            if agent is not initiator and isinstance(agent, ConversableAgent):
                agent.reset_consecutive_auto_reply_counter(self)
                if clear_history:
                    agent.clear_history(self)

    def broadcast(self, message: dict[str, Any], speaker: Agent, *, stored: bool = False) -> None:
        """Every member but ``speaker`` hears ``message`` (stored as received; nobody replies).
        ``stored``: ``message`` is already in the form a member stores (a copy of what the
        manager stored as it heard the speaker: the chat loop's), so each member copies it as it is."""
        self._last_speaker = speaker
        received = message if stored else stored_copy(message, "user", message.get("name") or self.name)
        if received is None:
            return
        for agent in self._groupchat.agents:  # as _broadcast, inline: this runs for every message
            if agent is not speaker:
                if isinstance(agent, ConversableAgent):
                    agent.deliver(message, self, stored=received)
                elif hasattr(agent, "receive"):
                    agent.receive(dict(received), self, False, True)

    def _raise_exception_on_async_reply_functions(self) -> None:
        super()._raise_exception_on_async_reply_functions()
        for agent in self._groupchat.agents:
            check = getattr(agent, "_raise_exception_on_async_reply_functions", None)
            if check is not None:
                check()

    async def a_run_chat(self, messages: list[dict[str, Any]] | None = None, sender: Agent | None = None,
                         config: GroupChat | None = None) -> tuple[bool, Any]:
        """Run the group chat from the message ``sender`` sent (the reply step of the manager, or
        of any ``ConversableAgent`` that registers it with ``config=groupchat``); it ends with a
        ``NoReply`` saying why (AutoGen's ``(True, None)``, with a reason)."""
        groupchat = config if config is not None else self._groupchat
        if messages is None:
            messages = self._oai_messages[sender]
        if not isinstance(self, GroupChatManager):
            self.broadcast = partial(_broadcast, self, groupchat)  # the loop relays through it
        if groupchat.enable_clear_history and "a_receive" not in vars(self):
            self.a_receive = MethodType(_receive_with_clear, self)
        run = current_run()
        token = None
        if run is None:  # called on its own, outside a chat
            run = ChatRun(None)
            token = enter_run(run)
        self._clearing = groupchat if groupchat.enable_clear_history else None
        try:
            loop = ChatLoop(run, groupchat.termination)
            if groupchat.send_introductions and not groupchat.messages:
                loop.introduce(self, groupchat)
            speaker = sender if sender is not None else groupchat.agents[0]
            stop = await loop.group(self, groupchat, dict(messages[-1]), speaker,
                                    silent=run.silent or getattr(self, "_silent_groupchat", False))
        finally:
            self._clearing = None
            if token is not None:
                leave_run(token)
        return True, stop

    def run_chat(self, messages: list[dict[str, Any]] | None = None, sender: Agent | None = None,
                 config: GroupChat | None = None) -> tuple[bool, Any]:
        return run_sync(GroupChatManager.a_run_chat(self, messages, sender, config))

    def clear_agents_history(self, reply: dict[str, Any], groupchat: GroupChat) -> str:
        return clear_agents_history(reply, groupchat)

    # -- resuming a saved group chat ------------------------------------------------------------

    def messages_to_string(self, messages: list[dict[str, Any]]) -> str:
        """The messages as a JSON string, to save and resume from later."""
        return json.dumps(messages)

    def messages_from_string(self, message_string: str) -> list[dict[str, Any]]:
        """The messages a ``messages_to_string`` string holds."""
        try:
            return json.loads(message_string)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Messages string is not a valid JSON string ({exc})") from None

    def _valid_resume_messages(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            raise ValueError("Cannot resume group chat as no messages were provided. Use GroupChatManager.run_chat "
                             "or ConversableAgent.initiate_chat to start a new chat.")
        for message in messages:
            name = message.get("name")
            if name and name not in (self._groupchat.admin_name, self.name) and self._groupchat.agent_by_name(name) is None:
                raise ValueError(f"Agent name in message doesn't exist as agent in group chat: {name}")

    def _process_resume_termination(self, remove_termination_string: str | Callable[[str], str] | None,
                                    messages: list[dict[str, Any]]) -> None:
        """Take the termination text out of the last message (a string to remove, or a function
        of the content); warn when the message would still end the chat."""
        last = messages[-1]
        if isinstance(remove_termination_string, str):
            text = remove_termination_string
            remove_termination_string = lambda content: content.replace(text, "")  # noqa: E731
        if remove_termination_string and last.get("content"):
            last["content"] = remove_termination_string(last["content"])
        if self._is_termination_msg and self._is_termination_msg(last):
            logger.warning("WARNING: Last message meets termination criteria and this may terminate the chat.")

    def resume(self, messages: list[dict[str, Any]] | str,
               remove_termination_string: str | Callable[[str], str] | None = None,
               silent: bool | None = False) -> tuple[Agent, dict[str, Any]]:
        """Load a saved group chat (a list of message dicts or its JSON string) into the group,
        its agents and this manager, all cleared first; returns the last speaker and the last
        message, to go on with ``agent.initiate_chat(manager, message=msg, clear_history=False)``."""
        if isinstance(messages, str):
            messages = self.messages_from_string(messages)
        else:
            messages = copy.deepcopy(messages)
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise TypeError(f"Messages is not of type str or List[Dict]: {type(messages).__name__}")
        self._valid_resume_messages(messages)  # before anything is cleared
        group = self._groupchat
        for agent in group.agents:
            if isinstance(agent, ConversableAgent):
                agent.clear_history()
        self.clear_history()
        group.reset()
        last_name = self.name
        for i, message in enumerate(messages):
            if "name" not in message:  # a ChatResult's history: the manager relayed it
                message["name"] = self.name
            last_name = message["name"]
            speaker = group.agent_by_name(last_name) or (self if last_name == self.name else None)
            if i == len(messages) - 1:
                break
            _broadcast(self, group, message, None)  # every agent hears it, as the manager relayed it
            if speaker is not None:
                group.append(message, speaker)
            else:  # the admin's message: its name stays
                group.messages.append(message)
        last_agent = group.agent_by_name(last_name)
        if last_agent is None and last_name in (group.admin_name, self.name):
            last_agent = self
        self._process_resume_termination(remove_termination_string, messages)
        if not silent:
            print(f"Prepared group chat with {len(messages)} messages, the last speaker is {last_name}", flush=True)
        group.send_introductions = False
        return last_agent, messages[-1]

    async def a_resume(self, messages: list[dict[str, Any]] | str,
                       remove_termination_string: str | Callable[[str], str] | None = None,
                       silent: bool | None = False) -> tuple[Agent, dict[str, Any]]:
        return self.resume(messages, remove_termination_string, silent)


# ``register_reply(..., GroupChatManager.run_chat)`` (AutoGen's way to make any agent a manager)
# runs the async form in the pipeline, as the built-in steps' sync forms do.
_agent._ASYNC_STEP[GroupChatManager.run_chat] = GroupChatManager.a_run_chat

__all__ = ["GroupChat", "GroupChatManager", "Selection", "clear_agents_history", "stored_copy"]
