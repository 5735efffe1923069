"""Recorded sessions brought back to life: resume a chat where it stopped, replay it on the
scripted backend. The store itself (``memory.SessionStore``) only keeps events; this is the part
that knows how the engine's state follows from them.

Resume rebuilds the agents from the session's team file, replays the recorded messages into the
agents' histories (both sides of every message, the group chat's list and every member's copy),
restores the consecutive auto-reply counters, the termination conditions' progress (every
condition sees the recorded messages again; a timeout counts the time already spent), the tokens
used, where each scripted model was in its script, and goes on from the last completed message
with the same chat id. A reply that was streaming when the process died is run again.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moot.backends import ConfigError, Usage, load_models, parse_models

from . import _models
from ._agent import ConversableAgent
from ._chat import ChatResult, ChatStream, _drive, _Turns
from ._context import ChatRun
from ._groupchat import GroupChatManager
from ._teams import BuiltTeam, parse_team
from .events import Event, NoticeEvent
from .termination import AllOf, AnyOf, ChatState, Fired, TerminationCondition, Timeout

__all__ = ["ReplayResult", "ResumeState", "a_replay_session", "a_resume_session", "replay_session", "restore_chat",
           "resume_session", "transcript_key"]


def _shift_timeouts(condition: TerminationCondition | None, elapsed: float) -> None:
    if condition is None:
        return
    if isinstance(condition, Timeout):
        condition._started = time.monotonic() - elapsed
    for part in getattr(condition, "parts", ()):
        _shift_timeouts(part, elapsed)


@dataclass
class ResumeState:
    """What ``a_initiate_chat(..., _resume=state)`` needs to go on with a restored chat."""

    chat_id: str
    usage: dict[str, Usage]
    elapsed: float
    outer: list[tuple[dict[str, Any], str]]  # what the chat's own termination saw
    group: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # what the group's saw
    last_sender: str | None = None
    manager: GroupChatManager | None = None

    def enter(self, run: ChatRun) -> None:
        run.chat_id = self.chat_id
        for model, u in self.usage.items():
            run.usage[model] = u

    def _replay(self, turns: _Turns, seen: list[tuple[dict[str, Any], str]]) -> Fired | None:
        turns.state.started = time.monotonic() - self.elapsed
        _shift_timeouts(turns.condition, self.elapsed)
        fired = None
        for message, sender in seen:
            fired = turns.observe(message, sender)  # only the last can fire: the chat went on after the others
        return fired

    def restore_turns(self, turns: _Turns) -> tuple[Any, Fired | None]:
        """For the group chat loop: its termination progress, and who spoke last."""
        assert self.manager is not None
        fired = self._replay(turns, self.group)
        speaker = self.manager.groupchat.agent_by_name(self.group[-1][1]) if self.group else None
        return speaker, fired

    async def go_on(self, initiator: ConversableAgent, recipient: ConversableAgent, turns: _Turns,
                    max_turns: int | None, silent: bool) -> tuple[str, str]:
        fired = self._replay(turns, self.outer)
        if fired is not None:
            return fired.reason, fired.condition
        limit = 2 * max_turns if max_turns is not None else None
        if isinstance(recipient, GroupChatManager):
            recipient._resume_group = self
            return await _drive(recipient, initiator, turns, limit, silent)
        if self.last_sender == recipient.name:
            return await _drive(initiator, recipient, turns, limit, silent)
        return await _drive(recipient, initiator, turns, limit, silent)


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


def restore_chat(built: BuiltTeam, events: list[dict[str, Any]], root_chat_id: str | None = None) -> ResumeState:
    """Put the recorded chat's state into freshly built agents; returns what the chat loop needs
    to go on (``a_initiate_chat(..., _resume=state)``)."""
    initiator, recipient = built.initiator, built.recipient
    root = root_chat_id or next((e["chat_id"] for e in events if e["type"] == "chat_started"
                                 and not e.get("parent_chat_id")), None)
    if root is None:
        raise ValueError("the recording has no chat to resume (no chat_started event)")
    agents: dict[str, ConversableAgent] = dict(built.members)
    agents[initiator.name] = initiator
    agents[recipient.name] = recipient
    manager = recipient if isinstance(recipient, GroupChatManager) else None
    if manager is not None:
        for a in manager.groupchat.agents:
            if isinstance(a, ConversableAgent):
                agents.setdefault(a.name, a)
    for agent, partner in ((initiator, recipient), (recipient, initiator)):
        agent.clear_history(partner)
        agent.reset_consecutive_auto_reply_counter(partner)
    if manager is not None:
        manager.groupchat.reset_messages()
    state = ResumeState(chat_id=root, usage={}, elapsed=0.0, outer=[], manager=manager)
    human: dict[str, str] = {}  # the last human answer of each agent since its last message
    first_ts = last_ts = None
    agent_usage: dict[str, dict[str, Usage]] = {}
    for e in events:
        kind = e["type"]
        if kind == "usage":
            u = Usage(prompt_tokens=e.get("prompt_tokens", 0), completion_tokens=e.get("completion_tokens", 0),
                      cached_tokens=e.get("cached_tokens", 0))
            state.usage[e["model"]] = state.usage.get(e["model"], Usage()) + u
            per = agent_usage.setdefault(e.get("agent", ""), {})
            per[e["model"]] = per.get(e["model"], Usage()) + u
        if e["chat_id"] != root:
            continue
        first_ts = first_ts if first_ts is not None else e.get("ts")
        last_ts = e.get("ts", last_ts)
        if kind == "human_reply":
            human[e["agent"]] = e.get("text", "")
        elif kind == "message":
            sender, to = agents.get(e["sender"]), e["recipient"]
            if to == "*" and manager is not None:  # the group's introductions
                for a in manager.groupchat.agents:
                    if isinstance(a, ConversableAgent):
                        a._deliver({"content": e.get("content"), "name": manager.name}, manager)
                continue
            target = agents.get(to)
            if sender is None or target is None:
                raise ValueError(f"the recording names {e['sender']!r} -> {to!r}, who are not in the team")
            msg = _message(e, sender.name)
            sender._append(msg, "assistant", target, sender.name)
            target._append(msg, "user", sender, sender.name)
            if state.last_sender is not None:  # every message but the first is a reply
                answer = human.pop(sender.name, "")
                if answer and answer != "exit":
                    sender._consecutive_auto_reply_counter[target] = 0
                else:
                    sender._consecutive_auto_reply_counter[target] += 1
            state.last_sender = sender.name
            if manager is not None and target is manager:
                stored = dict(manager._oai_messages[sender][-1])
                manager.groupchat.append(stored, sender)
                manager._broadcast(stored, sender, manager.groupchat)
                state.group.append((stored, sender.name))
                if not state.outer:
                    state.outer.append((sender.chat_messages[target][-1], sender.name))
            elif manager is None:
                state.outer.append((sender.chat_messages[target][-1], sender.name))
    for name, per in agent_usage.items():
        if name in agents:
            agents[name]._usage = dict(per)
    if state.last_sender is None:
        raise ValueError("the recording holds no message yet: start the chat again instead")
    state.elapsed = max(0.0, (last_ts or 0.0) - (first_ts or 0.0))
    return state


def _scripted_positions(events: list[dict[str, Any]]) -> None:
    """A scripted model goes on from where it was: one reply per completed call."""
    calls: dict[str, int] = {}
    for e in events:
        if e["type"] == "usage":
            calls[e["model"]] = calls.get(e["model"], 0) + 1
    registry = _models.current_registry()
    for model, n in calls.items():
        try:
            backend = registry.backend(model)
        except ConfigError:
            continue
        if type(backend).__name__ == "ScriptedBackend":
            backend.calls = n


def _open_store(store: Any) -> Any:
    if store is not None:
        return store
    from moot.memory import SessionStore

    return SessionStore.open_default()


def _models_for(info: Any, models: Any) -> Any:
    if models is not None:
        return load_models(models) if isinstance(models, (str, Path)) else models
    if info.models_source and Path(info.models_source).is_file():
        return load_models(info.models_source)
    return load_models()


def _build(info: Any, models: Any, overrides: dict[str, Any]) -> BuiltTeam:
    if not info.team_text:
        raise ValueError(f"session {info.id} has no team file recorded, so it cannot be rebuilt")
    team = parse_team(info.team_text, f"session {info.id} (team {info.team_name or '?'})", models)
    options = {k: v for k, v in (info.options or {}).items() if k in ("executor", "work_dir", "human_input_mode")}
    options.update({k: v for k, v in overrides.items() if v is not None})
    return team.build(**options)


async def _run(stream: ChatStream, recorder: Any, on_event: Callable[[Event], Any] | None) -> ChatResult | None:
    try:
        async for event in stream:
            recorder(event)
            if on_event is not None:
                on_event(event)
    finally:
        await stream.aclose()
    return stream.result


async def a_resume_session(session_id: str, *, store: Any = None, models: Any = None,
                           on_event: Callable[[Event], Any] | None = None,
                           human_input_mode: str | None = None) -> ChatResult | None:
    """Go on with a recorded session (same id, events appended) until the chat stops.

    ``models``: a models.toml path or ``ModelsConfig`` (default: the file the session ran with).
    ``on_event`` sees every new event. Raises ``SessionBusy`` when another process runs it.
    """
    from moot.memory import SessionStoreError

    store = _open_store(store)
    info = store.get(session_id)
    if info.status == "running":  # get() marks a dead run interrupted, so someone runs this one
        store.release(store.acquire(info.id))  # raises SessionBusy naming the process
    if not info.resumable:
        raise SessionStoreError(f"session {info.id} finished ({info.stop_reason}); there is nothing to resume. "
                                f"Fork it at a message to take another path: moot sessions fork {info.id} --at N")
    config = _models_for(info, models)
    _models.use_models(config)
    built = _build(info, config, {"human_input_mode": human_input_mode or (info.options or {}).get("human_input_mode")})
    recorder = store.recorder(session_id=info.id)  # takes the session's lock first
    try:
        events = store.events(info.id)
        state = restore_chat(built, events, info.root_chat_id)
        _scripted_positions(events)
        count = sum(1 for e in events if e["type"] == "message" and e["chat_id"] == state.chat_id)
        note = f"resumed after message {count}"
        if info.interrupted_message_id:
            note += "; the reply that was streaming when it stopped was cut off and is asked for again"
        notice = NoticeEvent(state.chat_id, agent=built.recipient.name, text=note, kind="resumed")
        recorder(notice)
        if on_event is not None:
            on_event(notice)
        stream = ChatStream(built.initiator, built.recipient, _resume=state, **built.chat_kwargs)
        result = await _run(stream, recorder, on_event)
    except BaseException:
        recorder.close(interrupted=True)
        raise
    recorder.close()
    return result


def resume_session(session_id: str, **kwargs: Any) -> ChatResult | None:
    """Sync form of ``a_resume_session``."""
    return asyncio.run(a_resume_session(session_id, **kwargs))


# -- replay --------------------------------------------------------------------------------------

def transcript_key(events: list[dict[str, Any]]) -> tuple[list[tuple[Any, ...]], str | None]:
    """What must match for two runs to have the same transcript: every message of the root chat
    (sender, recipient, content, tool calls by name and arguments) and how it stopped."""
    root = next((e["chat_id"] for e in events if e["type"] == "chat_started" and not e.get("parent_chat_id")), None)
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
    the summary of the chat."""
    scripts: dict[str, list[dict[str, Any]]] = {}
    pending: list[tuple[str, str]] = []  # (model, agent) of calls whose reply is not seen yet

    def take(agent: str, reply: dict[str, Any]) -> None:
        mine = [p for p in pending if p[1] == agent]
        for p in mine[:-1]:  # earlier calls of the same agent gave nothing usable (retries)
            scripts.setdefault(p[0], []).append({"content": ""})
            pending.remove(p)
        if mine:
            scripts.setdefault(mine[-1][0], []).append(reply)
            pending.remove(mine[-1])

    for e in events:
        kind = e["type"]
        if kind == "usage":
            pending.append((e["model"], e.get("agent", "")))
            scripts.setdefault(e["model"], [])
        elif kind == "message":
            calls = []
            for c in e.get("tool_calls") or ():
                fn = c.get("function", {})
                calls.append({"name": fn.get("name", ""), "arguments": fn.get("arguments", "")})
            take(e["sender"], {"content": e.get("content") or "", "tool_calls": calls})
        elif kind == "speaker_selected" and e.get("raw_answer") is not None:
            for model, agent in list(pending):
                take(agent, {"content": e["raw_answer"]})
                break
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
                           record: bool = True) -> ReplayResult:
    """Run a recorded session again with every model replaced by the scripted backend serving the
    recorded replies (and the human's recorded answers), and compare the transcripts."""
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
    folder = Path(tempfile.mkdtemp(prefix="moot-replay-"))
    lines = ["schema_version = 1", f"default = {json.dumps(default or names[0])}"]
    for name in names:
        path = folder / f"{len(lines)}.jsonl"
        replies = scripts.get(name) or [{"content": ""}]
        path.write_text("".join(json.dumps(r) + "\n" for r in replies), encoding="utf-8")
        lines += ["[[models]]", f"name = {json.dumps(name)}", 'backend = "scripted"', f"script = {json.dumps(str(path))}"]
    config = parse_models("\n".join(lines) + "\n", f"replay of session {info.id}")
    previous = _models._registry
    _models.use_models(config)
    try:
        built = _build(info, config, {"human_input_mode": "ALWAYS" if any(e["type"] == "human_reply" for e in events) else None})
        answers: dict[str, list[str]] = {}
        for e in events:
            if e["type"] == "human_reply":
                answers.setdefault(e["agent"], []).append(e.get("text", ""))
        for agent in {*built.members.values(), built.initiator, built.recipient}:
            queue = answers.get(agent.name, [])

            async def recorded(prompt: str, queue: list[str] = queue) -> str:
                return queue.pop(0) if queue else "exit"

            agent.a_get_human_input = recorded  # type: ignore[method-assign]
        first = next((e for e in events if e["type"] == "message"), None)
        task = first.get("content") if first is not None else info.task
        replay_events: list[dict[str, Any]] = []

        def collect(event: Event) -> None:
            replay_events.append(event.to_dict())
            if on_event is not None:
                on_event(event)

        stream = ChatStream(built.initiator, built.recipient, message=task, **built.chat_kwargs)
        if record:
            recorder = store.recorder(title=f"replay of {info.title or info.id}", team=None, task=info.task,
                                      options={**(info.options or {}), "replay_of": info.id})
            store.update(recorder.session_id, team_name=info.team_name, team_text=info.team_text,
                         default_model=info.default_model)
        else:
            recorder = _Null()
        try:
            result = await _run(stream, recorder, collect)
        except BaseException:
            recorder.close(interrupted=True)
            raise
        recorder.close()
    finally:
        _models._registry = previous
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
    return ReplayResult(recorder.session_id, not diffs, diffs, result)


class _Null:
    session_id = ""

    def __call__(self, event: Any) -> None:
        pass

    def close(self, **kwargs: Any) -> None:
        pass


def replay_session(session_id: str, **kwargs: Any) -> ReplayResult:
    """Sync form of ``a_replay_session``."""
    return asyncio.run(a_replay_session(session_id, **kwargs))
