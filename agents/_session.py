"""``Session``: the one owner of a run, from its start to its end.

A session is a team's chat recorded in the session store. ``Session.start(team, task)`` makes a
new one; ``Session.open(id)`` brings a recorded one back (the agents are rebuilt from the stored
team file and their histories, auto-reply counters, token usage, termination progress and each
scripted model's position restored through the engine's public methods). Then::

    async with Session.start("coder", "print 6 * 7") as session:
        async for event in session.stream():          # the task
            ...
        async for event in session.stream("now 7 * 8"):  # the same chat goes on
            ...
    session.outcome  # completed | failed | cancelled | interrupted

``stream(message)`` yields every event and records each one. With a message after a stop, the
SAME root chat goes on (its id, its history; the termination conditions count afresh, as when
you type in the app); without one, a run that did not complete (failed, cancelled,
interrupted) goes on where it stopped. ``fork(at)``, ``replay()`` and ``export()`` work on the
recording. ``async with`` (or ``aclose()``) closes the executors, the backends and the recorder.

``moot run``, ``moot sessions ...`` and the app drive sessions; none of them touches an agent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moot.backends import ConfigError, ModelRegistry, ModelsConfig, Usage, load_models
from moot.backends.config import scripted_models

from . import _models
from ._agent import ConversableAgent
from ._chat import ChatResult, ChatStream, Continuation
from ._context import ChatStop
from ._teamfile import CodeExecution, read_team_file, team_dirs
from ._teams import BuiltTeam, Team, load_team, parse_team
from .events import Event, NoticeEvent, Stopped
from .outcome import Outcome
from .termination import ExternalStop
from .transcript import to_markdown

__all__ = ["Budgets", "ReplayResult", "Session", "budgets_of", "a_replay_session", "a_resume_session", "replay_session",
           "resume_session", "transcript_key"]

AskHuman = Callable[[str, str], Awaitable[str]]  # (agent, prompt) -> the human's answer
Approve = Callable[[str, Any], Awaitable[Any]]  # (agent, CodeBlock) -> "run" | "skip" | edited code
CONTINUED = "continued"  # the kind of the notice that starts a new run of a recorded chat


@dataclass
class Budgets:
    """What a run counts against (the app's status bar shows progress against them)."""

    max_round: int | None = None  # group chats: messages
    max_turns: int | None = None  # two-agent chats
    token_budget: int | None = None
    timeout_s: float | None = None
    max_messages: int | None = None


def budgets_of(team: Team) -> Budgets:
    """The limits a team's runs count against."""
    spec = team.spec
    return Budgets(max_round=spec.chat.max_round if team.is_group else None, max_turns=spec.chat.max_turns,
                   token_budget=spec.termination.token_budget, timeout_s=spec.termination.timeout_s,
                   max_messages=spec.termination.max_messages)


def _key_names(config: ModelsConfig) -> list[str]:
    return [m.api_key_env for m in config.models.values() if m.api_key_env]


def _open_store(store: Any) -> Any:
    if store is not None:
        return store
    from moot.memory import SessionStore

    return SessionStore.open_default()


def _models_config(models: Any, info: Any = None) -> ModelsConfig:
    if isinstance(models, ModelRegistry):
        return models.config
    if isinstance(models, ModelsConfig):
        return models
    if models is not None:
        return load_models(models)
    if info is not None and info.models_source and Path(info.models_source).is_file():
        return load_models(info.models_source)
    return load_models()


# -- restoring a recorded chat -------------------------------------------------------------------

def _message(e: dict[str, Any], sender: str) -> dict[str, Any]:
    msg: dict[str, Any] = {"content": e.get("content")}
    if e.get("name") and e["name"] != sender:
        msg["name"] = e["name"]
    if e.get("tool_calls"):
        msg["tool_calls"] = [dict(c) for c in e["tool_calls"]]
    if e.get("tool_responses"):
        msg["tool_responses"] = [dict(r) for r in e["tool_responses"]]
    if e.get("role") in ("tool", "function"):
        msg["role"] = e["role"]
    return msg


def root_chat_of(events: list[dict[str, Any]]) -> str | None:
    return next((e["chat_id"] for e in events if e["type"] == "chat_started" and not e.get("parent_chat_id")), None)


def restore(built: BuiltTeam, events: list[dict[str, Any]], root: str | None = None, *,
            apply: bool = True) -> Continuation:
    """Put a recorded chat back into freshly built agents, through their public methods, and
    say how it goes on. Every run of the root chat is restored (a chat continued after a stop
    holds several); termination progress and time count from the start of the last run.
    ``apply=False``: only say how it goes on (the agents hold the history already)."""
    initiator, recipient = built.initiator, built.recipient
    root = root or root_chat_of(events)
    if root is None:
        raise ValueError("the recording has no chat to resume (no chat_started event)")
    agents: dict[str, ConversableAgent] = dict(built.members)
    agents[initiator.name] = initiator
    agents[recipient.name] = recipient
    group = built.groupchat
    if group is not None:
        for a in group.agents:
            if isinstance(a, ConversableAgent):
                agents.setdefault(a.name, a)
    if apply:
        for agent, partner in ((initiator, recipient), (recipient, initiator)):
            agent.clear_history(partner)
            agent.reset_consecutive_auto_reply_counter(partner)
        if group is not None:
            group.reset_messages()
    plan = Continuation(chat_id=root)
    counters: dict[tuple[str, str], int] = {}
    human: dict[str, str] = {}  # the last human answer of each agent since its last message
    run_start = last_ts = None
    last_sender: str | None = None
    agent_usage: dict[str, dict[str, Usage]] = {}
    for e in events:
        kind = e["type"]
        if kind == "context_compacted" and e.get("summary") and apply and e.get("agent") in agents:
            agents[e["agent"]].restore_summary(e.get("partner", ""), e.get("upto", 0), e["summary"])
        if kind == "usage":
            u = Usage(prompt_tokens=e.get("prompt_tokens", 0), completion_tokens=e.get("completion_tokens", 0),
                      cached_tokens=e.get("cached_tokens", 0))
            plan.usage[e["model"]] = plan.usage.get(e["model"], Usage()) + u
            per = agent_usage.setdefault(e.get("agent", ""), {})
            per[e["model"]] = per.get(e["model"], Usage()) + u
        if e["chat_id"] != root:
            continue
        last_ts = e.get("ts", last_ts)
        if kind == "chat_started" or (kind == "notice" and e.get("kind") == CONTINUED):
            run_start = e.get("ts")
            plan.seen, plan.group_seen = [], []
        elif kind == "human_reply":
            human[e["agent"]] = e.get("text", "")
        elif kind == "message":
            sender, to = agents.get(e["sender"]), e["recipient"]
            if to == "*" and group is not None:  # the group's introductions
                if apply:
                    for a in group.agents:
                        if isinstance(a, ConversableAgent):
                            a.deliver({"content": e.get("content"), "name": recipient.name}, recipient)
                continue
            target = agents.get(to)
            if sender is None or target is None:
                raise ValueError(f"the recording names {e['sender']!r} -> {to!r}, who are not in the team")
            msg = _message(e, sender.name)
            if apply:
                sent = sender.append_message(msg, "assistant", target, sender.name)
                heard = target.append_message(msg, "user", sender, sender.name)
                key = (sender.name, target.name)
                if last_sender is not None:  # every message but the first is a reply
                    answer = human.pop(sender.name, "")
                    counters[key] = 0 if answer and answer != "exit" else counters.get(key, 0) + 1
                    sender.restore_auto_reply_count(target, counters[key])
            else:
                sent = {**msg, "role": "assistant", "name": sender.name}
                heard = {**msg, "role": "user", "name": sender.name}
            last_sender = sender.name
            if group is not None and target is recipient:
                if apply:
                    group.append(dict(heard), sender)
                    recipient.broadcast(dict(heard), sender)
                plan.group_seen.append((dict(heard), sender.name))
                plan.group_speaker = sender.name
                if not plan.seen:
                    plan.seen.append((sent, sender.name))
            elif group is None:
                plan.seen.append((sent, sender.name))
    for name, per in agent_usage.items():
        if apply and name in agents:
            agents[name].restore_usage(per)
    if last_sender is None:
        raise ValueError("the recording holds no message yet: start the chat again instead")
    plan.recipient_next = last_sender != recipient.name
    plan.elapsed = max(0.0, (last_ts or 0.0) - (run_start or last_ts or 0.0))
    return plan


def _seek_models(registry: Any, events: list[dict[str, Any]]) -> None:
    """Each model goes on from where it was (a scripted one: one reply per completed call)."""
    calls: dict[str, int] = {}
    for e in events:
        if e["type"] == "usage":
            calls[e["model"]] = calls.get(e["model"], 0) + 1
    for model, n in calls.items():
        try:
            registry.backend(model).seek(n)
        except ConfigError:  # a model the session's models.toml no longer has: nothing to seek
            continue


# -- a session someone else recorded -------------------------------------------------------------

APPROVAL_NEEDED = "approval_needed"  # the stop condition when an imported session's code waits for approval


def is_imported(info: Any) -> bool:
    """Whether a stored session came from someone else (``moot sessions import``; forks and
    replays of it too): how its code ran is not taken from it."""
    return bool(info is not None and (info.options or {}).get("imported"))


def _own_team(name: str | None, models: ModelsConfig) -> Any:
    """The user's own team file of this name (``./teams``, the user's teams, moot's), or None.
    Only a bare name is looked up: a recorded name is never a path."""
    if not name or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        return None
    for folder in team_dirs():
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return read_team_file(candidate, models)
    return None


def imported_team(info: Any, models: ModelsConfig) -> Team:
    """The team of a session someone else recorded: names, models, prompts and chat settings as
    recorded (its history needs them), but each member's code execution (executor, work dir,
    limits, image, environment) from the user's own team of the same name, else the defaults;
    never from the record. A member that did not run code in the record does not run code now."""
    source = f"session {info.id} (team {info.team_name or '?'}, imported)"
    recorded = parse_team(info.team_text, source, models)
    own = _own_team(info.team_name, models)
    members = []
    for m in recorded.spec.members:
        if m.code_execution:
            mine = next((o for o in own.members if o.name == m.name), None) if own is not None else None
            code = mine.code_execution if mine is not None and mine.code_execution else CodeExecution()
            m = m.model_copy(update={"code_execution": code})
        members.append(m)
    spec = recorded.spec.model_copy(update={"members": members})
    return Team(spec=spec, source=source, name=recorded.name, text=info.team_text)


# -- the session --------------------------------------------------------------------------------

class Session:
    """A team's recorded chat: start or open it, stream it, go on after a stop, fork, replay,
    export. See the module docstring."""

    def __init__(self, team: Team, models: ModelsConfig, *, store: Any, recorder: Any, task: str | None,
                 options: dict[str, Any], ask_human: AskHuman | None = None, approve: Approve | None = None,
                 approve_code: str = "none", continuation: Continuation | None = None, info: Any = None,
                 imported: bool = False, approve_imported_code: bool = False):
        self.team = team
        self.models = _models_config(models)
        self.store = store
        self.task = task
        self.options = options
        self.info = info
        self._recorder = recorder
        self.registry = _models.registry_of(models)  # this session's own: closed with it
        with _models.using_models(self.registry):
            self.built = team.build(**{k: v for k, v in options.items()
                                       if k in ("executor", "work_dir", "human_input_mode")})
        self._ask_human = ask_human
        self._approve = approve
        self._approve_code = approve_code
        # Someone else's record: its first code block waits for approval (or the explicit flag).
        self.imported = imported
        self._imported_pending = imported and not approve_imported_code
        self._stop = ExternalStop()
        self._injected: list[str] = []
        self._steer()
        self._plan = continuation  # how the recorded chat goes on (open), None for a new one
        self._runs = 0 if continuation is None else 1
        self.root_chat_id: str | None = continuation.chat_id if continuation is not None else None
        self.result: ChatResult | None = None
        self.outcome: Outcome | None = Outcome(info.outcome) if info is not None and info.outcome else None
        self.stop_reason: str | None = info.stop_reason if info is not None else None
        self._closed = False

    # -- making one

    @classmethod
    def start(cls, team: Team | str, task: str | None = None, *, models: Any = None, store: Any = None,
              record: bool = True, executor: str | None = None, work_dir: str | None = None,
              human_input_mode: str | None = None, title: str | None = None, ask_human: AskHuman | None = None,
              approve: Approve | None = None, approve_code: str = "none", imported: bool = False,
              approve_imported_code: bool = False) -> Session:
        """A new session of ``team`` (a ``Team``, a name or a path) for ``task``.

        ``models``: a models.toml path or ``ModelsConfig`` (default: the lookup order), or a
        ``ModelRegistry`` whose backends the session uses (and closes with it).
        ``record=False`` keeps it out of the session store. ``executor``/``work_dir`` override
        every member's code execution; ``human_input_mode`` the user proxy's. ``ask_human(agent,
        prompt)`` answers for the human; ``approve(agent, block)`` is asked before a code block
        runs, for ``approve_code`` "local" (blocks run by the local executor), "all" or "none".
        ``imported``: the task and replies come from someone else's record (a replay of an
        imported session): the first code block waits for ``approve``, or needs
        ``approve_imported_code``, else the chat stops before running it.
        """
        config = _models_config(models)
        if isinstance(team, str):
            team = load_team(team, config)
        problems = [p for name in team.models_used(config.default) for p in config.get(name).problems()]
        if problems:
            raise ConfigError([f"{config.source}: {p}" for p in problems])
        options = {"executor": executor, "work_dir": work_dir, "human_input_mode": human_input_mode}
        recorder = None
        if record:
            store = _open_store(store)
            first_line = (task or "").strip().splitlines()[0][:80] if (task or "").strip() else team.name
            recorder = store.recorder(title=title or first_line, team=team, task=task, models=config,
                                      options=options)
        return cls(team, models if isinstance(models, ModelRegistry) else config, store=store, recorder=recorder,
                   task=task, options=options, ask_human=ask_human,
                   approve=approve, approve_code=approve_code, imported=imported,
                   approve_imported_code=approve_imported_code)

    @classmethod
    def open(cls, session_id: str, *, store: Any = None, models: Any = None, human_input_mode: str | None = None,
             executor: str | None = None, work_dir: str | None = None, ask_human: AskHuman | None = None,
             approve: Approve | None = None, approve_code: str = "none",
             approve_imported_code: bool = False) -> Session:
        """A recorded session, rebuilt and restored so that it can go on (``stream()``).
        Raises ``SessionBusy`` when another process runs it.

        A session someone else recorded (``is_imported``) never says how code runs: the
        executor, work dir and limits come from the user's own team of that name
        (``imported_team``) and from ``executor``/``work_dir``; its models from ``models`` or the
        lookup order. Its first code block waits for ``approve`` (whatever ``approve_code``
        says), or runs only with ``approve_imported_code``; otherwise the chat stops before it
        (condition ``approval_needed``, a failed run that can be resumed)."""
        from moot.memory import SessionStoreError  # here: the store's module is not needed to import the engine

        store = _open_store(store)
        info = store.get(session_id)
        if info.status == "running":  # get() marks a dead run interrupted, so someone runs this one
            store.release(store.acquire(info.id))  # raises SessionBusy naming the process
        if not info.team_text:
            raise SessionStoreError(f"session {info.id} has no team file recorded, so it cannot be rebuilt")
        imported = is_imported(info)
        config = _models_config(models, None if imported else info)
        if imported:
            team = imported_team(info, config)
        else:
            team = parse_team(info.team_text, f"session {info.id} (team {info.team_name or '?'})", config)
        recorded_keys = ("human_input_mode",) if imported else ("executor", "work_dir", "human_input_mode")
        options = {k: v for k, v in (info.options or {}).items() if k in recorded_keys}
        options.update({k: v for k, v in {"executor": executor, "work_dir": work_dir,
                                          "human_input_mode": human_input_mode}.items() if v is not None})
        recorder = store.recorder(session_id=info.id, secret_names=_key_names(config))  # takes the session's lock
        try:
            session = cls(team, config, store=store, recorder=recorder, task=info.task, options=options,
                          ask_human=ask_human, approve=approve, approve_code=approve_code, info=info,
                          imported=imported, approve_imported_code=approve_imported_code)
            events = store.events(info.id)
            if any(e["type"] == "message" for e in events):
                try:
                    session._plan = restore(session.built, events, info.root_chat_id)
                except ValueError as exc:  # a recording that does not fit its own team file
                    raise SessionStoreError(f"session {info.id} cannot be restored: {exc}") from None
                session.root_chat_id = session._plan.chat_id
                session._runs = 1
                _seek_models(session.registry, events)
        except BaseException:
            recorder.close()
            raise
        return session

    # -- what it is

    @property
    def id(self) -> str:
        return self._recorder.session_id if self._recorder is not None else ""

    @property
    def is_group(self) -> bool:
        return self.built.groupchat is not None

    @property
    def members(self) -> dict[str, ConversableAgent]:
        return dict(self.built.members)

    @property
    def resumable(self) -> bool:
        """Whether ``stream()`` without a message goes on with a run that did not complete."""
        return self._plan is not None and self.outcome is not None and self.outcome.resumable

    def budgets(self) -> Budgets:
        return budgets_of(self.team)

    def model_of(self, agent_name: str) -> str:
        """The models.toml name ``agent_name`` talks to ("" for none)."""
        member = next((m for m in self.team.spec.members if m.name == agent_name), None)
        if member is None or member.model is False or (member.model is None and member.role == "user_proxy"):
            return ""
        return member.model or self.models.default or ""

    def executor_kind(self, agent_name: str) -> str | None:
        """"docker", "sandbox", "local" or None: how ``agent_name`` runs code."""
        from moot.executors import planned_executor

        agent = self.built.members.get(agent_name)
        config = agent.code_executor_config if agent is not None else False
        kind = planned_executor(config) if config else "none"
        return None if kind.startswith("none") else kind

    # -- steering (safe to call from the UI while a run streams)

    def stop(self, reason: str = "stopped by the user") -> None:
        """End the run (cutting short a reply or code run in progress) with ``reason``."""
        self._stop.set(reason)

    def next_speaker(self, name: str) -> None:
        """``/next NAME``: raises ValueError naming the problem (not a group chat, unknown name)."""
        if not self.is_group:
            raise ValueError("/next works in group chats; this team is two agents taking turns")
        self.built.groupchat.request_next_speaker(name)

    def inject(self, text: str) -> None:
        """A note from the user, shown to whoever speaks next (added to what they read)."""
        self._injected.append(text)

    @property
    def queued(self) -> list[str]:
        """The notes ``inject`` took that nobody has read yet."""
        return list(self._injected)

    def _inject_hook(self, content: str) -> str:
        if not self._injected:
            return content
        notes = "\n".join(f"[The user adds]: {t}" for t in self._injected)
        self._injected.clear()
        return f"{content}\n\n{notes}" if content else notes

    def _steer(self) -> None:
        built = self.built
        agents = list(built.members.values())
        if built.recipient not in agents:
            agents.append(built.recipient)  # the group chat manager asks in "manual" selection
        for agent in agents:
            if self._ask_human is not None:
                agent.a_get_human_input = self._human_for(agent.name)  # type: ignore[method-assign]
            if agent in built.members.values():  # not the manager: it would store the note
                agent.register_hook("process_last_received_message", self._inject_hook)
            kind = self.executor_kind(agent.name)
            if self._approve is not None and kind is not None and (
                    self._approve_code == "all" or (self._approve_code == "local" and kind == "local")):
                agent.code_approval = self._approval_for(agent.name)
            if self._imported_pending and kind is not None:
                agent.code_approval = self._imported_gate(agent.name, agent.code_approval)
        condition = built.chat_kwargs.get("termination")
        built.chat_kwargs["termination"] = self._stop if condition is None else condition | self._stop
        if built.groupchat is not None:
            group = built.groupchat
            group.termination = self._stop if group.termination is None else group.termination | self._stop

    def _human_for(self, name: str) -> Callable[[str], Awaitable[str]]:
        async def ask(prompt: str) -> str:
            if self._stop.is_set():
                return "exit"
            assert self._ask_human is not None
            return await self._ask_human(name, prompt)
        return ask

    def _approval_for(self, name: str) -> Callable[[Any], Awaitable[Any]]:
        async def approve(block: Any) -> Any:
            if self._stop.is_set():
                return "skip"
            assert self._approve is not None
            return await self._approve(name, block)
        return approve

    def _imported_gate(self, name: str, then: Callable[[Any], Awaitable[Any]] | None) -> Callable[[Any], Awaitable[Any]]:
        """Approval for a session someone else recorded: until the user lets one block run, every
        block waits for ``approve``; with no one to ask, the chat stops before the block runs."""
        async def approve(block: Any) -> Any:
            if not self._imported_pending:
                return "run" if then is None else await then(block)
            if self._approve is None:
                sid = self.id or "ID"
                raise ChatStop(f"session {sid} was recorded by someone else (imported), so its first code block "
                               f"is not run without your approval: read it (moot sessions show {sid}), then go on "
                               f"with `moot sessions resume {sid} --approve-imported-code`", APPROVAL_NEEDED)
            answer = await self._approval_for(name)(block)
            if answer not in (None, "skip"):
                self._imported_pending = False
            return answer
        return approve

    # -- running

    def _chat(self, message: str | None) -> tuple[ChatStream, list[Event]]:
        kwargs = dict(self.built.chat_kwargs)
        built = self.built
        if self._runs == 0:  # the task
            text = message if message is not None else self.task
            if text is None:
                raise ValueError("the session has no task yet: give stream() a message")
            if self.task is None:
                self.task = text
            return ChatStream(built.initiator, built.recipient, models=self.registry, message=text, **kwargs), []
        assert self.root_chat_id is not None
        if message is not None:
            plan = Continuation(chat_id=self.root_chat_id, usage=self._usage_so_far(), message=message)
            note = NoticeEvent(self.root_chat_id, agent=built.initiator.name, kind=CONTINUED,
                               text="the chat goes on with a new message")
        else:
            if self._plan is None or self.outcome is Outcome.COMPLETED:
                raise ValueError(f"session {self.id or '(unrecorded)'} completed ({self.stop_reason or 'stopped'}); "
                                 f"give a message to go on, or fork it at a message to take another path")
            plan = self._plan
            count = len(plan.seen) if not self.is_group else len(self.built.groupchat.messages)
            text = f"resumed after message {count}" if self.info is not None else "the run goes on"
            if self.info is not None and self.info.interrupted_message_id:
                text += "; the reply that was streaming when it stopped was cut off and is asked for again"
            note = NoticeEvent(self.root_chat_id, agent=built.recipient.name, text=text, kind="resumed")
        return ChatStream(built.initiator, built.recipient, models=self.registry, _continue=plan, **kwargs), [note]

    def _usage_so_far(self) -> dict[str, Usage]:
        return dict(self.result.usage) if self.result is not None else dict(self._plan.usage if self._plan else {})

    async def stream(self, message: str | None = None) -> AsyncIterator[Event]:
        """Run until the chat stops, yielding (and recording) every event.

        First call: the task (or ``message``). After a stop: ``message`` goes on with the same
        chat; no message goes on with a run that failed, was cancelled or interrupted."""
        if self._closed:
            raise RuntimeError("the session is closed")
        chat, first = self._chat(message)
        events: AsyncIterator[Event] = chat
        if self.built.mcp is not None:  # start its MCP servers (the first time) and say what failed
            self.built.mcp.set_sampler(self.registry)
            events = await self.built.mcp.prepare(chat, self.root_chat_id)
        self._stop.reset()
        recorder = self._recorder
        if recorder is not None:
            await asyncio.to_thread(recorder.begin_run)
        self._runs += 1
        stopped = None
        try:
            for event in first:
                if recorder is not None:
                    recorder(event)
                yield event
            async for event in events:
                if recorder is not None:
                    recorder(event)
                if event.type == "chat_started" and self.root_chat_id is None and not event.parent_chat_id:
                    self.root_chat_id = event.chat_id
                elif event.type == "stopped" and event.chat_id == self.root_chat_id:
                    stopped = event
                yield event
        except (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt):
            if stopped is None and self.root_chat_id is not None:  # the reader left, or Ctrl-C
                stopped = Stopped(self.root_chat_id, reason="the run was cancelled", condition="cancelled")
                if recorder is not None:
                    recorder(stopped)
            raise
        finally:
            if events is not chat:
                await events.aclose()  # the MCP notices' wrapper
            await chat.aclose()
            if stopped is not None:
                self.outcome, self.stop_reason = Outcome(stopped.outcome), stopped.reason
            else:
                self.outcome, self.stop_reason = Outcome.INTERRUPTED, "the run ended before the chat stopped"
            if chat.result is not None:
                self.result = chat.result
            if recorder is not None:
                await asyncio.to_thread(recorder.end_run, self.outcome.value, self.stop_reason,
                                        stopped.condition if stopped is not None else "interrupted")
                self._plan = self._resume_plan(self.store.events(self.id))
            else:
                self._plan = None

    def _resume_plan(self, events: list[dict[str, Any]]) -> Continuation | None:
        """After a run that did not complete: how it goes on (the agents hold the history)."""
        if self.outcome is Outcome.COMPLETED or self.root_chat_id is None:
            return None
        if not any(e["type"] == "message" and e["chat_id"] == self.root_chat_id for e in events):
            return None
        return restore(self.built, events, self.root_chat_id, apply=False)

    async def run(self, message: str | None = None, on_event: Callable[[Event], Any] | None = None) -> ChatResult | None:
        """``stream`` to the end, handing each event to ``on_event``; returns the ChatResult."""
        async for event in self.stream(message):
            if on_event is not None:
                result = on_event(event)
                if asyncio.iscoroutine(result):
                    await result
        return self.result

    # -- the recording

    def fork(self, at: str | int, *, title: str | None = None, **open_kwargs: Any) -> Session:
        """A new session holding this one up to message ``at`` (an id or a number, 1 = first),
        opened so that it can go on."""
        if self.store is None or not self.id:
            raise ValueError("an unrecorded session cannot be forked")
        self._recorder.flush()
        new_id = self.store.fork(self.id, at, title=title)
        return Session.open(new_id, store=self.store, models=self.models, **open_kwargs)

    async def replay(self, *, record: bool = True, on_event: Callable[[Event], Any] | None = None) -> ReplayResult:
        """Run the recording again on scripted models serving the recorded replies; compare."""
        if self.store is None or not self.id:
            raise ValueError("an unrecorded session cannot be replayed")
        self._recorder.flush()
        return await a_replay_session(self.id, store=self.store, on_event=on_event, record=record)

    def export(self, format: str = "md") -> str:
        """The recording as Markdown (``md``) or JSON (``json``, imports back as is)."""
        if self.store is None or not self.id:
            raise ValueError("an unrecorded session has nothing to export")
        self._recorder.flush()
        return export_session(self.store, self.id, format)

    # -- closing

    async def aclose(self) -> None:
        """Close the agents' executors, the backends and the recorder (a run still open is
        recorded as interrupted)."""
        if self._closed:
            return
        self._closed = True
        try:
            for agent in {*self.built.members.values(), self.built.initiator, self.built.recipient}:
                if agent.executor is not None:
                    try:
                        await agent.executor.aclose()
                    except Exception:  # a dead daemon must not keep the rest open
                        pass
                    agent.executor = None
            if self.built.mcp is not None:
                await self.built.mcp.aclose()
            await self.registry.aclose()
        finally:
            if self._recorder is not None:
                await asyncio.to_thread(self._recorder.close)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def export_session(store: Any, session_id: str, format: str = "md") -> str:
    """A recorded session as Markdown (every message of every run, drawn by the transcript
    reducer) or JSON (what ``moot sessions export`` prints)."""
    if format in ("md", "markdown"):
        info = store.get(session_id)
        return to_markdown(store.events(info.id), info)
    return store.export(session_id, format)


# -- the old entry points, over Session --------------------------------------------------------

async def a_resume_session(session_id: str, *, store: Any = None, models: Any = None,
                           on_event: Callable[[Event], Any] | None = None, human_input_mode: str | None = None,
                           message: str | None = None) -> ChatResult | None:
    """Go on with a recorded session (same id, events appended) until the chat stops: the run
    that did not complete, or, with ``message``, a new run of the same chat."""
    from moot.memory import SessionStoreError

    session = Session.open(session_id, store=store, models=models, human_input_mode=human_input_mode)
    async with session:
        if message is None and not session.resumable:
            raise SessionStoreError(
                f"session {session.id} finished ({session.stop_reason}); there is nothing to resume. Go on with a "
                f"message (moot sessions resume {session.id} --message TEXT) or fork it at a message to take "
                f"another path: moot sessions fork {session.id} --at N")
        return await session.run(message, on_event)


def resume_session(session_id: str, **kwargs: Any) -> ChatResult | None:
    """Sync form of ``a_resume_session``."""
    return asyncio.run(a_resume_session(session_id, **kwargs))


# -- replay --------------------------------------------------------------------------------------

def transcript_key(events: list[dict[str, Any]]) -> tuple[list[tuple[Any, ...]], str | None]:
    """What must match for two runs to have the same transcript: every message of the root chat
    (sender, recipient, content, tool calls by name and arguments) and how it stopped."""
    root = root_chat_of(events)
    out = []
    stop = None
    for e in events:
        if e["chat_id"] != root:
            continue
        if e["type"] == "message":
            calls = tuple((c.get("function", {}).get("name"), c.get("function", {}).get("arguments"))
                          for c in e.get("tool_calls") or ())
            out.append((e["sender"], e["recipient"], e.get("content"), calls))
        elif e["type"] == "stopped":
            stop = f"{e.get('condition')}: {e.get('reason')}"
    return out, stop


def _scripts(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The reply each model call gave, per model and in order, inferred from the recording: a
    usage report is followed by the message its agent posts, the speaker its manager selects, or
    the summary of the chat. A teachable agent's learning call (the call before its reply) is
    followed by the memos it stored or proposed: its answer is those memos as the JSON it gave."""
    scripts: dict[str, list[dict[str, Any]]] = {}
    # [model, agent, memos] of calls whose reply is not seen yet (memos: those a learning call gave)
    pending: list[list[Any]] = []

    def take(agent: str, reply: dict[str, Any]) -> None:
        mine = [p for p in pending if p[1] == agent]
        for p in mine[:-1]:  # a learning call, or earlier calls that gave nothing usable (retries)
            learnt = {"content": json.dumps({"memos": p[2]})} if p[2] else {"content": ""}
            scripts.setdefault(p[0], []).append(learnt)
            pending.remove(p)
        if mine:
            scripts.setdefault(mine[-1][0], []).append(reply)
            pending.remove(mine[-1])

    for e in events:
        kind = e["type"]
        if kind == "usage":
            pending.append([e["model"], e.get("agent", ""), []])
            scripts.setdefault(e["model"], [])
        elif kind in ("memory_stored", "memory_proposed") and e.get("action") != "rejected":
            mine = [p for p in pending if p[1] == e.get("agent", "")]
            if mine and not (kind == "memory_stored" and any(m["recall"] == e["recall"] for m in mine[-1][2])):
                mine[-1][2].append({"kind": e["kind"], "match": e["match"], "recall": e["recall"], "replaces": None})
        elif kind == "message":
            calls = []
            for c in e.get("tool_calls") or ():
                fn = c.get("function", {})
                calls.append({"name": fn.get("name", ""), "arguments": fn.get("arguments", "")})
            take(e["sender"], {"content": e.get("content") or "", "tool_calls": calls})
        elif kind == "speaker_selected" and e.get("raw_answer") is not None:
            if pending:
                take(pending[0][1], {"content": e["raw_answer"]})
        elif kind == "context_compacted" and e.get("summary"):
            # A summary call's answer: the replay does not compact (its window is unbounded), so the
            # call is not made again and serves nothing.
            mine = [p for p in pending if p[1] == e.get("agent", "")]
            if mine:
                pending.remove(mine[-1])
        elif kind == "stopped" and e.get("summary") and pending:
            take(pending[-1][1], {"content": e["summary"]})
    return scripts


@dataclass
class ReplayResult:
    """A replay: the new session, whether its transcript matches the recording, and where not."""

    session_id: str
    identical: bool
    differences: list[str]
    result: ChatResult | None


async def a_replay_session(session_id: str, *, store: Any = None, on_event: Callable[[Event], Any] | None = None,
                           record: bool = True, approve_imported_code: bool = False,
                           memory: Any = None) -> ReplayResult:
    """Run a recorded session again with every model replaced by the scripted backend serving the
    recorded replies (and the human's recorded answers), and compare the transcripts.
    ``memory``: the ``[memory]`` settings its teachable agents use (a collection of their own);
    by default models.toml's defaults.

    The replay of a session someone else recorded runs its code as ``Session.open`` would: the
    executor and work dir from the user's own team, the first block only with
    ``approve_imported_code``."""
    store = _open_store(store)
    info = store.get(session_id)
    events = store.events(info.id)
    scripts = _scripts(events)
    default = info.default_model
    team_models: list[str] = []
    if info.team_text:
        team_models = parse_team(info.team_text, f"session {info.id}").models_used(default)
    names = list(dict.fromkeys([*(m for m in [default] if m), *team_models, *scripts]))
    if not names:
        names = ["replay"]
    # Every model becomes a scripted one serving its recorded replies (no files: built in Python).
    # Unbounded windows: scripted replies do not depend on the prompt, so nothing is compacted (a
    # recorded summary call is not made again; the record's answers stay in step).
    config = scripted_models({name: {"replies": scripts.get(name) or [{"content": ""}], "context_length": 2**30}
                              for name in names},
                             default=default or names[0], source=f"replay of session {info.id}")
    if memory is not None:
        config = dataclasses.replace(config, memory=memory)
    if not info.team_text:
        raise ValueError(f"session {info.id} has no team file recorded, so it cannot be replayed")
    imported = is_imported(info)
    team = imported_team(info, config) if imported else parse_team(
        info.team_text, f"session {info.id} (team {info.team_name or '?'})", config)
    answers: dict[str, list[str]] = {}
    for e in events:
        if e["type"] == "human_reply":
            answers.setdefault(e["agent"], []).append(e.get("text", ""))

    async def recorded(agent: str, prompt: str) -> str:
        queue = answers.get(agent, [])
        return queue.pop(0) if queue else "exit"

    options = {} if imported else {k: v for k, v in (info.options or {}).items() if k in ("executor", "work_dir")}
    first = next((e for e in events if e["type"] == "message"), None)
    task = first.get("content") if first is not None else info.task
    replay_events: list[dict[str, Any]] = []
    # the replay's session has its own registry, of the scripted models
    session = Session.start(
        team, task, models=config, store=store, record=record, title=f"replay of {info.title or info.id}",
        human_input_mode="ALWAYS" if answers else None, ask_human=recorded if answers else None,
        imported=imported, approve_imported_code=approve_imported_code, **options)
    if record:
        store.update(session.id, team_name=info.team_name, team_text=info.team_text,
                     default_model=info.default_model, options={**(info.options or {}), "replay_of": info.id})
    async with session:
        async for event in session.stream():
            replay_events.append(event.to_dict())
            if on_event is not None:
                on_event(event)
    want, want_stop = transcript_key(events)
    got, got_stop = transcript_key(replay_events)
    diffs = []
    for i in range(max(len(want), len(got))):
        a = want[i] if i < len(want) else None
        b = got[i] if i < len(got) else None
        if a != b:
            diffs.append(f"message {i + 1}: recorded {a!r}, replayed {b!r}")
    if want_stop is not None and want_stop != got_stop:
        diffs.append(f"stop: recorded {want_stop!r}, replayed {got_stop!r}")
    return ReplayResult(session.id, not diffs, diffs, session.result)


def replay_session(session_id: str, **kwargs: Any) -> ReplayResult:
    """Sync form of ``a_replay_session``."""
    return asyncio.run(a_replay_session(session_id, **kwargs))
