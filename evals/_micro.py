"""moot's own micro suites, no dataset needed.

- ``selection``: group-chat speaker validity over many rounds. Every speaker the manager picks
  must be one the transition graph allows (among the candidates), picked by the method itself
  (no fallback after an answer that named nobody). The team given with ``--team`` is used when
  it is a group chat, else a built-in trio on the chosen model.
- ``stall``: loops that must be caught. Two agents told to echo each other; a task passes when
  no message repeats three times, or when the chat was stopped by moot's stall rule (without a
  model call) rather than by its turn limit.
- ``memory``: teach in one session, recall in a new one. A teachable assistant is told a fact
  in a first session; a second, new session asks about it. The task passes when the second
  session recalled a memo holding the answer and its reply gives it. Memos go to their own
  collection (``moot-eval``, never the user's ``memos``), under an agent name of their own per
  run of a task (so tasks and repeats cannot see each other's), and are deleted after scoring.
  A replay is exact: the learning call's answer is rebuilt from the memos the recording says were
  stored, and the replayed sessions (under the recorded agent's name) learn and recall in the same
  collection, their memos deleted after scoring.
"""

from __future__ import annotations

from collections import Counter
import dataclasses
import hashlib
import tomllib
from typing import Any

from moot.agents import load_team, parse_team

from ._checks import RunView
from ._suites import EvalTask, Score, Suite, TaskContext

__all__ = ["MemorySuite", "SelectionSuite", "StallSuite"]

_TOPICS = ("a function that reverses a string", "a script that counts words in a sentence",
           "a function that checks whether a number is prime", "a list of the first ten squares",
           "a function that sums the digits of a number", "a script that prints today's weekday",
           "a function that merges two sorted lists", "a function that finds the largest of three numbers",
           "a script that converts Celsius to Fahrenheit", "a function that removes duplicates from a list")

TRIO = """schema_version = 1
name = "selection-trio"
description = "Three members and a transition graph: who may speak after whom."

[[members]]
name = "planner"
description = "Breaks the task into steps."
system_message = "You are the planner. Say in one short sentence what to do next."

[[members]]
name = "coder"
description = "Writes the code for the current step."
system_message = "You are the coder. Write a short Python snippet for the current step."

[[members]]
name = "reviewer"
description = "Checks the code and says what to fix."
system_message = "You are the reviewer. Say in one short sentence whether the code is right."

[chat]
speaker_selection = "auto"
max_round = {rounds}
transitions = {{ planner = ["coder", "reviewer"], coder = ["reviewer", "planner"], reviewer = ["planner", "coder"] }}

[termination]
stall = false
"""

PAIR = """schema_version = 1
name = "stall-pair"
description = "Two agents told to echo each other: a loop moot must catch."

[[members]]
name = "caller"
role = "user_proxy"
model = "{model}"
human_input_mode = "NEVER"
code_execution = false
system_message = "Reply with exactly the message you received, word for word, and nothing else."

[[members]]
name = "echo"
role = "conversable"
system_message = "Reply with exactly the message you received, word for word, and nothing else."

[chat]
initiator = "caller"
max_turns = {turns}
"""


class SelectionSuite(Suite):
    name = "selection"
    description = "group-chat speaker validity over many rounds (moot's own)"
    ROUNDS = 8

    def load(self) -> list[EvalTask]:
        return [EvalTask(f"selection-{i + 1}", f"Let's build {topic}. Planner first, then take turns.")
                for i, topic in enumerate(_TOPICS)]

    def team(self, ctx: TaskContext) -> Any:
        if ctx.team != "bare":
            team = load_team(ctx.team, ctx.config)
            if team.is_group:
                return team
        return parse_team(TRIO.format(rounds=self.ROUNDS), "the selection suite's trio (moot eval)", ctx.config)

    async def score(self, ctx: TaskContext, view: RunView) -> Score:
        picks = view.speakers
        bad = [p for p in picks if p["speaker"] not in p["candidates"] or p["fallback"]]
        metrics = {"selections": len(picks), "invalid": len(bad)}
        if not picks:
            return Score(False, "no_selection", f"no speaker was selected (stopped: {view.stop})", metrics)
        if bad:
            p = bad[0]
            why = (f"picked {p['speaker']!r} by fallback ({p['fallback']}) after the answer {p['raw_answer']!r}"
                   if p["fallback"] else f"picked {p['speaker']!r}, not among {p['candidates']}")
            return Score(False, "invalid_speaker", f"{len(bad)} of {len(picks)} selections invalid: {why}", metrics)
        return Score(True, metrics=metrics)


