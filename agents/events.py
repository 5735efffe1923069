"""The events a chat emits, one async stream for the TUI, the headless console and the session store.

Every event is a small slotted dataclass with a ``type`` name, the id of the chat it belongs to
(nested chats have their own), and a wall-clock timestamp. ``to_dict()`` gives plain JSON-ready
data and ``Event.from_dict()`` rebuilds the event, so a recorded session can be replayed into the
same renderer. Message ids are unique across sessions and processes (a random per-process prefix
and a counter), so a stored transcript can be forked at a message without renumbering.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from .outcome import outcome_of

__all__ = [
    "ChatStarted",
    "CodeBlockFound",
    "ContextCompacted",
    "Event",
    "ExecutionFinished",
    "ExecutorOutput",
    "HumanInputRequested",
    "HumanReply",
    "MemoryProposed",
    "MemoryRecalled",
    "MemoryStored",
    "MessagePosted",
    "NoticeEvent",
    "ReasoningDelta",
    "SpeakerSelected",
    "Stopped",
    "TokenDelta",
    "ToolCallRequested",
    "ToolResult",
    "UsageReport",
    "new_id",
]

_PREFIX = os.urandom(5).hex()
_COUNTER = itertools.count(1)


def new_id(kind: str = "m") -> str:
    """A short id unique across processes and sessions (random prefix + counter)."""
    return "%s-%s-%x" % (kind, _PREFIX, next(_COUNTER))


_REGISTRY: dict[str, type[Event]] = {}


# Events are values: nothing changes one once it is made. They are not frozen dataclasses only
# for speed: a chat makes several per message, and a frozen one costs ~4x as much to create.
@dataclass(slots=True)
class Event:
    """Base of every event. ``chat_id`` names the chat (nested chats have their own)."""

    type: ClassVar[str] = "event"
    _fields: ClassVar[tuple[str, ...]] = ()

    chat_id: str
    ts: float = field(default_factory=time.time, kw_only=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # No zero-argument super() here: slotted dataclasses are re-created, which breaks its cell.
        if "type" in cls.__dict__:
            _REGISTRY[cls.type] = cls

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready) with a ``type`` key; ``Event.from_dict`` reverses it."""
        names = type(self)._fields
        if not names:  # computed once per class: dataclasses.fields() is slow
            names = tuple(f.name for f in fields(self))
            type(self)._fields = names
        out: dict[str, Any] = {"type": self.type}
        for name in names:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Event:
        """Rebuild an event from ``to_dict()`` output."""
        data = dict(data)
        kind = data.pop("type", None)
        cls = _REGISTRY.get(kind or "")
        if cls is None:
            raise ValueError(f"unknown event type {kind!r} (known: {', '.join(sorted(_REGISTRY))})")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass(slots=True)
class ChatStarted(Event):
    """A chat began: who takes part and how it was asked to run."""

    type: ClassVar[str] = "chat_started"
    initiator: str
    participants: tuple[str, ...]
    kind: str = "two_agent"  # or "group"
    parent_chat_id: str | None = None
    max_turns: int | None = None


@dataclass(slots=True)
class SpeakerSelected(Event):
    """The group chat chose who speaks next, among ``candidates``, and why."""

    type: ClassVar[str] = "speaker_selected"
    speaker: str
    candidates: tuple[str, ...]
    method: str
    reason: str = ""
    raw_answer: str | None = None  # what the selecting model answered, before matching
    fallback: str | None = None  # set when the method could not decide and a fallback chose


@dataclass(slots=True)
class TokenDelta(Event):
    """A piece of a reply while the model streams it; ``message_id`` is the message it becomes."""

    type: ClassVar[str] = "token_delta"
    agent: str
    message_id: str
    text: str


@dataclass(slots=True)
class ReasoningDelta(Event):
    """A piece of the model's reasoning while it streams (``<think>`` text, ``reasoning_content``):
    shown apart from the reply, never part of the message or of any later prompt."""

    type: ClassVar[str] = "reasoning_delta"
    agent: str
    message_id: str
    text: str


@dataclass(slots=True)
class MessagePosted(Event):
    """A message was sent from one agent to another (AutoGen's message dict, flattened)."""

    type: ClassVar[str] = "message"
    message_id: str
    sender: str
    recipient: str
    role: str
    content: str | None
    name: str | None = None
    tool_calls: tuple[dict[str, Any], ...] = ()
    tool_responses: tuple[dict[str, Any], ...] = ()

    def as_message(self) -> dict[str, Any]:
        """The AutoGen-shaped message dict, as the sender stored it."""
        msg: dict[str, Any] = {"content": self.content, "role": self.role, "name": self.name or self.sender}
        if self.tool_calls:
            msg["tool_calls"] = [dict(c) for c in self.tool_calls]
        if self.tool_responses:
            msg["tool_responses"] = [dict(r) for r in self.tool_responses]
        return msg


# The MCP server of each tool the model sees as SERVER__TOOL (filled as MCP tools are registered):
# tool events name it in ``server`` (None for a built-in tool).
_TOOL_SERVERS: dict[str, str] = {}


def name_tool_server(tool: str, server: str) -> None:
    """Say that the tool the model calls ``tool`` comes from the MCP server ``server``."""
    _TOOL_SERVERS[tool] = server


@dataclass(slots=True)
class ToolCallRequested(Event):
    """An agent runs a tool the model asked for; ``server``: the MCP server it comes from."""

    type: ClassVar[str] = "tool_call"
    agent: str
    call_id: str
    name: str
    arguments: str
    server: str | None = None

    def __post_init__(self) -> None:
        if self.server is None and _TOOL_SERVERS:
            self.server = _TOOL_SERVERS.get(self.name)


