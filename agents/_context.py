"""The running chat: where events go, what it has used so far, and how it is told to stop.

A chat sets a ``ChatRun`` in a context variable; agents deep inside the reply pipeline (streaming
tokens, running tools or code) reach it with ``current_run()`` instead of threading it through
every call. Nested chats get their own run whose events go to the same sink.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from dataclasses import dataclass
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from moot.backends import Usage

from .events import Event, new_id

if TYPE_CHECKING:
    from .termination import ExternalStop

Sink = Callable[[Event], Any]

_RUN: contextvars.ContextVar[ChatRun | None] = contextvars.ContextVar("moot_chat_run", default=None)


class ChatStop(Exception):
    """Raised inside a reply to stop the whole chat with a reason (e.g. no executor)."""

    def __init__(self, reason: str, condition: str = "error"):
        super().__init__(reason)
        self.reason = reason
        self.condition = condition


@dataclass(frozen=True, slots=True)
class NoReply:
    """What a reply step gives when the agent will not reply, and why: the chat stops with this
    reason and condition (a value handed back, never a flag left on the agent). Falsy, like
    AutoGen's ``None`` reply."""

    reason: str
    condition: str

    def __bool__(self) -> bool:
        return False


class ChatRun:
    """One chat while it runs."""

    __slots__ = ("chat_id", "sink", "parent", "usage", "stops", "turn_id", "started", "human_input", "silent",
                 "last_posted_id")

    def __init__(self, sink: Sink | None, parent: ChatRun | None = None, silent: bool = True):
        self.chat_id = new_id("chat")
        self.sink = sink
        self.parent = parent
        self.usage: dict[str, Usage] = {}
        self.stops: list[ExternalStop] = list(parent.stops) if parent else []
        # The id of the turn being generated: the chat loop picks it before asking for a reply, the
        # reply's token deltas carry it, and the loop sends the reply with it.
        self.turn_id: str | None = None
        self.started = time.monotonic()
        self.human_input: list[str] = []
        self.silent = silent
        self.last_posted_id: str | None = None  # the message being delivered (memos name their source by it)

    def emit(self, event: Event) -> None:
        if self.sink is not None:
            self.sink(event)

    def add_usage(self, model: str, usage: Usage) -> None:
        run: ChatRun | None = self
        while run is not None:  # an inner chat's tokens count in the chats around it too
            so_far = run.usage.get(model)
            run.usage[model] = usage if so_far is None else so_far + usage  # Usage values are never changed
            run = run.parent

    def total_tokens(self) -> int:
        return sum(u.total_tokens for u in self.usage.values())

    def stop_requested(self) -> ExternalStop | None:
        for handle in self.stops:
            if handle.is_set():
                return handle
        return None

    def bounded(self, stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """``stream`` (a model call's), stopped with a ``ChatStop`` when the first time limit among
        the stop handles (a team's ``[termination] timeout_s``) passes, even while nothing arrives;
        ``stream`` itself when there is none."""
        limits = [h for h in self.stops if hasattr(h, "deadline")]
        if not limits:
            return stream
        return _until(stream, min(limits, key=lambda h: h.deadline()))


async def _until(stream: AsyncIterator[Any], limit: Any) -> AsyncIterator[Any]:
    """``stream`` under one deadline for the whole call: one ``asyncio.timeout``, held off while an
    item is handed on (a caller that stops there must not be cancelled later)."""
    loop = asyncio.get_running_loop()
    when = loop.time() + limit.deadline() - time.monotonic()
    timer = asyncio.timeout_at(when)
    try:
        async with timer:
            async for item in stream:
                timer.reschedule(None)
                yield item
                timer.reschedule(when)
    except TimeoutError:
        if not timer.expired():
            raise
        reason, condition = limit.interrupt()
        raise ChatStop(reason, condition) from None
    finally:
        await stream.aclose()


def current_run() -> ChatRun | None:
    return _RUN.get()


def enter_run(run: ChatRun) -> contextvars.Token[ChatRun | None]:
    return _RUN.set(run)


def leave_run(token: contextvars.Token[ChatRun | None]) -> None:
    _RUN.reset(token)
