"""One transcript: the turns a person reads, folded from a chat's events.

The console (``moot run``), the app's chat screen and the Markdown export all draw from this
reducer, so they cannot disagree about what was said, by whom, in which order. It is pure: no
I/O, no Textual; it takes the events of ``moot.agents.events`` (or their ``to_dict()`` form, as
the session store keeps them) and keeps a list of turn values:

- ``MessageTurn``: one message (agent, recipient, content, ids, the speaker-selection reason, memory
  notes, its tool calls with their results, the code runs it caused). While its reply streams in
  (``TokenDelta``) it is *partial*; a partial turn whose stream ended without its message (the
  chat stopped, the process died) is *interrupted*. A posted message whose stream closed before
  the model said it was done (a ``truncated`` notice names it) is *truncated*.
- ``ExecutionTurn``: one code run (code, language, live output, exit code, duration), linked to
  the message whose code it runs.
- ``ToolResultTurn``: what a tool call returned, linked to the message that asked for it.
- ``NoticeTurn``: what is not said by anyone: a resume, a fallback or retry, a stall, a nested
  chat, the human's reply, and the stop with its reason and outcome.

Two ways to use it::

    transcript = Transcript()
    for event in stream:                      # incremental: the console and the app
        for change in transcript.feed(event):
            draw(change.turn, change.what, change.text)

    turns = reduce(store.events(session_id)).turns   # whole: the export

A session may hold several runs of one root chat (a stop, then a new message; a crash, then a
resume): every message of every run is kept, in order, numbered as ``moot sessions fork --at N``
counts them. ``to_markdown(events, info)`` renders a whole session for reading.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from . import events as ev

__all__ = [
    "Change",
    "ExecutionTurn",
    "MemoryNote",
    "MessageTurn",
    "NoticeTurn",
    "SpeakerChoice",
    "ToolCall",
    "ToolResultTurn",
    "Transcript",
    "Turn",
    "reduce",
    "to_markdown",
]


# -- the values ----------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, _Value):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Value:
    """``to_dict()`` for the transcript's dataclasses: plain JSON-ready data, public fields only."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        kind = getattr(type(self), "kind", None)
        if kind is not None:
            out["kind"] = kind
        for f in fields(self):  # type: ignore[arg-type]
            if not f.name.startswith("_"):
                out[f.name] = _plain(getattr(self, f.name))
        if isinstance(self, MessageTurn):
            out["text"] = self.text
        return out


@dataclass(slots=True, eq=False)
class SpeakerChoice(_Value):
    """Why the group chat chose a speaker; it goes with that speaker's next turn."""

    speaker: str
    method: str
    reason: str = ""
    candidates: tuple[str, ...] = ()
    fallback: str | None = None

    @property
    def note(self) -> str:
        """``chosen by auto: <why>`` (and the fallback when the method could not decide)."""
        note = f"chosen by {self.method}: {self.reason}" if self.reason else f"chosen by {self.method}"
        if self.fallback:
            note += f" (fallback: {self.fallback})"
        return note


@dataclass(slots=True, eq=False)
class MemoryNote(_Value):
    """A memory event on a turn: memos recalled into the agent's view before it replied
    (``recalled``), a memo it proposes to keep (``proposed``), or one stored (``added``,
    ``replaced``, ``rejected``)."""

    action: str
    agent: str
    text: str
    memo_ids: tuple[str, ...] = ()


@dataclass(slots=True, eq=False)
class ToolCall(_Value):
    """A tool call a message asked for, and (once it came) its result."""

    call_id: str
    name: str
    arguments: str
    result: ToolResultTurn | None = None