class StallSuite(Suite):
    name = "stall"
    description = "loops that must be caught without a model call (moot's own)"
    TURNS = 10
    PHRASES = ("the sky is green", "hello again", "one two three", "please repeat this", "ping",
               "we are going round in circles", "same as before", "echo echo", "nothing new here", "again")

    def load(self) -> list[EvalTask]:
        return [EvalTask(f"stall-{i + 1}", phrase) for i, phrase in enumerate(self.PHRASES)]

    def team(self, ctx: TaskContext) -> Any:
        return parse_team(PAIR.format(turns=self.TURNS, model=ctx.config.default), "the stall suite's pair (moot eval)", ctx.config)

    async def score(self, ctx: TaskContext, view: RunView) -> Score:
        counts = Counter(" ".join(m["content"].split()) for m in view.messages if m["content"].strip())
        looped = any(n >= 3 for n in counts.values())
        caught = "Stall" in view.stop
        metrics = {"looped": looped, "caught": caught, "messages": len(view.messages)}
        if caught or not looped:
            return Score(True, metrics=metrics)
        return Score(False, "loop_not_caught", f"a message repeated {max(counts.values())} times and the chat "
                                               f"stopped by {view.stop or 'nothing'}", metrics)


TEACHABLE = """schema_version = 1
name = "memory-pair"
description = "A user and a teachable assistant: teach in one session, ask in the next."

[[members]]
name = "user"
role = "user_proxy"
human_input_mode = "NEVER"
code_execution = false

[[members]]
name = "{agent}"
role = "assistant"
system_message = "You are a helpful assistant. Answer in one short sentence, using what you remember about the user."
[members.teachability]
policy = "auto"
scope = "agent"

[chat]
initiator = "user"
max_turns = 1
"""

EVAL_COLLECTION = "moot-eval"


class MemorySuite(Suite):
    name = "memory"
    description = "teach in one session, recall in a new one (moot's own)"
    FACTS = (("My favourite colour is teal.", "What is my favourite colour?", "teal"),
             ("My dog is called Biscuit.", "What is my dog called?", "biscuit"),
             ("I live in Lisbon.", "Which city do I live in?", "lisbon"),
             ("My daughter's name is Ines.", "What is my daughter's name?", "ines"),
             ("I always drink my coffee black.", "How do I take my coffee?", "black"),
             ("My favourite number is 17.", "What is my favourite number?", "17"),
             ("I work as a pharmacist.", "What is my job?", "pharmacist"),
             ("My car is a red Volvo.", "What car do I drive?", "volvo"),
             ("I was born in 1984.", "In which year was I born?", "1984"),
             ("My favourite fruit is mango.", "What is my favourite fruit?", "mango"))

    def load(self) -> list[EvalTask]:
        return [EvalTask(f"memory-{i + 1}", f"Please remember this: {teach}", {"ask": ask, "answer": answer})
                for i, (teach, ask, answer) in enumerate(self.FACTS)]

    @staticmethod
    def _agent(ctx: TaskContext) -> str:
        digest = hashlib.sha256(f"{ctx.run_id}/{ctx.task.id}/{ctx.repeat}".encode()).hexdigest()[:10]
        return f"assistant-{digest}"

    def team(self, ctx: TaskContext) -> Any:
        return parse_team(TEACHABLE.format(agent=self._agent(ctx)), "the memory suite's pair (moot eval)", ctx.config)

    def _config(self, ctx: TaskContext) -> None:
        memory = ctx.config.memory.model_copy(update={"collection": EVAL_COLLECTION})
        ctx.config = dataclasses.replace(ctx.config, memory=memory)

    async def run(self, ctx: TaskContext) -> Score:
        self._config(ctx)
        team = self.team(ctx)
        try:
            await self.session(ctx, team, ctx.task.prompt)
            view = await self.session(ctx, team, ctx.task.data["ask"])
            return await self.score(ctx, view)
        finally:
            self._forget(ctx)

    async def replay(self, ctx: TaskContext, sessions: list[str]) -> Score:
        self._config(ctx)
        # the replayed sessions run the recorded team: its teachable agent has the recorded run's name
        agents = {self._agent(ctx), *(name for sid in sessions for name in _teachable(ctx.store.get(sid).team_text))}
        self._forget(ctx, agents)  # what an earlier replay of the same run may have left
        try:
            return await super().replay(ctx, sessions)
        finally:
            self._forget(ctx, agents)

    def _forget(self, ctx: TaskContext, agents: set[str] | None = None) -> None:
        from moot.memory.memos import MemoStore

        store = MemoStore.from_config(ctx.config)
        try:
            for agent in agents or {self._agent(ctx)}:
                for memo in store.list(agent=agent, pending=None):
                    store.delete(memo.id)
        finally:
            store.close()

    async def score(self, ctx: TaskContext, view: RunView) -> Score:
        answer = ctx.task.data["answer"]
        recalled = any(answer in r.lower() for r in view.recalled)
        said = answer in view.final.lower()
        metrics = {"recalled": recalled, "answered": said}
        if recalled and said:
            return Score(True, metrics=metrics)
        if not recalled:
            return Score(False, "not_recalled", f"the new session recalled no memo holding {answer!r}", metrics)
        return Score(False, "not_answered", f"the memo was recalled but the reply does not say {answer!r}", metrics)


def _teachable(team_text: str | None) -> list[str]:
    """The names of a recorded team's teachable members."""
    try:
        members = tomllib.loads(team_text or "").get("members") or []
    except tomllib.TOMLDecodeError:
        return []
    return [m["name"] for m in members if isinstance(m, dict) and m.get("teachability") and m.get("name")]