@dataclass(slots=True)
class ToolResult(Event):
    """What a tool call returned, or why it failed (``is_error``); ``repaired`` when the JSON
    arguments had to be repaired first."""

    type: ClassVar[str] = "tool_result"
    agent: str
    call_id: str
    name: str
    content: str
    is_error: bool = False
    repaired: bool = False
    duration_s: float = 0.0
    server: str | None = None  # the MCP server of the tool (None for a built-in one)

    def __post_init__(self) -> None:
        if self.server is None and _TOOL_SERVERS:
            self.server = _TOOL_SERVERS.get(self.name)


@dataclass(slots=True)
class CodeBlockFound(Event):
    """A code block an agent is about to run (``action``: run, edited, skipped)."""

    type: ClassVar[str] = "code_block"
    agent: str
    execution_id: str
    language: str
    code: str
    filename: str | None = None
    action: str = "run"


@dataclass(slots=True)
class ExecutorOutput(Event):
    """A chunk of output of running code, as it arrives."""

    type: ClassVar[str] = "executor_output"
    agent: str
    execution_id: str
    text: str
    stream: str = "stdout"


@dataclass(slots=True)
class ExecutionFinished(Event):
    """A code block finished (or was killed)."""

    type: ClassVar[str] = "execution_finished"
    agent: str
    execution_id: str
    exit_code: int
    output: str
    duration_s: float
    timed_out: bool = False
    truncated: bool = False
    language: str = ""
    killed_reason: str | None = None


@dataclass(slots=True)
class HumanInputRequested(Event):
    """An agent waits for the human; the TUI shows ``prompt`` in the input bar."""

    type: ClassVar[str] = "human_input_requested"
    agent: str
    prompt: str


@dataclass(slots=True)
class HumanReply(Event):
    """What the human answered (empty: auto-reply; "exit": end the chat)."""

    type: ClassVar[str] = "human_reply"
    agent: str
    text: str


@dataclass(slots=True)
class UsageReport(Event):
    """Tokens one model call used, and the context meter: the model's ``window`` (0: not known),
    the ``prompt_tokens`` sent into it and the tokens ``reserved`` for the reply
    ("ctx 3.1k/8k"); ``reasoning_tokens``: of the completion, those spent thinking."""

    type: ClassVar[str] = "usage"
    agent: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    window: int = 0
    reserved: int = 0
    reasoning_tokens: int = 0


@dataclass(slots=True)
class ContextCompacted(Event):
    """The prompt of ``agent``'s next model call did not fit its window and was compacted by
    ``strategy`` (``elide_outputs``: old tool and code outputs cut to head and tail;
    ``sliding_window``: old turns left out; ``summary``: old turns replaced by a summary).
    ``removed``: messages left out or elided; tokens of the prompt before and after."""

    type: ClassVar[str] = "context_compacted"
    agent: str
    strategy: str
    tokens_before: int
    tokens_after: int
    window: int
    removed: int = 0
    detail: str = ""
    partner: str = ""  # whose conversation with ``agent`` it is (a summary is kept per partner)
    upto: int = 0  # a summary: it stands for the partner's messages 1 .. upto - 1
    summary: str | None = None  # a summary's text (a resumed session uses it again)


@dataclass(slots=True)
class NoticeEvent(Event):
    """Something worth showing that is not part of the conversation: a backend retry or
    fallback, an unavailable executor, a repaired tool call, a reply cut off (kind
    ``truncated``: the stream closed before the model said it was done). ``message_id`` names
    the message a model call's notice is about (its reply's id), when there is one."""

    type: ClassVar[str] = "notice"
    agent: str
    text: str
    kind: str = "info"
    message_id: str | None = None


@dataclass(slots=True)
class Stopped(Event):
    """The chat stopped. ``reason`` says why in words; ``condition`` names what fired
    (e.g. ``max_turns``, ``is_termination_msg``, ``TextMention``, ``error``)."""

    type: ClassVar[str] = "stopped"
    reason: str
    condition: str
    summary: str | None = None
    outcome: str = ""  # completed | failed | cancelled | interrupted (moot.agents.outcome), from the condition

    def __post_init__(self) -> None:
        if not self.outcome:
            self.outcome = outcome_of(self.condition).value


@dataclass(slots=True)
class MemoryRecalled(Event):
    """Memos were shown to ``agent`` with the message it received (its view only, never the
    stored history). Each memo: ``{"id", "kind", "recall", "distance"}``, best first."""

    type: ClassVar[str] = "memory_recalled"
    agent: str
    query: str
    memos: tuple[dict[str, Any], ...] = ()


@dataclass(slots=True)
class MemoryProposed(Event):
    """Learning found something worth remembering and waits for the user (policy ``confirm``);
    ``replaces`` names the memo it would replace."""

    type: ClassVar[str] = "memory_proposed"
    agent: str
    memo_id: str
    kind: str
    match: str
    recall: str
    replaces: str | None = None


@dataclass(slots=True)
class MemoryStored(Event):
    """A memo was stored (``action``: added, replaced) or a proposal was turned down
    (``rejected``); ``replaced`` names the memo it took the place of."""

    type: ClassVar[str] = "memory_stored"
    agent: str
    memo_id: str
    kind: str
    match: str
    recall: str
    action: str = "added"
    replaced: str | None = None