@dataclass(slots=True, eq=False)
class MessageTurn(_Value):
    """One message, or the reply being streamed that becomes it (``partial``)."""

    kind: ClassVar[str] = "message"
    message_id: str
    chat_id: str
    agent: str
    recipient: str = ""  # "" while partial: the recipient is known when the message is posted
    role: str = ""
    content: str | None = None  # as posted (None while partial, or for a message of tool calls only)
    number: int = 0  # 1 = the session's first message (``moot sessions fork --at N``); 0 while partial
    depth: int = 0  # 0: a top-level chat; 1: a chat nested in it, ...
    run: int = 1  # 1 = the session's first run; a resume or a new message after a stop starts the next
    ts: float = 0.0
    selection: SpeakerChoice | None = None
    memory: list[MemoryNote] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    execution_ids: list[str] = field(default_factory=list)
    streamed: bool = False  # its text arrived as token deltas
    partial: bool = True  # no message posted (yet)
    interrupted: bool = False  # the stream ended without the message
    truncated: bool = False  # posted, but the model's stream closed before the reply was finished
    cut_reason: str = ""  # why it was interrupted
    reasoning: str = ""  # what the model thought before it replied (never part of the message)
    _parts: list[str] = field(default_factory=list, repr=False)

    @property
    def text(self) -> str:
        """What a reader sees: the posted content, else what has streamed in so far."""
        if not self.partial:
            return self.content or ""
        if len(self._parts) > 1:
            self._parts[:] = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    @property
    def is_execution_report(self) -> bool:
        """An executor's ``exitcode: N ...`` report: its lines are shown as they are (not Markdown)."""
        return (self.content or "").startswith("exitcode:")

    @property
    def empty(self) -> bool:
        return not self.partial and not self.content and not self.tool_calls


@dataclass(slots=True, eq=False)
class ExecutionTurn(_Value):
    """One code run: the block, its live output, how it ended."""

    kind: ClassVar[str] = "execution"
    execution_id: str
    chat_id: str
    agent: str
    language: str
    code: str
    number: int  # 1 = the session's first run of code
    filename: str | None = None
    action: str = "run"  # run | edited | skipped
    message_id: str | None = None  # the message whose code this runs
    output: str = ""  # live output as it arrived (the executor's final copy when nothing streamed)
    stream: str = "stdout"  # of the last chunk
    exit_code: int | None = None
    duration_s: float | None = None
    timed_out: bool = False
    truncated: bool = False
    killed_reason: str | None = None
    ts: float = 0.0

    @property
    def finished(self) -> bool:
        return self.exit_code is not None


@dataclass(slots=True, eq=False)
class ToolResultTurn(_Value):
    """What a tool returned (or why it failed); ``message_id`` names the message that asked."""

    kind: ClassVar[str] = "tool_result"
    call_id: str
    chat_id: str
    agent: str
    name: str
    content: str
    is_error: bool = False
    repaired: bool = False
    duration_s: float = 0.0
    message_id: str | None = None
    ts: float = 0.0


@dataclass(slots=True, eq=False)
class NoticeTurn(_Value):
    """Something to show that nobody said. ``what``: ``stopped``, ``nested_chat``, ``human_reply``,
    ``memory`` (a memo event before any turn), ``unknown_event``, or a ``NoticeEvent``'s kind
    (``resumed``, ``warning``, ``fallback``, ``stall``, ...)."""

    kind: ClassVar[str] = "notice"
    what: str
    chat_id: str
    agent: str
    text: str
    depth: int = 0
    run: int = 1
    reason: str = ""  # stops: why, in words
    condition: str = ""  # stops: what fired
    outcome: str = ""  # stops: completed | failed | cancelled | interrupted
    summary: str | None = None  # stops: the chat's summary
    ts: float = 0.0


Turn = MessageTurn | ExecutionTurn | ToolResultTurn | NoticeTurn


@dataclass(frozen=True, slots=True)
class Change:
    """What one event did to the transcript.

    ``what``: ``added`` (``turn`` was appended to ``Transcript.turns``), ``text`` (a partial
    turn grew by ``text``), ``reasoning`` (its reasoning grew by ``text``), ``posted`` (its message arrived: content, recipient, number and tool
    calls are set), ``interrupted`` (a partial turn's stream ended without it), ``memory`` (a
    ``MemoryNote``, ``text``, was added), ``output`` (an execution printed ``text``),
    ``finished`` (it ended), or ``selected`` (``turn`` is the ``SpeakerChoice`` the next turn of
    that speaker will carry; it is not in ``turns``)."""

    turn: Turn | SpeakerChoice
    what: str
    text: str = ""


