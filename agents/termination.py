"""Termination conditions: when a chat stops, composable with ``|`` (either) and ``&`` (both).

Each condition sees every new message (and a tick before every turn) and, when it fires, says why
in words; the chat's stop reason names the condition. None of them calls a model: stall detection
works on hashes of what was said.

    from moot.agents.termination import MaxMessages, TextMention, Timeout, ExternalStop, Stall
    stop = ExternalStop()
    chat = GroupChat(agents, termination=TextMention("APPROVED") | MaxMessages(30) | Timeout(600) | stop | Stall())
    ...  # the TUI's Stop button calls stop.set()
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from ._messages import content_str

__all__ = [
    "ChatState",
    "ExternalStop",
    "Fired",
    "Handoff",
    "MaxMessages",
    "Stall",
    "TerminationCondition",
    "TextMention",
    "Timeout",
    "TokenBudget",
]


@dataclass(frozen=True)
class Fired:
    """A condition fired: why (for people) and which condition (for code)."""

    reason: str
    condition: str


@dataclass
class ChatState:
    """What conditions can look at besides the message itself."""

    started: float = field(default_factory=time.monotonic)
    messages: int = 0
    tokens: int = 0
    next_speaker: str | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class TerminationCondition:
    """Base class. ``check(message, sender, state)`` returns a ``Fired`` or ``None``; ``message``
    is ``None`` on the tick before a turn. Conditions keep state per chat; ``reset()`` clears it."""

    def check(self, message: dict[str, Any] | None, sender: str | None, state: ChatState) -> Fired | None:
        raise NotImplementedError

    def reset(self) -> None:
        pass

    def restore_elapsed(self, seconds: float) -> None:
        """A resumed chat: count ``seconds`` already spent (time limits go on from there)."""

    def interrupters(self) -> list[Any]:
        """Conditions that may stop a turn midway (external stop, timeout)."""
        return []

    def __or__(self, other: TerminationCondition) -> TerminationCondition:
        return AnyOf([self, other])

    def __and__(self, other: TerminationCondition) -> TerminationCondition:
        return AllOf([self, other])

    @property
    def label(self) -> str:
        return type(self).__name__


class AnyOf(TerminationCondition):
    """Fires when any part fires (every part still sees every message)."""

    def __init__(self, parts: list[TerminationCondition]):
        self.parts = [q for p in parts for q in (p.parts if isinstance(p, AnyOf) else [p])]

    def check(self, message: dict[str, Any] | None, sender: str | None, state: ChatState) -> Fired | None:
        first = None
        for part in self.parts:
            fired = part.check(message, sender, state)
            if fired is not None and first is None:
                first = fired
        return first

    def reset(self) -> None:
        for p in self.parts:
            p.reset()

    def restore_elapsed(self, seconds: float) -> None:
        for p in self.parts:
            p.restore_elapsed(seconds)

    def interrupters(self) -> list[Any]:
        return [i for p in self.parts for i in p.interrupters()]

    @property
    def label(self) -> str:
        return " | ".join(p.label for p in self.parts)


class AllOf(TerminationCondition):
    """Fires once every part has fired (each at its own moment)."""

    def __init__(self, parts: list[TerminationCondition]):
        self.parts = [q for p in parts for q in (p.parts if isinstance(p, AllOf) else [p])]
        self._fired: dict[int, Fired] = {}

    def check(self, message: dict[str, Any] | None, sender: str | None, state: ChatState) -> Fired | None:
        for i, part in enumerate(self.parts):
            fired = part.check(message, sender, state)
            if fired is not None:
                self._fired.setdefault(i, fired)
        if len(self._fired) == len(self.parts):
            fired_all = [self._fired[i] for i in range(len(self.parts))]
            return Fired(" and ".join(f.reason for f in fired_all), " & ".join(f.condition for f in fired_all))
        return None

    def reset(self) -> None:
        self._fired.clear()
        for p in self.parts:
            p.reset()

    def restore_elapsed(self, seconds: float) -> None:
        for p in self.parts:
            p.restore_elapsed(seconds)

    def interrupters(self) -> list[Any]:
        return []  # one part alone must not stop a turn

    @property
    def label(self) -> str:
        return " & ".join(p.label for p in self.parts)


class MaxMessages(TerminationCondition):
    """Stop once the chat holds ``max_messages`` messages (the first one included)."""

    def __init__(self, max_messages: int):
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.max_messages = max_messages

    def check(self, message: dict[str, Any] | None, sender: str | None, state: ChatState) -> Fired | None:
        if state.messages >= self.max_messages:
            return Fired(f"{state.messages} messages reached the limit of {self.max_messages}", "MaxMessages")
        return None


class TextMention(TerminationCondition):
    """Stop when a message contains ``text`` (optionally only from ``sources``, agent names)."""

    def __init__(self, text: str, sources: list[str] | None = None):
        self.text = text
        self.sources = set(sources) if sources else None

    def check(self, message: dict[str, Any] | None, sender: str | None, state: ChatState) -> Fired | None:
        if message is None or (self.sources is not None and sender not in self.sources):
            return None
        content = message.get("content")
        if content and self.text in (content if isinstance(content, str) else content_str(content)):
            return Fired(f"{sender} mentioned {self.text!r}", "TextMention")
        return None


class TokenBudget(TerminationCondition):
    """Stop once the chat's model calls have used ``max_tokens`` tokens (prompt + completion)."""

    def __init__(self, max_tokens: int):
        self.max_tokens = max_tokens

    def check(self, message: dict[str, Any] | None, sender: str | None, state: ChatState) -> Fired | None:
        if state.tokens >= self.max_tokens:
            return Fired(f"the token budget of {self.max_tokens} is spent ({state.tokens} used)", "TokenBudget")
        return None


