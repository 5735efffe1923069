"""Teachability: agents that remember what the user taught them, across restarts (AutoGen's name).

``Teachability(...).add_to_agent(agent)`` gives an agent two habits:

- Recall: each message the agent receives is compared with the memo store; the closest memos
  (under ``distance_threshold``, at most ``k``, de-duplicated) are appended to the agent's *view*
  of that message through the ``process_last_received_message`` hook, so the model sees them and
  the stored history does not. A ``MemoryRecalled`` event says what was shown.
- Learn: at most ONE structured-output model call per received message (AutoGen's Teachability
  makes up to about ten), skipped outright when the message obviously teaches nothing (an
  acknowledgement, code output, a bare question). The reply lists zero or more memos; a memo that
  contradicts an older one replaces it (the model names it in ``replaces``, or the nearest memo of
  the same kind and agent lies within ``replace_distance``), so teachings never stack.
  ``policy``: ``auto`` stores at once; ``confirm`` emits ``MemoryProposed`` and awaits
  ``decide(proposal)`` (the TUI and CLI supply it), or without one keeps the proposal pending in
  the store (``moot memory list --pending``, ``moot memory accept ID``); ``off`` learns nothing.
"""

from __future__ import annotations

import inspect
import json
import re
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from moot.backends import BackendError, ChatMessage, ConfigError

from ._context import current_run
from ._models import current_registry, resolve_llm
from ._messages import content_str
from .events import MemoryProposed, MemoryRecalled, MemoryStored, NoticeEvent, UsageReport

if TYPE_CHECKING:
    from moot.memory.memos import Memo, MemoStore

    from ._agent import ConversableAgent
    from ._models import LLM

__all__ = ["Proposal", "Teachability"]

Policy = Literal["auto", "confirm", "off"]
KINDS = ("fact", "preference", "task_advice")
MAX_MEMOS_PER_MESSAGE = 3
RECALL_HEADER = "# Memories that might help"

LEARN_PROMPT = """You decide what an AI assistant named {agent} should remember from the user's latest message, \
for future conversations. Remember only what the user teaches: facts about the user, their work or their \
project; their preferences; advice on how to do a kind of task. Do not remember questions, requests for \
one-off work, or anything the assistant said. If the message teaches nothing, answer {{"memos": []}}.
For each memo: "kind" is fact, preference or task_advice; "match" is a short description of the situation \
or question where the memo matters; "recall" is the memo itself, written as a fact or an instruction the \
assistant can follow; "replaces" is the id of an existing memory it corrects or updates, else null.
Example: for "I'm Ada, and please always answer in French" answer {{"memos": [{{"kind": "fact", \
"match": "the user's name", "recall": "The user's name is Ada.", "replaces": null}}, {{"kind": "preference", \
"match": "which language to answer in", "recall": "Always answer the user in French.", "replaces": null}}]}}
{existing}"""


@dataclass
class Proposal:
    """A memo learning wants to store, waiting for the user's decision (policy ``confirm``).
    ``replaces`` is the memo it would take the place of."""

    agent: str
    memo: Memo
    replaces: Memo | None = None


Decide = Callable[[Proposal], "bool | Awaitable[bool]"]

_ACK = re.compile(r"^\s*(ok(ay)?|thanks?( you)?|thx|great|cool|nice|good|yes|no|sure|continue|go on|go ahead|"
                  r"done|exit|quit|terminate|stop|lgtm|perfect)[\s.!]*$", re.I)
_CUES = re.compile(r"\b(remember|note|prefer\w*|always|never|from now on|next time|in future|instead|don'?t|"
                   r"do not|make sure|my|mine|our|we|i am|i'm|call me|rule|should|must)\b", re.I)


def teaches_nothing(text: str) -> bool:
    """Cheap checks for messages that cannot teach anything, so learning makes no call for them:
    empty or very short text, acknowledgements, code-execution output, and questions without
    any sign of a teaching in them."""
    stripped = text.strip()
    if len(stripped) < 12 or len(re.findall(r"[A-Za-z]{2,}", stripped)) < 3:
        return True
    if _ACK.match(stripped) or stripped.upper().endswith("TERMINATE") and len(stripped) < 40:
        return True
    if stripped.startswith("exitcode:") or stripped.startswith("```"):
        return True
    if stripped.endswith("?") and not _CUES.search(stripped):
        return True
    return False