# -- the reducer ---------------------------------------------------------------------------------

def _event(item: ev.Event | dict[str, Any]) -> ev.Event | None:
    if isinstance(item, ev.Event):
        return item
    try:
        return ev.Event.from_dict(item)
    except (ValueError, TypeError):
        return None


class Transcript:
    """Folds events into turns, one at a time (``feed``) or all at once (``reduce``)."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.messages: dict[str, MessageTurn] = {}
        self.executions: dict[str, ExecutionTurn] = {}
        self.current: MessageTurn | None = None  # the last message turn begun
        self.last_stop: NoticeTurn | None = None  # the last stop of a top-level chat
        self.run = 1
        self.usage: dict[str, dict[str, int]] = {}  # model -> prompt / completion / cached tokens
        # agent -> its last model call's context meter: prompt tokens, window (0: unknown), reserved
        self.context: dict[str, tuple[int, int, int]] = {}
        self._depth: dict[str, int] = {}
        self._run_has_messages = False
        self._after_stop = False  # a top-level chat stopped and no new run has begun since
        self._selection: SpeakerChoice | None = None
        self._recalled: dict[str, list[MemoryNote]] = {}
        self._calls: dict[str, MessageTurn] = {}
        self._code_message: str | None = None  # the last posted message holding a code block
        self._posted = 0
        self._open: dict[str, MessageTurn] = {}  # partial turns, by message id
        self._truncated: set[str] = set()  # ids of messages a "truncated" notice named before they began

    # -- reading -----------------------------------------------------------------------------

    def message(self, message_id: str) -> MessageTurn | None:
        return self.messages.get(message_id)

    def execution(self, execution_id: str) -> ExecutionTurn | None:
        return self.executions.get(execution_id)

    @property
    def selection(self) -> SpeakerChoice | None:
        """The speaker choice waiting for its speaker's turn."""
        return self._selection

    def depth(self, chat_id: str) -> int:
        return self._depth.get(chat_id, 0)

    # -- folding -----------------------------------------------------------------------------

    def feed(self, item: ev.Event | dict[str, Any]) -> list[Change]:
        """Fold one event (or its dict form) in; returns what changed, in order."""
        event = _event(item)
        if event is None:
            kind = item.get("type") if isinstance(item, dict) else type(item).__name__
            chat = item.get("chat_id", "") if isinstance(item, dict) else ""
            return [self._add(NoticeTurn("unknown_event", chat, "", f"an event this moot does not know ({kind!r}) was left out",
                                         depth=self.depth(chat), run=self.run))]
        handler = _HANDLERS.get(type(event))
        return handler(self, event) if handler is not None else []

    def close(self, reason: str = "the stream ended before this reply was finished") -> list[Change]:
        """The stream is over: replies still streaming are interrupted."""
        return self._interrupt(reason)

    def _add(self, turn: Turn) -> Change:
        self.turns.append(turn)
        return Change(turn, "added")

    def _interrupt(self, reason: str) -> list[Change]:
        changes = []
        for turn in self._open.values():
            turn.interrupted = True
            turn.cut_reason = reason
            changes.append(Change(turn, "interrupted", reason))
        self._open.clear()
        return changes

    def _new_run(self) -> list[Change]:
        """A new run of the session begins (a resume, a new root chat, a message after a stop)."""
        changes = self._interrupt("the run ended before this reply was finished")
        if self._run_has_messages:
            self.run += 1
            self._run_has_messages = False
        self._after_stop = False
        return changes

    def _begin(self, message_id: str, chat_id: str, agent: str, ts: float) -> MessageTurn:
        depth = self.depth(chat_id)
        if depth == 0 and self._after_stop:  # a new message after a stop: the chat goes on
            self._new_run()
        self._run_has_messages = True
        turn = MessageTurn(message_id, chat_id, agent, depth=depth, run=self.run, ts=ts)
        if self._selection is not None and self._selection.speaker == agent:
            turn.selection, self._selection = self._selection, None
        recalled = self._recalled.pop(agent, None)
        if recalled:
            turn.memory.extend(recalled)
        self.messages[message_id] = turn
        self.current = turn
        return turn

    def _chat_started(self, e: ev.ChatStarted) -> list[Change]:
        if e.parent_chat_id is not None:
            depth = self._depth[e.chat_id] = self.depth(e.parent_chat_id) + 1
            return [self._add(NoticeTurn("nested_chat", e.chat_id, e.initiator,
                                         f"nested chat: {e.initiator} → {', '.join(e.participants)}",
                                         depth=depth, run=self.run, ts=e.ts))]
        self._depth[e.chat_id] = 0
        return self._new_run()  # a top-level chat after another one in the same session: the next run

    def _speaker_selected(self, e: ev.SpeakerSelected) -> list[Change]:
        self._selection = SpeakerChoice(e.speaker, e.method, e.reason, tuple(e.candidates), e.fallback)
        return [Change(self._selection, "selected")]

    def _token_delta(self, e: ev.TokenDelta) -> list[Change]:
        turn = self._open.get(e.message_id)
        if turn is not None:
            turn._parts.append(e.text)
            return [Change(turn, "text", e.text)]
        if e.message_id in self.messages:  # a delta after its message (or after it was cut): ignored
            return []
        turn = self._begin(e.message_id, e.chat_id, e.agent, e.ts)
        turn.streamed = True
        turn._parts.append(e.text)
        self._open[e.message_id] = turn
        return [self._add(turn), Change(turn, "text", e.text)]

    def _reasoning_delta(self, e: ev.ReasoningDelta) -> list[Change]:
        turn = self._open.get(e.message_id)
        changes: list[Change] = []
        if turn is None:
            if e.message_id in self.messages:
                return []
            turn = self._begin(e.message_id, e.chat_id, e.agent, e.ts)
            turn.streamed = True
            self._open[e.message_id] = turn
            changes.append(self._add(turn))
        turn.reasoning += e.text
        changes.append(Change(turn, "reasoning", e.text))
        return changes

    def _message(self, e: ev.MessagePosted) -> list[Change]:
        turn = self.messages.get(e.message_id)
        changes: list[Change] = []
        if turn is None:
            turn = self._begin(e.message_id, e.chat_id, e.sender, e.ts)
            changes.append(self._add(turn))
        elif not turn.partial:
            return []  # the same message twice
        self._open.pop(e.message_id, None)
        self._posted += 1
        turn.partial = turn.interrupted = False
        turn.cut_reason = ""
        turn.recipient, turn.role, turn.content, turn.number = e.recipient, e.role, e.content, self._posted
        if self._truncated and e.message_id in self._truncated:
            self._truncated.discard(e.message_id)
            turn.truncated = True
        turn._parts.clear()
        for call in e.tool_calls:
            fn = call.get("function") or {}
            tc = ToolCall(str(call.get("id", "")), str(fn.get("name", "")), str(fn.get("arguments", "")))
            turn.tool_calls.append(tc)
            self._calls[tc.call_id] = turn
        if e.content and "```" in e.content:
            self._code_message = e.message_id
        changes.append(Change(turn, "posted"))
        return changes

    def _tool_result(self, e: ev.ToolResult) -> list[Change]:
        owner = self._calls.get(e.call_id) or self.current
        result = ToolResultTurn(e.call_id, e.chat_id, e.agent, e.name, e.content, e.is_error, e.repaired, e.duration_s,
                                owner.message_id if owner is not None else None, ts=e.ts)
        if owner is not None:
            for call in owner.tool_calls:
                if call.call_id == e.call_id:
                    call.result = result
        return [self._add(result)]

    def _code_block(self, e: ev.CodeBlockFound) -> list[Change]:
        turn = ExecutionTurn(e.execution_id, e.chat_id, e.agent, e.language, e.code, len(self.executions) + 1,
                             e.filename, e.action, self._code_message, ts=e.ts)
        self.executions[e.execution_id] = turn
        owner = self.messages.get(self._code_message or "")
        if owner is not None:
            owner.execution_ids.append(e.execution_id)
        return [self._add(turn)]

    def _executor_output(self, e: ev.ExecutorOutput) -> list[Change]:
        turn = self.executions.get(e.execution_id)
        if turn is None:
            return []
        turn.output += e.text
        turn.stream = e.stream
        return [Change(turn, "output", e.text)]

    def _execution_finished(self, e: ev.ExecutionFinished) -> list[Change]:
        turn = self.executions.get(e.execution_id)
        if turn is None:
            return []
        turn.exit_code, turn.duration_s = e.exit_code, e.duration_s
        turn.timed_out, turn.truncated, turn.killed_reason = e.timed_out, e.truncated, e.killed_reason
        if e.output and not turn.output.strip():
            turn.output = e.output
        return [Change(turn, "finished")]

    def _human_reply(self, e: ev.HumanReply) -> list[Change]:
        return [self._add(NoticeTurn("human_reply", e.chat_id, e.agent, e.text, depth=self.depth(e.chat_id),
                                     run=self.run, ts=e.ts))]

    def _usage(self, e: ev.UsageReport) -> list[Change]:
        u = self.usage.setdefault(e.model, {"prompt": 0, "completion": 0, "cached": 0})
        u["prompt"] += e.prompt_tokens
        u["completion"] += e.completion_tokens
        u["cached"] += e.cached_tokens
        self.context[e.agent] = (e.prompt_tokens, e.window, e.reserved)
        return []

    def _compacted(self, e: ev.ContextCompacted) -> list[Change]:
        text = (f"context: {e.agent}'s prompt compacted by {e.strategy.replace('_', ' ')} "
                f"({e.tokens_before:,} → {e.tokens_after:,} tokens, window {e.window:,})")
        if e.detail:
            text += f": {e.detail}"
        return [self._add(NoticeTurn("compacted", e.chat_id, e.agent, text, depth=self.depth(e.chat_id),
                                     run=self.run, ts=e.ts))]

    def _notice(self, e: ev.NoticeEvent) -> list[Change]:
        changes: list[Change] = []
        if e.kind in _RUN_STARTS:  # and the reply streaming when the last run ended is not coming
            changes = self._new_run()
        elif e.kind == "truncated" and e.message_id:  # the reply it names is marked, now or once it begins
            turn = self.messages.get(e.message_id)
            if turn is not None:
                turn.truncated = True
            else:
                self._truncated.add(e.message_id)
        changes.insert(0, self._add(NoticeTurn(e.kind or "info", e.chat_id, e.agent, e.text,
                                               depth=self.depth(e.chat_id), run=self.run, ts=e.ts)))
        return changes

    def _stopped(self, e: ev.Stopped) -> list[Change]:
        depth = self.depth(e.chat_id)
        notice = NoticeTurn("stopped", e.chat_id, "", f"stopped: {e.reason}", depth=depth, run=self.run,
                            reason=e.reason, condition=e.condition, outcome=getattr(e, "outcome", "") or "",
                            summary=e.summary, ts=e.ts)
        changes = [self._add(notice)]
        if depth == 0:
            self.last_stop = notice
            self._after_stop = True
            changes += self._interrupt(e.reason)
        return changes

    def _memory(self, e: ev.Event) -> list[Change]:
        if isinstance(e, ev.MemoryRecalled):
            memos = e.memos or ()
            recalls = "; ".join(str(m.get("recall", m)) if isinstance(m, dict) else str(m) for m in memos)
            note = MemoryNote("recalled", e.agent, f"recalled {len(memos)} memo{'s' if len(memos) != 1 else ''}: {recalls}",
                              tuple(str(m.get("id", "")) for m in memos if isinstance(m, dict)))
            # A recall comes before the agent's reply: it goes with that agent's next turn.
            streaming = self.current if self.current is not None and self.current.partial else None
            if streaming is not None and streaming.agent == e.agent:
                streaming.memory.append(note)
                return [Change(streaming, "memory", note.text)]
            self._recalled.setdefault(e.agent, []).append(note)
            return []
        if isinstance(e, ev.MemoryProposed):
            note = MemoryNote("proposed", e.agent, f"{e.agent} proposes to remember: {e.recall}", (e.memo_id,))
        elif isinstance(e, ev.MemoryStored):
            note = MemoryNote(e.action, e.agent, f"memory {e.action}: {e.recall}", (e.memo_id,))
        else:
            return []
        if self.current is None:
            return [self._add(NoticeTurn("memory", e.chat_id, e.agent, note.text, depth=self.depth(e.chat_id),
                                         run=self.run, ts=e.ts))]
        self.current.memory.append(note)
        return [Change(self.current, "memory", note.text)]


