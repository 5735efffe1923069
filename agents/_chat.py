"""Two-agent chats: the turn loop, summaries, sequential chats with carryover, nested chats, and
the event stream form of a chat."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from moot.backends import Usage

from ._code import ready_executors
from ._context import ChatRun, ChatStop, NoReply, Sink, current_run, enter_run, leave_run
from ._loop import ChatLoop
from ._messages import content_str
from ._models import using_models
from ._sync import run_sync
from .events import ChatStarted, Event, NoticeEvent, Stopped
from .termination import TerminationCondition

if TYPE_CHECKING:
    from ._agent import ConversableAgent


@dataclass
class ChatResult:
    """What a chat produced. ``stop_reason`` always says why it stopped; ``stop_condition`` names
    what fired (``max_turns``, ``is_termination_msg``, ``TextMention``, ``backend_error``...)."""

    chat_id: str | None = None
    chat_history: list[dict[str, Any]] = field(default_factory=list)
    summary: str = ""
    cost: dict[str, Any] = field(default_factory=dict)
    human_input: list[str] = field(default_factory=list)
    stop_reason: str = ""
    stop_condition: str = ""
    usage: dict[str, Usage] = field(default_factory=dict)


def cost_of(usage: dict[str, Usage]) -> dict[str, Any]:
    """AutoGen's cost shape (local models cost nothing; tokens are what matters)."""
    block: dict[str, Any] = {"total_cost": 0.0}
    for model, u in usage.items():
        block[model] = {"cost": 0.0, "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                        "total_tokens": u.total_tokens}
    excluding: dict[str, Any] = {"total_cost": 0.0}
    for model, u in usage.items():
        evaluated = u.prompt_tokens - u.cached_tokens
        excluding[model] = {"cost": 0.0, "prompt_tokens": evaluated, "completion_tokens": u.completion_tokens,
                            "total_tokens": evaluated + u.completion_tokens}
    return {"usage_including_cached_inference": block, "usage_excluding_cached_inference": excluding}


def _carryover_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and "content" in item:
        return content_str(item["content"])
    return str(item)


def process_carryover(message: Any, kwargs: dict[str, Any]) -> Any:
    """Append ``carryover`` (a string or a list) to the first message, as AutoGen does."""
    carryover = kwargs.get("carryover")
    if not carryover:
        return message
    if isinstance(carryover, str):
        carryover = [carryover]
    text = "\nContext: \n" + "\n".join(_carryover_text(c) for c in carryover)
    if isinstance(message, dict):
        message = dict(message)
        message["content"] = content_str(message.get("content")) + text
        return message
    return ("" if message is None else str(message)) + text


@dataclass
class Continuation:
    """How a recorded chat goes on, instead of starting anew (the ``Session`` builds it from the
    recording, after restoring every agent's history through their public methods).

    ``message``: a new message from the initiator (the chat goes on after a stop, as when the
    user types in the app); ``None``: the run that stopped goes on where it stopped (resume).
    """

    chat_id: str
    usage: dict[str, Usage] = field(default_factory=dict)
    message: Any = None
    elapsed: float = 0.0  # time the run being resumed had already taken
    seen: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # what the chat's termination saw
    recipient_next: bool = True  # two agents: the recipient speaks next (else the initiator)
    group_seen: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # the group's, this run
    group_speaker: str | None = None  # who said the group's last message


async def continue_conversation(responder: ConversableAgent, sender: ConversableAgent, silent: bool = False) -> None:
    """``receive(..., request_reply=True)`` outside ``initiate_chat``: the two go on replying to
    each other (AutoGen recurses; this loops)."""
    run = current_run()
    own = run is None
    if own:
        run = ChatRun(None)
        token = enter_run(run)
    try:
        try:
            await ChatLoop(run, None).two_agent(responder, sender, None, silent)
        except ChatStop as stop:
            run.emit(NoticeEvent(run.chat_id, agent=responder.name, text=stop.reason, kind="stopped"))
    finally:
        if own:
            leave_run(token)


def _history(initiator: ConversableAgent, recipient: ConversableAgent) -> list[dict[str, Any]]:
    group = getattr(recipient, "groupchat", None)
    if group is not None and initiator not in group.agents:
        return list(group.messages)  # AutoGen would give only the first message here
    return list(initiator.chat_messages[recipient])


async def _go_on(initiator: ConversableAgent, recipient: ConversableAgent, loop: ChatLoop, plan: Continuation,
                 limit: int | None, silent: bool) -> NoReply:
    """The chat that stopped goes on: with the new message, or from where it stopped."""
    group = getattr(recipient, "groupchat", None)
    if plan.message is not None:
        await initiator.a_send(plan.message, recipient, request_reply=False, silent=silent)
        fired = loop.progress.observe(initiator.chat_messages[recipient][-1], initiator.name)
        if fired is not None:
            return NoReply(fired.reason, fired.condition)
        return await loop.two_agent(recipient, initiator, limit, silent)
    fired = loop.progress.restore(plan.seen, plan.elapsed)
    if fired is not None:
        return NoReply(fired.reason, fired.condition)
    if group is not None and plan.group_speaker is not None:
        # Inside the manager's reply: the group goes on after its last message.
        inner = ChatLoop(loop.run, group.termination)
        fired = inner.progress.restore(plan.group_seen, plan.elapsed)
        if fired is not None:
            return NoReply(fired.reason, fired.condition)
        speaker = group.agent_by_name(plan.group_speaker)
        return await inner.group(recipient, group, group.messages[-1], speaker, silent=silent,
                                 posted=True, rounds=len(plan.group_seen))
    if plan.recipient_next:
        return await loop.two_agent(recipient, initiator, limit, silent)
    return await loop.two_agent(initiator, recipient, limit, silent)


_heap_frozen = False


def _freeze_startup_heap() -> None:
    """Once per process, when the first chat starts: move every object alive then (the imported
    modules, the config, the agents) out of the garbage collector's reach. They live as long as
    the process anyway, and a full collection would otherwise walk all of them again every few
    thousand allocations of a long chat (measured: a fifth of a scripted group chat's CPU time).
    ``MOOT_GC_FREEZE=0`` turns it off."""
    global _heap_frozen
    if _heap_frozen:
        return
    _heap_frozen = True
    if os.environ.get("MOOT_GC_FREEZE", "1") != "0":
        gc.freeze()


async def a_initiate_chat(initiator: ConversableAgent, recipient: ConversableAgent, *, clear_history: bool = True,
                          silent: bool | None = False, max_turns: int | None = None,
                          summary_method: str | Callable[..., Any] | None = "last_msg",
                          summary_args: dict[str, Any] | None = None, message: Any = None,
                          termination: TerminationCondition | None = None, _sink: Sink | None = None,
                          _continue: Continuation | None = None, **kwargs: Any) -> ChatResult:
    if max_turns is not None and max_turns < 0:
        raise ValueError("max_turns must be >= 0")
    if summary_method is not None and not callable(summary_method) and summary_method not in SUMMARY_METHODS:
        raise ValueError(f"summary_method must be one of {', '.join(SUMMARY_METHODS)} or a callable, not {summary_method!r}")
    parent = current_run()
    if parent is None:
        _freeze_startup_heap()
    run = ChatRun(_sink if _sink is not None else (parent.sink if parent else None), parent, silent=bool(silent))
    if _continue is not None:  # a recorded chat goes on, with its id and the tokens it used
        run.chat_id = _continue.chat_id
        run.usage.update(_continue.usage)
    token = enter_run(run)
    silent = bool(silent)
    try:
        for agent, partner in ((initiator, recipient), (recipient, initiator)):
            agent.reply_at_receive[partner] = False  # the loop below drives the replies
            if _continue is None:
                agent.reset_consecutive_auto_reply_counter(partner)
                if clear_history:
                    agent.clear_history(partner)
        group = getattr(recipient, "groupchat", None)
        if group is not None and clear_history and _continue is None:
            group.reset_messages()
        if group is not None and _continue is None and hasattr(recipient, "prepare_members"):
            recipient.prepare_members(initiator, clear_history)  # the members start afresh too, as in AutoGen
        participants = tuple(a.name for a in group.agents) if group is not None else (initiator.name, recipient.name)
        if _continue is None:
            run.emit(ChatStarted(run.chat_id, initiator=initiator.name, participants=participants,
                                 kind="group" if group is not None else "two_agent",
                                 parent_chat_id=parent.chat_id if parent else None, max_turns=max_turns))
        loop = ChatLoop(run, termination)
        limit = 2 * max_turns if max_turns is not None else None
        try:
            # Code-running agents get their executors now, before the first model call: a team
            # that cannot run code here stops at once, saying why (after the task, so it resumes).
            coders = group.agents if group is not None else (initiator, recipient)
            if _continue is not None:
                ready_executors(coders)
                stop = await _go_on(initiator, recipient, loop, _continue, limit, silent)
            elif max_turns == 0:
                stop = NoReply("max_turns is 0: nothing was sent", "max_turns")
            else:
                if callable(message):
                    message = message(initiator, recipient, kwargs)
                first = await initiator.a_generate_init_message(message, **kwargs)
                await initiator.a_send(first, recipient, request_reply=False, silent=silent)
                fired = loop.progress.observe(initiator.chat_messages[recipient][-1], initiator.name)
                if fired is not None:
                    stop = NoReply(fired.reason, fired.condition)
                else:
                    ready_executors(coders)
                    stop = await loop.two_agent(recipient, initiator, limit, silent)
            reason, condition = stop.reason, stop.condition
        except ChatStop as exc:
            reason, condition = exc.reason, exc.condition
        except (asyncio.CancelledError, KeyboardInterrupt):
            run.emit(Stopped(run.chat_id, reason="the chat was cancelled", condition="cancelled"))
            raise
        except Exception as exc:
            run.emit(Stopped(run.chat_id, reason=f"error: {type(exc).__name__}: {exc}", condition="error"))
            raise
        history = _history(initiator, recipient)
        try:
            summary = await _summarize(summary_method, summary_args or {}, initiator, recipient, history)
        except ChatStop as exc:
            summary = ""
            reason = f"{reason}; the summary failed: {exc.reason}"
        result = ChatResult(
            chat_id=run.chat_id, chat_history=history, summary=summary, cost=cost_of(run.usage),
            human_input=list(run.human_input), stop_reason=reason, stop_condition=condition, usage=dict(run.usage),
        )
        run.emit(Stopped(run.chat_id, reason=reason, condition=condition, summary=summary))
        return result
    finally:
        leave_run(token)


# -- summaries ---------------------------------------------------------------------------------

SUMMARY_METHODS = ("last_msg", "reflection_with_llm")


async def _summarize(method: Any, args: dict[str, Any], sender: ConversableAgent, recipient: ConversableAgent,
                     history: list[dict[str, Any]]) -> str:
    if method is None:
        return ""
    if callable(method):
        result = method(sender, recipient, args)
        if inspect.isawaitable(result):
            result = await result
        return content_str(result) if not isinstance(result, str) else result
    if method == "last_msg":
        for message in reversed(history):
            if message.get("content") is not None:
                return content_str(message["content"])
        return ""
    return await _reflection(sender, recipient, args, history)


async def _reflection(sender: ConversableAgent, recipient: ConversableAgent, args: dict[str, Any],
                      history: list[dict[str, Any]]) -> str:
    """AutoGen's ``reflection_with_llm``: the recipient's model (else the sender's) summarises."""
    prompt = args.get("summary_prompt") or sender.DEFAULT_SUMMARY_PROMPT
    role = args.get("summary_role") or "system"
    agent = recipient if recipient.client is not None else sender
    llm = agent.client
    if llm is None:
        raise ChatStop("summary_method='reflection_with_llm' needs an agent with a model; neither has one",
                       "summary_error")
    messages = [{"role": "system", "content": agent.system_message}] if agent.system_message else []
    messages += [*history, {"role": role if role in ("system", "user", "assistant") else "system", "content": prompt}]
    reply = agent._generate_oai_reply_from_client(llm_client=llm, messages=messages, cache=args.get("cache"))
    if inspect.isawaitable(reply):
        reply = await reply
    return content_str(reply.get("content") if isinstance(reply, dict) else reply)


# -- several chats -----------------------------------------------------------------------------

async def _run_queued(info: dict[str, Any], earlier: list[str]) -> ChatResult:
    """One chat of a queue, with the summaries of ``earlier`` chats carried over after its own."""
    info = dict(info)
    if "sender" not in info or "recipient" not in info:
        raise ValueError("each chat in the queue needs 'sender' and 'recipient'")
    carry = info.pop("carryover", [])
    if isinstance(carry, str):
        carry = [carry]
    sender = info.pop("sender")
    recipient = info.pop("recipient")
    for key in ("chat_id", "prerequisites", "finished_chat_indexes_to_exclude_from_carryover"):
        info.pop(key, None)
    cache = info.pop("cache", None)  # lent to the chat's agents for its length (initiate_chat's cache=)
    lent = sender._lend_cache(recipient, cache) if cache is not None else ()
    try:
        return await a_initiate_chat(sender, recipient, carryover=list(carry) + earlier, **info)
    finally:
        for agent, before in lent:
            agent.client_cache = before


async def chats_in_turn(chat_queue: list[dict[str, Any]]) -> list[ChatResult]:
    """Run chats in order; every chat's summary is carried over into the messages of the next
    ones (``finished_chat_indexes_to_exclude_from_carryover`` leaves some out)."""
    finished: list[ChatResult] = []
    for info in chat_queue:
        exclude = set(info.get("finished_chat_indexes_to_exclude_from_carryover", []))
        finished.append(await _run_queued(info, [r.summary for i, r in enumerate(finished) if i not in exclude]))
    return finished


async def _chats_by_id(chat_queue: list[dict[str, Any]]) -> dict[Any, ChatResult]:
    """AutoGen's async queue: each chat carries over the summaries of its ``prerequisites``
    (chat_ids) and runs after them; the results by chat_id, in the order the chats ran."""
    book = {info["chat_id"]: info for info in chat_queue}
    if len(book) != len(chat_queue):
        raise ValueError("a_initiate_chats: two chats in the queue have the same chat_id")
    for chat_id, info in book.items():
        unknown = [p for p in info.get("prerequisites", []) if p not in book]
        if unknown:
            raise ValueError(f"a_initiate_chats: chat {chat_id!r} has prerequisites {unknown} that no chat_id names")
    finished: dict[Any, ChatResult] = {}
    pending = list(book)
    while pending:
        ready = next((c for c in pending if all(p in finished for p in book[c].get("prerequisites", []))), None)
        if ready is None:
            raise ValueError(f"a_initiate_chats: the prerequisites of chats {pending} wait on each other")
        pending.remove(ready)
        info = book[ready]
        exclude = set(info.get("finished_chat_indexes_to_exclude_from_carryover", []))
        earlier = [finished[p].summary for p in info.get("prerequisites", []) if p not in exclude]
        finished[ready] = await _run_queued(info, earlier)
    return finished


async def a_initiate_chats(chat_queue: list[dict[str, Any]]) -> list[ChatResult] | dict[Any, ChatResult]:
    """Run chats in order, carrying summaries over (as ``initiate_chats``). When every chat names
    a ``chat_id`` (AutoGen's async form), a chat carries over only the summaries of its
    ``prerequisites`` (chat_ids), runs after them, and the result is ``{chat_id: ChatResult}``.
    Unlike AutoGen, chats that could run at once run one after another, so scripted and cached
    replies come in the same order every time."""
    if chat_queue and all(isinstance(info, dict) and "chat_id" in info for info in chat_queue):
        return await _chats_by_id(chat_queue)
    return await chats_in_turn(chat_queue)


def initiate_chats(chat_queue: list[dict[str, Any]]) -> list[ChatResult]:
    """Run chats in order, each dict holding ``sender``, ``recipient`` and ``initiate_chat``
    keywords; summaries carry over."""
    return run_sync(chats_in_turn(chat_queue))


async def summary_from_nested_chats(chat_queue: list[dict[str, Any]], recipient: ConversableAgent,
                                    messages: list[dict[str, Any]] | None = None, sender: Any = None,
                                    config: Any = None) -> tuple[bool, Any]:
    """The nested-chat reply: run the queue (the first chat starts from the message received) and
    answer with the last chat's summary."""
    last = content_str(messages[-1].get("content")) if messages else ""
    to_run = []
    for i, chat in enumerate(chat_queue):
        current = dict(chat)
        current.setdefault("sender", recipient)
        if current.get("sender") is None:
            current["sender"] = recipient
        msg = current.get("message")
        if msg is None and i == 0:
            msg = last
        if callable(msg):
            msg = msg(recipient, messages, sender, config)
            if inspect.isawaitable(msg):
                msg = await msg
        if msg:
            current["message"] = msg
            current.setdefault("silent", True)
            to_run.append(current)
    if not to_run:
        return True, None
    results = await chats_in_turn(to_run)
    return True, results[-1].summary


# -- streaming ---------------------------------------------------------------------------------

_DONE = object()


class ChatStream:
    """A chat as an async iterator of events::

        stream = user.run_stream(assistant, message="hi", max_turns=3)
        async for event in stream:
            ...
        stream.result.stop_reason

    Events arrive as they happen; the last one is ``Stopped``. Leaving the loop early (or
    ``await stream.aclose()``) cancels the chat.
    """

    def __init__(self, initiator: ConversableAgent, recipient: ConversableAgent, *, models: Any = None,
                 **kwargs: Any):
        kwargs.setdefault("silent", True)
        self._models = models  # a registry the chat's agents use (``using_models``), else the one in force
        self._args = (initiator, recipient)
        self._kwargs = kwargs
        self._task: asyncio.Task[ChatResult] | None = None
        self.result: ChatResult | None = None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        # A deque and a future rather than an asyncio.Queue: the chat appends without any
        # locking or wake-up cost unless the reader is actually waiting.
        buffer: deque[Any] = deque()
        waiter: list[asyncio.Future[None] | None] = [None]
        initiator, recipient = self._args

        def sink(event: Any) -> None:
            buffer.append(event)
            w = waiter[0]
            if w is not None and not w.done():
                w.set_result(None)

        async def runner() -> ChatResult:
            try:
                if self._models is None:
                    return await a_initiate_chat(initiator, recipient, _sink=sink, **self._kwargs)
                with using_models(self._models):  # this task's own context: nothing else sees it
                    return await a_initiate_chat(initiator, recipient, _sink=sink, **self._kwargs)
            finally:
                sink(_DONE)

        loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(runner())
        try:
            while True:
                if not buffer:
                    waiter[0] = loop.create_future()
                    await waiter[0]
                    waiter[0] = None
                item = buffer.popleft()
                if item is _DONE:
                    break
                yield item
            self.result = await self._task
        finally:
            if self._task is not None and not self._task.done():
                self._task.cancel()
                try:
                    await self._task
                except (asyncio.CancelledError, Exception):
                    pass

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def collect(self) -> list[Event]:
        """Run to the end and return every event."""
        return [e async for e in self]