class Timeout(TerminationCondition):
    """Stop once ``seconds`` of wall-clock time have passed since the chat started (a model call
    or code run in progress is stopped too)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._started = time.monotonic()
        self._paused_at: float | None = None

    def reset(self) -> None:
        self._started = time.monotonic()
        self._paused_at = None

    def pause(self) -> None:
        """The clock stands still (while the user decides whether code may run)."""
        if self._paused_at is None:
            self._paused_at = time.monotonic()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._started += time.monotonic() - self._paused_at
            self._paused_at = None

    def restore_elapsed(self, seconds: float) -> None:
        self._started = time.monotonic() - seconds

    def check(self, message: dict[str, Any] | None, sender: str | None, state: ChatState) -> Fired | None:
        return self.interrupt_fired()

    def is_set(self) -> bool:
        now = self._paused_at if self._paused_at is not None else time.monotonic()
        return now - self._started >= self.seconds

    def deadline(self) -> float:
        """When the limit passes, on the ``time.monotonic()`` clock (a model call is stopped then)."""
        return self._started + self.seconds

    def interrupt_fired(self) -> Fired | None:
        if self.is_set():
            return Fired(f"the time limit of {self.seconds:g} s passed", "Timeout")
        return None

    def interrupt(self) -> tuple[str, str]:
        fired = self.interrupt_fired() or Fired(f"the time limit of {self.seconds:g} s passed", "Timeout")
        return fired.reason, fired.condition

    def interrupters(self) -> list[Any]:
        return [self]


class ExternalStop(TerminationCondition):
    """A handle whose ``set()`` stops the chat, from any thread (the TUI's Stop button). A model
    reply or code run in progress is cut short too."""

    def __init__(self, reason: str = "stopped by the user"):
        self._event = threading.Event()
        self.reason = reason

    def set(self, reason: str | None = None) -> None:
        if reason:
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def reset(self) -> None:
        self._event.clear()

    def check(self, message: dict[str, Any] | None, sender: str | None, state: ChatState) -> Fired | None:
        return Fired(self.reason, "ExternalStop") if self.is_set() else None

    def interrupt(self) -> tuple[str, str]:
        return self.reason, "ExternalStop"

    def interrupters(self) -> list[Any]:
        return [self]


class Handoff(TerminationCondition):
    """Stop when the conversation is handed to ``target`` (default "user"): a tool call named
    ``transfer_to_<target>`` or ``handoff_to_<target>``, or a group chat selecting the agent
    named ``target`` to speak next."""

    def __init__(self, target: str = "user"):
        self.target = target
        self._names = {f"transfer_to_{target}", f"handoff_to_{target}"}

    def check(self, message: dict[str, Any] | None, sender: str | None, state: ChatState) -> Fired | None:
        if message is None:
            if state.next_speaker == self.target:
                return Fired(f"the conversation was handed off to {self.target}", "Handoff")
            return None
        for call in message.get("tool_calls") or ():
            if call.get("function", {}).get("name") in self._names:
                return Fired(f"{sender} handed off to {self.target}", "Handoff")
        return None


def _call_key(call: dict[str, Any]) -> tuple[str, str]:
    fn = call.get("function", {})
    args = fn.get("arguments", "")
    try:
        args = json.dumps(json.loads(args), sort_keys=True) if isinstance(args, str) else json.dumps(args, sort_keys=True)
    except (ValueError, TypeError):
        args = str(args).strip()
    return fn.get("name", ""), args


class Stall(TerminationCondition):
    """Stop a chat that goes round in circles, without asking a model:

    - the same message (whitespace-normalised) appears ``max_repeats`` times within the last
      ``window`` messages;
    - the same tool call (same name, same arguments) is made ``max_repeats`` times in the window;
    - two agents ping-pong: the last ``2 * ping_pong_rounds`` messages alternate between two
      agents and each repeats what it said two messages before;
    - no progress (``rounds``, off by default; a group team's default is 3): the same speakers
      take their turns in the same order ``rounds`` times over (a cycle of up to ``MAX_CYCLE``
      speakers, one speaker included) with no new code result ("exitcode: ..." from a code run)
      and no new tool result among their messages. A result counts as new when this chat has not
      seen the same text before.
    """

    MAX_CYCLE = 8

    def __init__(self, max_repeats: int = 3, window: int = 12, ping_pong_rounds: int = 2, rounds: int | None = None):
        if max_repeats < 2:
            raise ValueError("max_repeats must be at least 2")
        if rounds is not None and rounds < 0:
            raise ValueError("rounds must be 0 (off) or more")
        self.max_repeats = max_repeats
        self.window = window
        self.ping_pong_rounds = ping_pong_rounds
        self.rounds = rounds or 0
        self.reset()

    def reset(self) -> None:
        self._texts: deque[str] = deque()
        self._text_counts: Counter[str] = Counter()
        self._calls: deque[tuple[str, str]] = deque()
        self._call_counts: Counter[tuple[str, str]] = Counter()
        self._recent: deque[tuple[str | None, Any]] = deque(maxlen=2 * max(self.ping_pong_rounds, 1))
        self._results: set[int] = set()  # hashes of the code and tool results seen
        self._quiet: deque[str | None] = deque(maxlen=self.rounds * self.MAX_CYCLE or 1)  # speakers since the last new one

    def _push(self, items: deque[Any], counts: Counter[Any], key: Any) -> int:
        items.append(key)
        counts[key] += 1
        if len(items) > self.window:
            old = items.popleft()
            counts[old] -= 1
            if not counts[old]:
                del counts[old]
        return counts[key]

    def check(self, message: dict[str, Any] | None, sender: str | None, state: ChatState) -> Fired | None:
        if message is None:
            return None
        calls = message.get("tool_calls") or ()
        text = " ".join(content_str(message.get("content")).split())
        fired: Fired | None = None
        for call in calls:
            key = _call_key(call)
            if self._push(self._calls, self._call_counts, key) >= self.max_repeats and fired is None:
                fired = Fired(f"stall: the same tool call {key[0]}({key[1]}) was made {self.max_repeats} times",
                              "Stall(tool_call)")
        fingerprint = (text, tuple(_call_key(c) for c in calls))
        self._recent.append((sender, fingerprint))
        recent = self._recent
        if fired is None and self.ping_pong_rounds and len(recent) == recent.maxlen:
            a, b = recent[-1][0], recent[-2][0]
            if a != b and all(recent[i][0] == (a if (len(recent) - 1 - i) % 2 == 0 else b) for i in range(len(recent))) \
                    and all(recent[i][1] == recent[i + 2][1] for i in range(len(recent) - 2)):
                fired = Fired(f"stall: {b} and {a} ping-ponged the same two messages {self.ping_pong_rounds} times",
                              "Stall(ping_pong)")
        if text and not calls and message.get("role") != "tool":
            if self._push(self._texts, self._text_counts, text) >= self.max_repeats and fired is None:
                shown = text if len(text) <= 60 else text[:57] + "..."
                fired = Fired(f"stall: the same message was repeated {self.max_repeats} times ({shown!r})",
                              "Stall(repeat)")
        if self.rounds:
            stalled = self._no_progress(message, sender, text)
            if stalled is not None and fired is None:
                fired = stalled
        return fired

    def _no_progress(self, message: dict[str, Any], sender: str | None, text: str) -> Fired | None:
        """The no-progress rule: a new code or tool result clears the speakers counted; else
        fire once the speakers since the last one end in ``rounds`` repeats of one cycle."""
        if message.get("role") in ("tool", "function") or "tool_responses" in message or text.startswith("exitcode:"):
            key = hash(text)
            if key not in self._results:
                self._results.add(key)
                self._quiet.clear()
                return None
        quiet = self._quiet
        quiet.append(sender)
        n, rounds = len(quiet), self.rounds
        for p in range(1, min(self.MAX_CYCLE, n // rounds) + 1):
            if all(quiet[i] == quiet[i - p] for i in range(n - (rounds - 1) * p, n)):
                cycle = ", ".join(str(s) for s in list(quiet)[n - p:])
                return Fired(f"stall: {cycle} spoke in turn {rounds} times with no new code or tool result "
                             f"(the no-progress rule, rounds = {rounds})", "Stall(no_progress)")
        return None