def learn_schema(replaceable: list[str]) -> dict[str, Any]:
    """The JSON schema of the learning reply. Every string is bounded (free strings run to the
    token limit on llama.cpp) and ``replaces`` can only name a memo the model was shown."""
    replaces: dict[str, Any] = {"enum": [*replaceable, None]} if replaceable else {"type": "null"}
    return {
        "type": "object",
        "properties": {
            "memos": {
                "type": "array",
                "maxItems": MAX_MEMOS_PER_MESSAGE,
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": list(KINDS)},
                        "match": {"type": "string", "minLength": 1, "maxLength": 200},
                        "recall": {"type": "string", "minLength": 1, "maxLength": 300},
                        "replaces": replaces,
                    },
                    "required": ["kind", "match", "recall", "replaces"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["memos"],
        "additionalProperties": False,
    }


class Teachability:
    """Teachable memory for one or more agents (see the module docstring).

    ``memo_store``: a ``memory.MemoStore`` (default: the one models.toml's ``[memory]`` names,
    opened on first use). ``learn_model``: a models.toml name for the learning call (default: the
    agent's own model). ``scope``: ``"agent"`` keeps learnt memos for this agent (shared memos are
    recalled too), ``"shared"`` teaches every agent. ``learn_from``: the sender names whose
    messages are learnt from (default: all).
    """

    def __init__(self, memo_store: MemoStore | None = None, policy: Policy = "auto", learn_model: str | None = None,
                 k: int = 3, distance_threshold: float = 0.65, *, replace_distance: float = 0.3,
                 decide: Decide | None = None, scope: Literal["agent", "shared"] = "agent",
                 learn_from: Collection[str] | None = None, session_id: str | None = None):
        if policy not in ("auto", "confirm", "off"):
            raise ValueError(f"policy must be auto, confirm or off, not {policy!r}")
        self._store = memo_store
        self.policy = policy
        self.learn_model = learn_model
        self.k = k
        self.distance_threshold = distance_threshold
        self.replace_distance = replace_distance
        self.decide = decide
        self.scope = scope
        self.learn_from = set(learn_from) if learn_from is not None else None
        self.session_id = session_id
        self.learn_calls = 0  # structured-output calls made, over this object's life
        self._learnt: deque[tuple[int, str]] = deque(maxlen=256)  # messages already learnt from
        self._learn_llm: LLM | None = None

    @classmethod
    def from_config(cls, memory: Any = None, **overrides: Any) -> Teachability:
        """Settings from models.toml's ``[memory]`` (the registry's, unless given)."""
        if memory is None:
            memory = current_registry().config.memory
        values = {"policy": memory.policy, "learn_model": memory.learn_model, "k": memory.k,
                  "distance_threshold": memory.distance_threshold}
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    @property
    def memo_store(self) -> MemoStore:
        if self._store is None:
            from moot.memory.memos import MemoStore

            self._store = MemoStore.from_config(current_registry().config)
        return self._store

    # -- wiring ----------------------------------------------------------------------------------

    def add_to_agent(self, agent: ConversableAgent) -> ConversableAgent:
        """Give ``agent`` recall and (unless the policy is off) learning. Returns the agent."""
        agent.register_hook("process_last_received_message", _RecallHook(self, agent))
        if self.policy != "off":
            learn = self._learn_reply
            agent.register_reply([_any_agent, None], learn, position=0)
        return agent

    # -- recall ----------------------------------------------------------------------------------

    def recall(self, text: str, agent: str) -> list[tuple[Memo, float]]:
        """The memos to show with ``text``: under the threshold, at most ``k``, best first, one
        per distinct recall text."""
        if not text.strip():
            return []
        hits = self.memo_store.search(text[:2000], k=self.k * 2, agent=agent, max_distance=self.distance_threshold)
        seen: set[str] = set()
        out: list[tuple[Memo, float]] = []
        for hit in hits:
            key = " ".join(hit.memo.recall.lower().split())
            if key in seen:
                continue
            seen.add(key)
            out.append((hit.memo, hit.distance))
            if len(out) == self.k:
                break
        return out

    def _inject(self, agent: ConversableAgent, content: str) -> str:
        memos = self.recall(content, agent.name)
        if not memos:
            return content
        run = current_run()
        if run is not None:
            run.emit(MemoryRecalled(run.chat_id, agent=agent.name, query=content[:500], memos=tuple(
                {"id": m.id, "kind": m.kind, "recall": m.recall, "distance": round(d, 4)} for m, d in memos)))
        lines = "\n".join(f"- {m.recall}" for m, _ in memos)
        return f"{content}\n\n{RECALL_HEADER}\n{lines}"

    # -- learning --------------------------------------------------------------------------------

    async def _learn_reply(self, recipient: ConversableAgent, messages: list[dict[str, Any]] | None = None,
                           sender: Any = None, config: Any = None) -> tuple[bool, Any]:
        """A reply-pipeline step that never replies: it learns from the message just received,
        then lets the rest of the pipeline answer."""
        stored = recipient.chat_messages.get(sender) if sender is not None else None
        message = stored[-1] if stored else (messages[-1] if messages else None)
        if message is not None:
            await self.learn(recipient, message)
        return False, None

    async def learn(self, agent: ConversableAgent, message: dict[str, Any]) -> list[Memo]:
        """Learn from one received message (at most one model call); returns the memos stored or
        proposed. Each message is learnt from once, however often the agent replies to it."""
        if self.policy == "off" or message.get("role") not in (None, "user") or message.get("tool_responses"):
            return []
        text = content_str(message.get("content"))
        key = (id(message), text)
        if key in self._learnt:
            return []
        self._learnt.append(key)
        if self.learn_from is not None and message.get("name") not in self.learn_from:
            return []
        if teaches_nothing(text):
            return []
        llm = self._llm_for(agent)
        if llm is None:
            return []
        owner = agent.name if self.scope == "agent" else _shared()
        nearby = self.memo_store.search(text[:2000], k=5, agent=owner, max_distance=max(self.distance_threshold, 0.8))
        existing = "\n".join(f"[{h.memo.id}] ({h.memo.kind}) {h.memo.recall}" for h in nearby)
        system = LEARN_PROMPT.format(agent=agent.name, existing=(
            f"Existing memories that may be related:\n{existing}" if existing else "There are no related memories yet."))
        view = [ChatMessage("system", system), ChatMessage("user", text[:4000])]
        run = current_run()
        self.learn_calls += 1
        try:
            completion = await llm.complete(view, response_format=learn_schema([h.memo.id for h in nearby]),
                                            temperature=0.0, max_tokens=600)
        except (BackendError, ConfigError) as exc:
            if run is not None:
                run.emit(NoticeEvent(run.chat_id, agent=agent.name, text=f"memory: learning failed: {exc}", kind="warning"))
            return []
        if run is not None:
            usage = completion.usage
            run.add_usage(completion.model, usage)
            run.emit(UsageReport(run.chat_id, agent=agent.name, model=completion.model, prompt_tokens=usage.prompt_tokens,
                                 completion_tokens=usage.completion_tokens, cached_tokens=usage.cached_tokens))
        parsed = completion.parsed
        if parsed is None:
            try:
                parsed = json.loads(completion.content)
            except (TypeError, ValueError):
                parsed = None
        items = parsed.get("memos") if isinstance(parsed, dict) else None
        if not isinstance(items, list):
            if run is not None:
                run.emit(NoticeEvent(run.chat_id, agent=agent.name, kind="warning",
                                     text=f"memory: the learning reply was not the expected JSON: {completion.content[:200]!r}"))
            return []
        session_id = self.session_id or (run.chat_id if run is not None else None)
        out = []
        for item in items[:MAX_MEMOS_PER_MESSAGE]:
            memo = await self._take(agent, owner, item, {h.memo.id for h in nearby}, session_id, message)
            if memo is not None:
                out.append(memo)
        return out

    def _llm_for(self, agent: ConversableAgent) -> LLM | None:
        if self.learn_model is None:
            return agent.client
        if self._learn_llm is None:
            self._learn_llm = resolve_llm(self.learn_model)
        return self._learn_llm

    async def _take(self, agent: ConversableAgent, owner: str, item: Any, shown: set[str], session_id: str | None,
                    message: dict[str, Any]) -> Memo | None:
        """Store (or propose) one memo of the learning reply; None when it is unusable."""
        from moot.memory.memos import Memo, new_memo_id

        if not isinstance(item, dict):
            return None
        kind, match, recall = item.get("kind"), item.get("match"), item.get("recall")
        if kind not in KINDS or not isinstance(match, str) or not isinstance(recall, str) or not match.strip() or not recall.strip():
            return None
        if not _grounded(recall, content_str(message.get("content"))):
            return None  # small models sometimes fill the schema with placeholders: keep only real teachings
        store = self.memo_store
        old: Memo | None = None
        replaces = item.get("replaces")
        if isinstance(replaces, str) and replaces in shown:
            old = store.get(replaces)
        if old is None:  # a restatement or correction of the same thing: replace, never stack
            near = store.search(match, k=1, agent=owner, kind=kind, max_distance=self.replace_distance)
            near = [h for h in near if h.memo.agent == owner]
            old = near[0].memo if near else None
        memo = Memo(id=new_memo_id(), match=match.strip()[:200], recall=recall.strip()[:300], kind=kind, agent=owner,
                    session_id=session_id, message_id=_message_id(message) or _posted_id())
        run = current_run()
        if self.policy == "confirm":
            if run is not None:
                run.emit(MemoryProposed(run.chat_id, agent=agent.name, memo_id=memo.id, kind=kind, match=memo.match,
                                        recall=memo.recall, replaces=old.id if old else None))
            if self.decide is None:
                memo.pending = True
                memo.replaces = old.id if old else None
                store.put([memo])
                return memo
            verdict = self.decide(Proposal(agent.name, memo, old))
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if not verdict:
                if run is not None:
                    run.emit(MemoryStored(run.chat_id, agent=agent.name, memo_id=memo.id, kind=kind, match=memo.match,
                                          recall=memo.recall, action="rejected", replaced=None))
                return None
        if old is not None:
            memo.id, memo.created = old.id, old.created  # the memo keeps its id: links to it stay valid
        store.put([memo])
        if run is not None:
            run.emit(MemoryStored(run.chat_id, agent=agent.name, memo_id=memo.id, kind=kind, match=memo.match,
                                  recall=memo.recall, action="replaced" if old else "added",
                                  replaced=old.id if old else None))
        return memo


class _RecallHook:
    """The ``process_last_received_message`` hook of one agent (a callable object, so each agent
    gets its own registration)."""

    def __init__(self, teachability: Teachability, agent: ConversableAgent):
        self.teachability = teachability
        self.agent = agent

    def __call__(self, content: str) -> str:
        return self.teachability._inject(self.agent, content)


_WORD = re.compile(r"[^\W\d_]{3,}")


_COMMON = frozenset("the and you your user users always never please remember answer prefer preference with for that "
                    "this what when how are was were has have had not but from they them their our its".split())


def _grounded(recall: str, message: str) -> bool:
    """A memo worth keeping has at least two words and shares a word (not a common one) with the
    message it came from; a tiny model that copies the prompt's example or writes a placeholder
    fails this."""
    def words(text: str) -> set[str]:
        return {w.lower() for w in _WORD.findall(text)} - _COMMON

    return len(recall.split()) >= 2 and bool(words(recall) & words(message))


def _any_agent(sender: Any) -> bool:
    return True


def _shared() -> str:
    from moot.memory.memos import SHARED

    return SHARED


def _posted_id() -> str | None:
    """The id of the message being delivered in the current chat (as its MessagePosted event says)."""
    run = current_run()
    return run.last_posted_id if run is not None else None


def _message_id(message: dict[str, Any]) -> str | None:
    value = message.get("id") or message.get("message_id")
    return str(value) if value else None