# Notices that begin a new run of the session: a resume after a stop or a crash, a new message after a stop.
_RUN_STARTS = frozenset({"resumed", "continued"})

_HANDLERS: dict[type, Any] = {
    ev.ChatStarted: Transcript._chat_started,
    ev.SpeakerSelected: Transcript._speaker_selected,
    ev.TokenDelta: Transcript._token_delta,
    ev.ReasoningDelta: Transcript._reasoning_delta,
    ev.ContextCompacted: Transcript._compacted,
    ev.MessagePosted: Transcript._message,
    ev.ToolResult: Transcript._tool_result,
    ev.CodeBlockFound: Transcript._code_block,
    ev.ExecutorOutput: Transcript._executor_output,
    ev.ExecutionFinished: Transcript._execution_finished,
    ev.HumanReply: Transcript._human_reply,
    ev.UsageReport: Transcript._usage,
    ev.NoticeEvent: Transcript._notice,
    ev.Stopped: Transcript._stopped,
    ev.MemoryRecalled: Transcript._memory,
    ev.MemoryProposed: Transcript._memory,
    ev.MemoryStored: Transcript._memory,
}


def reduce(events: Iterable[ev.Event | dict[str, Any]]) -> Transcript:
    """A whole recorded stream folded at once (the stream is over: unfinished replies are
    interrupted). ``events``: the engine's events or the session store's dicts."""
    transcript = Transcript()
    for item in events:
        transcript.feed(item)
    transcript.close()
    return transcript


