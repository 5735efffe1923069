"""The one turn loop: who speaks next, their reply, its delivery, and whether the chat stops.

A ``ChatLoop`` drives a chat with one of two strategies:

- ``two_agent``: two agents reply to each other (``initiate_chat`` between two agents, and the
  outer loop of a group chat, whose second agent is the manager);
- ``group``: the ``GroupChatManager``'s reply: a speaker is selected, replies, and the reply is
  broadcast to the group, until a stop.

Both share the termination bookkeeping (``Progress``), pick each turn's message id before asking
for the reply (its token deltas and the message it becomes carry that id), and end with a
``NoReply`` value: the reason and condition of the stop. The loop knows agents only through
their public reply/send methods, so this module imports no agent class.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from ._context import ChatRun, NoReply
from .events import MessagePosted, SpeakerSelected, new_id
from .termination import ChatState, Fired, TerminationCondition

if TYPE_CHECKING:
    from ._agent import ConversableAgent
    from ._groupchat import GroupChat, GroupChatManager

__all__ = ["ChatLoop", "NoReply", "Progress", "ask_reply"]


class Progress:
    """Termination bookkeeping of one loop: messages seen, tokens used, time spent."""

    def __init__(self, run: ChatRun, condition: TerminationCondition | None):
        self.run = run
        self.condition = condition
        self.state = ChatState()
        if condition is not None:
            condition.reset()
            run.stops.extend(condition.interrupters())

    def observe(self, message: dict[str, Any], sender: str) -> Fired | None:
        state = self.state
        state.messages += 1
        if self.condition is None:
            return None
        state.tokens = self.run.total_tokens()
        return self.condition.check(message, sender, state)

    def tick(self, next_speaker: str | None = None) -> Fired | None:
        if self.condition is None:
            return None
        self.state.next_speaker = next_speaker
        self.state.tokens = self.run.total_tokens()
        return self.condition.check(None, None, self.state)

    def restore(self, seen: list[tuple[dict[str, Any], str]], elapsed: float) -> Fired | None:
        """A resumed chat: the conditions see the recorded messages again and count the time
        already spent. Only the last message can fire (the chat went on after the others)."""
        self.state.started = time.monotonic() - elapsed
        if self.condition is not None:
            self.condition.restore_elapsed(elapsed)
        fired = None
        for message, sender in seen:
            fired = self.observe(message, sender)
        return fired


def _stopped(fired: Fired) -> NoReply:
    return NoReply(fired.reason, fired.condition)


def ask_reply(agent: ConversableAgent, messages: list[dict[str, Any]] | None, sender: Any) -> Awaitable[Any]:
    """The agent's reply (to await), or a ``NoReply`` saying why there is none. An agent whose
    class or instance replaces ``a_generate_reply`` (AutoGen scripts do) is asked through it."""
    generate = agent.a_generate_reply
    if getattr(generate, "moot_pipeline", False):  # the engine's own: the value with the reason
        return agent.a_reply(messages, sender)
    return _ask_replaced(agent, generate, messages, sender)


async def _ask_replaced(agent: Any, generate: Any, messages: Any, sender: Any) -> Any:
    reply = await generate(messages=messages, sender=sender)
    return NoReply(f"{agent.name} had no reply", "no_reply") if reply is None else reply


class ChatLoop:
    """One chat's turns, with the two-agent or the group strategy."""

    def __init__(self, run: ChatRun, condition: TerminationCondition | None):
        self.run = run
        self.progress = Progress(run, condition)

    async def _turn(self, speaker: ConversableAgent, messages: list[dict[str, Any]] | None, sender: Any,
                    silent: bool) -> NoReply | None:
        """One reply of ``speaker`` to ``sender``, sent to it; a ``NoReply`` ends the chat."""
        run = self.run
        turn_id = run.turn_id = new_id()
        try:
            reply = await ask_reply(speaker, messages, sender)
        finally:
            run.turn_id = None
        if isinstance(reply, NoReply):
            return reply
        if reply is None:
            return NoReply(f"{speaker.name} had no reply", "no_reply")
        await speaker.a_send(reply, sender, request_reply=False, silent=silent, message_id=turn_id)
        return None

    async def two_agent(self, speaker: ConversableAgent, other: ConversableAgent, limit: int | None,
                        silent: bool) -> NoReply:
        """Let the two reply to each other, ``speaker`` first, until a stop (``limit``: messages)."""
        progress = self.progress
        while True:
            if limit is not None and progress.state.messages >= limit:
                return NoReply(f"max_turns reached ({limit // 2} turns, {limit} messages)", "max_turns")
            fired = progress.tick(speaker.name)
            if fired is not None:
                return _stopped(fired)
            stop = await self._turn(speaker, speaker.chat_messages[other], other, silent)
            if stop is not None:
                return stop
            fired = progress.observe(speaker.chat_messages[other][-1], speaker.name)
            if fired is not None:
                return _stopped(fired)
            speaker, other = other, speaker

    async def group(self, manager: GroupChatManager, groupchat: GroupChat, message: dict[str, Any], speaker: Any,
                    *, silent: bool, posted: bool = False, rounds: int = 0) -> NoReply:
        """Run the group from ``message`` said by ``speaker`` until a stop.

        ``posted``: the message is already in the group (a resumed chat goes on after it);
        ``rounds``: messages this run of the group has already had (``max_round`` counts them,
        as in AutoGen, per run of the manager's reply)."""
        progress = self.progress
        run = self.run
        last_pool: Any = None
        last_names: tuple[str, ...] = ()
        watched = progress.condition is not None  # else only the count is kept (no call per message)
        stored = False  # the first message is the caller's; each one after it a copy of the manager's stored form
        state = progress.state
        while True:
            if not posted:
                groupchat.append(message, speaker)
                manager.broadcast(message, speaker, stored=stored)
                rounds += 1
                if watched:
                    fired = progress.observe(message, speaker.name)
                    if fired is not None:
                        return _stopped(fired)
                else:
                    state.messages += 1
            posted = False
            if manager._is_termination_msg(message):
                return NoReply(f"{manager.name}: is_termination_msg matched the message from {speaker.name}",
                               "is_termination_msg")
            if rounds >= groupchat.max_round:
                return NoReply(f"max_round reached ({groupchat.max_round} messages)", "max_round")
            selection = groupchat.select_now(speaker) or await groupchat.a_select_speaker(speaker, manager)
            candidates = selection.candidates
            if candidates is not last_pool:  # the same pool (often all agents): its names once
                last_pool, last_names = candidates, tuple(a.name for a in candidates)
            run.emit(SpeakerSelected(run.chat_id, selection.agent.name if selection.agent else "", last_names,
                                     selection.method, selection.reason, selection.raw_answer,
                                     selection.fallback))  # positional (the fields' order): every turn
            if selection.agent is None:
                return NoReply(f"speaker selection ended the chat: {selection.reason}", "speaker_selection")
            speaker = selection.agent
            if watched:
                fired = progress.tick(speaker.name)
                if fired is not None:
                    return _stopped(fired)
            stop = await self._turn(speaker, None, manager, silent)
            if stop is not None:
                return stop
            message = dict(manager.chat_messages[speaker][-1])
            stored = True

    def introduce(self, manager: GroupChatManager, groupchat: GroupChat) -> None:
        """The group's introductions: every member reads them; the transcript shows them once."""
        intro = groupchat.introductions_msg()
        for agent in groupchat.agents:
            deliver = getattr(agent, "deliver", None)
            if deliver is not None:
                deliver({"content": intro, "name": manager.name}, manager)
        run = self.run
        run.emit(MessagePosted(run.chat_id, message_id=new_id(), sender=manager.name, recipient="*", role="user",
                               content=intro, name=manager.name))
