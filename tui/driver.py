"""One team's chat as the app drives it: build the agents, route human input and code approval to
the UI, stop on request, choose the next speaker, inject a message, continue after a stop.

No Textual here. The screen hands in three async callbacks (ask the human, approve a code block,
take an event) and the driver runs the engine's event stream on the app's event loop: the engine
is async, llama.cpp generates in its own thread inside the backend, and executors are async
subprocesses or Docker API calls made off the loop, so nothing here blocks the UI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from moot.agents import events as ev

AskHuman = Callable[[str, str], Awaitable[str]]  # (agent, prompt) -> reply
Approve = Callable[[str, Any], Awaitable[Any]]  # (agent, CodeBlock) -> "run" | "skip" | edited code
EventSink = Callable[[ev.Event], Any]


@dataclass
class Budgets:
    """What the status bar shows progress against."""

    max_round: int | None = None  # group chats: messages
    max_turns: int | None = None  # two-agent chats
    token_budget: int | None = None
    timeout_s: float | None = None
    max_messages: int | None = None


@dataclass(repr=False, eq=False)
class ChatDriver:
    team: Any  # agents.Team
    models: Any  # backends.ModelsConfig
    ask_human: AskHuman
    approve: Approve
    executor: str | None = None
    work_dir: str | None = None
    approve_local_code: bool = True
    approve_all_code: bool = False
    built: Any = None
    stop_handle: Any = None
    injected: list[str] = field(default_factory=list)
    runs: int = 0

    def __post_init__(self) -> None:
        from moot.agents import ExternalStop

        self.stop_handle = ExternalStop()
        self.built = self.team.build(executor=self.executor, work_dir=self.work_dir)
        for agent in self._all_agents():
            # Instance attributes win over the class methods the engine calls.
            agent.a_get_human_input = self._human_for(agent.name)
            if agent in self.built.members.values():  # not the manager: it would store the note
                agent.register_hook("process_last_received_message", self._inject_hook)
            if self._needs_approval(agent):
                agent.code_approval = self._approval_for(agent.name)
        condition = self.built.chat_kwargs.get("termination")
        self.built.chat_kwargs["termination"] = self.stop_handle if condition is None else condition | self.stop_handle
        if self.built.groupchat is not None:
            group = self.built.groupchat
            group.termination = self.stop_handle if group.termination is None else group.termination | self.stop_handle

    # -- what the UI asks about ---------------------------------------------------------------

    @property
    def is_group(self) -> bool:
        return self.built.groupchat is not None

    @property
    def member_names(self) -> list[str]:
        return list(self.built.members)

    def budgets(self) -> Budgets:
        spec = self.team.spec
        return Budgets(max_round=spec.chat.max_round if self.is_group else None, max_turns=spec.chat.max_turns,
                       token_budget=spec.termination.token_budget, timeout_s=spec.termination.timeout_s,
                       max_messages=spec.termination.max_messages)

    def model_of(self, agent_name: str) -> str:
        member = next((m for m in self.team.spec.members if m.name == agent_name), None)
        if member is None:
            return ""
        if member.model is False or (member.model is None and member.role == "user_proxy"):
            return ""
        return member.model or self.models.default or ""

    def executor_kind(self, agent: Any) -> str | None:
        config = getattr(agent, "_code_execution_config", None)
        if not config:
            return None
        return config.get("executor") or ("local" if config.get("use_docker") is False else "docker")

    # -- steering -----------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """End the run (and cut short a reply or code run in progress) with ``reason``."""
        self.stop_handle.set(reason)

    def next_speaker(self, name: str) -> None:
        """``/next NAME``: raises ValueError naming the problem (not a group chat, unknown name)."""
        if not self.is_group:
            raise ValueError("/next works in group chats; this team is two agents taking turns")
        self.built.groupchat.request_next_speaker(name)

    def inject(self, text: str) -> None:
        """A message from the user, shown to whoever speaks next (added to what they read)."""
        self.injected.append(text)

    def _inject_hook(self, content: str) -> str:
        if not self.injected:
            return content
        notes = "\n".join(f"[The user adds]: {t}" for t in self.injected)
        self.injected.clear()
        return f"{content}\n\n{notes}" if content else notes

    # -- running ------------------------------------------------------------------------------

    def stream(self, message: str) -> Any:
        """The engine's event stream for the task (first run) or a message that continues the
        conversation after a stop (the agents keep their history)."""
        self.stop_handle.reset()
        kwargs = dict(self.built.chat_kwargs)
        if self.runs:
            kwargs["clear_history"] = False
        self.runs += 1
        return self.built.initiator.run_stream(self.built.recipient, message=message, **kwargs)

    async def run(self, message: str, sink: EventSink) -> Any:
        """Run until the chat stops, handing every event to ``sink``; returns the ChatResult."""
        stream = self.stream(message)
        try:
            async for event in stream:
                result = sink(event)
                if hasattr(result, "__await__"):
                    await result
        finally:
            await stream.aclose()
        return stream.result

    # -- hooks into the agents ----------------------------------------------------------------

    def _all_agents(self) -> list[Any]:
        agents = list(self.built.members.values())
        if self.built.recipient not in agents:
            agents.append(self.built.recipient)  # the group chat manager asks in "manual" selection
        return agents

    def _needs_approval(self, agent: Any) -> bool:
        kind = self.executor_kind(agent)
        if kind is None:
            return False
        return self.approve_all_code or (kind == "local" and self.approve_local_code)

    def _human_for(self, name: str) -> Callable[[str], Awaitable[str]]:
        async def ask(prompt: str) -> str:
            if self.stop_handle.is_set():
                return "exit"
            return await self.ask_human(name, prompt)
        return ask

    def _approval_for(self, name: str) -> Callable[[Any], Awaitable[Any]]:
        async def approve(block: Any) -> Any:
            if self.stop_handle.is_set():
                return "skip"
            return await self.approve(name, block)
        return approve