# -- Markdown ------------------------------------------------------------------------------------

def _fence(text: str, lang: str = "") -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    ticks = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") else text + "\n"
    return f"{ticks}{lang}\n{body}{ticks}"


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _stop_line(stop: NoticeTurn) -> list[str]:
    lines = [f"**Stopped:** {stop.reason} (`{stop.condition}`)"]
    if stop.summary:
        lines += ["", f"**Summary:** {stop.summary}"]
    return lines


def _message_md(t: MessageTurn) -> list[str]:
    out: list[str] = []
    if t.partial:
        out.append(f"## {t.agent} (interrupted)")
    else:
        nested = " *(nested chat)*" if t.depth else ""
        cut = " (truncated)" if t.truncated else ""
        out.append(f"## {t.number}. {t.agent} → {t.recipient}{nested}{cut}")
    out.append("")
    if t.selection is not None:
        out += [f"*{t.selection.note}*", ""]
    if t.memory:
        out += [*(f"> ✦ {n.text}" for n in t.memory), ""]
    if t.partial:
        out += ["*This reply was cut off before it was finished:*", "", t.text or "*(nothing had arrived yet)*"]
        return out
    if t.content:
        out.append(_fence(t.content.rstrip("\n"), "text") if t.is_execution_report else t.content)
    for i, call in enumerate(t.tool_calls):
        out += [*([""] if t.content or i else []), f"**Tool call** `{call.name}`:", "", _fence(call.arguments, "json")]
    if t.empty:
        out.append("*(empty message)*")
    if t.truncated:
        out += ["", "*(truncated: the model's stream closed before this reply was finished)*"]
    return out


def _execution_md(t: ExecutionTurn) -> list[str]:
    label = t.filename or t.language or "code"
    action = "skipped" if t.action == "skipped" else "ran"
    out = [f"### Executor: {t.agent} {action} {label}", "", _fence(t.code, t.language)]
    if t.action == "skipped" and not t.finished:
        return out
    if t.finished:
        status = f"exit code {t.exit_code} · {t.duration_s or 0:.2f} s"
        if t.timed_out:
            status += " · timed out"
        if t.killed_reason:
            status += f" · {t.killed_reason}"
    else:
        status = "did not finish"
    return out + ["", f"**Output** ({status}):", "", _fence(t.output or "(no output)", "text")]


def _notice_md(t: NoticeTurn) -> list[str]:
    if t.what in _RUN_STARTS or t.what in ("interrupted", "nested_chat"):
        return [f"*{t.text}*"]
    return [f"*[{t.what}] {t.agent}: {t.text}*" if t.agent else f"*[{t.what}] {t.text}*"]


def to_markdown(events: Iterable[ev.Event | dict[str, Any]], info: Any = None) -> str:
    """A session as Markdown that reads well: a heading per message (number, speaker → recipient),
    why that speaker was chosen, code as code, executor output and tool results set apart, every
    run of the session in order, the stop reason at the end.

    ``events``: the session's events (``Event`` objects or the store's dicts). ``info``: the
    session's facts (``SessionInfo``, or any object with ``id``, ``title``, ``team_name``,
    ``created``, ``status``, ``task``, ``stop_reason`` and optionally ``outcome``, ``parent_id``,
    ``fork_message_id``); None for a bare transcript."""
    transcript = reduce(events)
    turns = transcript.turns
    status = getattr(info, "status", None)
    out: list[str] = []
    if info is not None:
        out += [f"# {info.title or 'Session ' + info.id}", ""]
        shown = status + (f" ({info.outcome})" if getattr(info, "outcome", None) else "") if status else "-"
        facts = [("Session", f"`{info.id}`"), ("Team", getattr(info, "team_name", None) or "-"),
                 ("Started", _when(getattr(info, "created", None))), ("Status", shown)]
        if getattr(info, "parent_id", None):
            facts.append(("Forked from", f"`{info.parent_id}` at message `{info.fork_message_id}`"))
        out += [f"- **{k}:** {v}" for k, v in facts]
        task = getattr(info, "task", None)
        if task:
            out += ["", "**Task:**", "", *(f"> {line}" if line else ">" for line in task.splitlines())]
    else:
        out.append("# Transcript")
    # The last top-level stop closes the transcript unless the chat went on after it.
    final = transcript.last_stop
    if final is not None and any(isinstance(t, (MessageTurn, ExecutionTurn, ToolResultTurn))
                                 for t in turns[turns.index(final) + 1:]):
        final = None
    for t in turns:
        if isinstance(t, MessageTurn):
            lines = _message_md(t)
        elif isinstance(t, ExecutionTurn):
            lines = _execution_md(t)
        elif isinstance(t, ToolResultTurn):
            mark = " (error)" if t.is_error else ""
            lines = [f"### Tool result: `{t.name}`{mark}", "", _fence(t.content or "", "text")]
        elif t.what == "stopped":
            if t.depth or t is final:
                continue
            lines = _stop_line(t)
        elif t.what == "human_reply":
            continue  # the reply is the message that follows
        else:
            lines = _notice_md(t)
        out += ["", *lines]
    out += ["", "---", ""]
    if final is not None and status != "interrupted":
        out += _stop_line(final)
    elif info is not None:
        out.append(f"**{(status or 'unknown').capitalize()}:** {getattr(info, 'stop_reason', None) or 'the chat has not stopped'}")
    else:
        out.append("*The chat has not stopped.*")
    return "\n".join(out) + "\n"
