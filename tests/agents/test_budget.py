"""The context budget (agents/_budget.py, agents/_window.py): each compaction strategy on its own,
what is never cut, and chats on the REAL bundled model with a small window that must compact
instead of overflowing."""

from __future__ import annotations

import pytest

from agent_test_helpers import install_models
from moot.agents import ConversableAgent, GroupChat, GroupChatManager, UserProxyAgent
from moot.agents._budget import SUMMARY_LABEL
from moot.agents._window import ConversationView
from moot.agents.events import ContextCompacted, Stopped, UsageReport
from moot.backends import ChatMessage


def _output(i: int, lines: int = 60) -> str:
    return "exitcode: 0 (execution succeeded)\nCode output: " + "\n".join(f"run {i} line {n}" for n in range(lines))


def _coding_history(rounds: int) -> list[dict]:
    stored = [{"content": "TASK: write fizzbuzz and run it", "role": "user", "name": "user"}]
    for i in range(rounds):
        stored.append({"content": f"```python\nprint({i})\n```", "role": "assistant", "name": "coder"})
        stored.append({"content": _output(i), "role": "user", "name": "user"})
    return stored


def test_elide_outputs_alone_shortens_old_outputs_but_never_the_task_or_the_current_turn():
    stored = _coding_history(6)
    whole = sum(len(m["content"]) + 16 for m in stored)
    view = ConversationView([ChatMessage("system", "You write code.")], strategies=("elide_outputs",))
    seen = view.update(stored, room=whole // 2)
    assert view.cut == 0  # nothing left out: only shortened
    assert [m.content for m in seen[:2]] == ["You write code.", stored[0]["content"]]
    assert seen[-1].content == stored[-1]["content"]  # the current turn: whole
    older = [m for m in seen[2:-1] if m.content.startswith("exitcode:")]
    assert len(older) == 5 and all("lines of output left out" in m.content for m in older)
    assert all(m.content.splitlines()[1] == "Code output: run %d line 0" % i for i, m in enumerate(older))
    assert view.compaction.steps == [("elide_outputs", 5)] and view.compaction.after < view.compaction.before
    assert view.used <= whole // 2


def test_the_sliding_window_alone_keeps_system_task_and_current_turn_and_cuts_in_blocks():
    stored = _coding_history(30)
    view = ConversationView([ChatMessage("system", "You write code.")], strategies=("sliding_window",))
    room = 4000
    cuts = []
    for end in range(3, len(stored) + 1):
        seen = view.update(stored[:end], room)
        assert seen[0].content == "You write code." and seen[1].content == stored[0]["content"]
        assert seen[-1].content == stored[end - 1]["content"]
        assert view.used <= room or view.cut == end - 1  # it fits, or only the current turn is left
        assert not any("left out" in (m.content or "") for m in seen)  # no elision asked for
        cuts.append(view.cut)
    moves = [b for a, b in zip(cuts, cuts[1:]) if b != a]
    assert moves and len(moves) < len(cuts) / 3  # the cut moves in blocks, not every turn (KV prefix stays)


def test_a_tool_result_is_never_the_first_message_after_the_cut():
    stored = [{"content": "TASK", "role": "user", "name": "user"}]
    for i in range(20):
        stored.append({"content": None, "role": "assistant",
                       "tool_calls": [{"id": f"c{i}", "type": "function", "function": {"name": "f", "arguments": "{}"}}]})
        stored.append({"content": "r" * 200, "role": "tool", "tool_call_id": f"c{i}"})
    view = ConversationView(strategies=("sliding_window",))
    seen = view.update(stored, room=1500)
    assert view.cut and seen[0].content == "TASK" and seen[1].role == "assistant" and seen[1].tool_calls
    # The current turn is the last call and its result, kept together.
    assert seen[-2].tool_calls and seen[-1].role == "tool"


def test_the_task_and_current_turn_alone_too_big_is_a_clear_stop(models):
    install_models(tiny={"backend": "scripted", "replies": ["never said"], "context_length": 300,
                         "max_output_tokens": 32})
    a = ConversableAgent("a", llm_config="tiny", human_input_mode="NEVER")
    b = ConversableAgent("b", llm_config=False, human_input_mode="NEVER", default_auto_reply="ok")
    result = b.initiate_chat(a, message="x" * 5000, max_turns=2)
    assert result.stop_condition == "context_overflow"
    assert "does not fit 'tiny'" in result.stop_reason and "300 tokens" in result.stop_reason


def _recording(backend):
    """Keep each request's messages (the scripted backend itself keeps none)."""
    seen = []
    inner = backend._stream

    def stream(request):
        seen.append(list(request.messages))
        return inner(request)

    backend._stream = stream
    backend._direct = backend
    return seen


async def test_a_summary_is_one_model_call_made_once_and_stands_for_the_left_out_turns(models):
    replies = [f"reply number {i} " + "words " * 30 for i in range(40)]
    registry = install_models(talk={"backend": "scripted", "replies": replies, "context_length": 700,
                                    "max_output_tokens": 64},
)
    a = ConversableAgent("a", llm_config="talk", human_input_mode="NEVER", context_strategies=["summary"])
    b = ConversableAgent("b", llm_config=False, human_input_mode="NEVER", default_auto_reply="go on " + "z" * 100)
    seen = _recording(registry.backend("talk"))
    stream = b.run_stream(a, message="TASK: count", max_turns=14)
    events = [e async for e in stream]
    summaries = [e for e in events if isinstance(e, ContextCompacted) and e.strategy == "summary" and e.summary]
    assert summaries, [e for e in events if isinstance(e, ContextCompacted)]
    assert all(s.partner == "b" and s.upto > 1 for s in summaries)
    # Each summary was asked once (its own call), and later prompts carry it after the task.
    asked = [p for p in seen if p[0].content.startswith("You summarise")]
    assert len(asked) == len(summaries)  # one call per summary
    later = [p for p in seen if any((m.content or "").startswith(SUMMARY_LABEL) for m in p)]
    assert later
    for prompt in later:  # the summary stands right after the task, the task is never cut
        i = next(i for i, m in enumerate(prompt) if m.content == "TASK: count")
        assert prompt[i + 1].content == SUMMARY_LABEL + summaries[-1].summary or any(
            prompt[i + 1].content == SUMMARY_LABEL + s.summary for s in summaries)
    assert len({s.upto for s in summaries}) == len(summaries)  # never the same summary twice
    # A later summary builds on the one before (one model call each, never the whole history).
    if len(asked) > 1:
        assert "Summary so far: " + summaries[0].summary in asked[1][1].content
    assert a._summaries  # kept for a resumed session


# -- the real bundled model with a small window ---------------------------------------------------

pytest_model = pytest.mark.model
SMALL = {"backend": "llama_cpp", "model_path": "bundled:smollm2", "context_length": 1024, "max_output_tokens": 48,
         "temperature": 0.0}


def _fits(events, window: int) -> list[UsageReport]:
    usage = [e for e in events if isinstance(e, UsageReport)]
    assert usage
    for u in usage:
        assert u.window == window
        assert u.prompt_tokens + u.reserved <= window, (u.prompt_tokens, u.reserved)
    return usage


@pytest_model
async def test_a_group_chat_on_the_bundled_model_compacts_instead_of_overflowing(bundled_model_path):
    install_models(small=SMALL)
    roles = {"planner": "You plan the work in short numbered steps.",
             "coder": "You write short Python code for the plan."}
    agents = [ConversableAgent(n, system_message=s, llm_config="small", human_input_mode="NEVER")
              for n, s in roles.items()]
    # A member without a model that posts a long note each round fills the window for sure.
    agents.append(ConversableAgent("notes", llm_config=False, human_input_mode="NEVER",
                                   default_auto_reply="NOTES: " + "primes have exactly two divisors; " * 10))
    chat = GroupChat(agents, max_round=24, speaker_selection_method="round_robin")
    manager = GroupChatManager(chat, llm_config=False)
    stream = agents[0].run_stream(manager, message="Write a function that checks whether a number is prime.")
    events = [e async for e in stream]
    stop = [e for e in events if isinstance(e, Stopped)][-1]
    assert stop.condition == "max_round", stop.reason
    assert len(_fits(events, 1024)) >= 14
    assert any(isinstance(e, ContextCompacted) and e.strategy == "sliding_window" for e in events)


@pytest_model
async def test_a_tool_loop_on_the_bundled_model_elides_old_tool_output(bundled_model_path):
    install_models(small=SMALL)
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
    asst = ConversableAgent("asst", system_message="You look up logs with the tool.",
                            llm_config={"model": "small", "tool_choice": "read_log"}, human_input_mode="NEVER")

    @user.register_for_execution()
    @asst.register_for_llm(description="Read the server log of a day.")
    def read_log(day: str) -> str:
        return "\n".join(f"{day} 12:{n:02d} request served in {n} ms" for n in range(60))

    stream = user.run_stream(asst, message="Read the logs of monday, tuesday and friday.", max_turns=6)
    events = [e async for e in stream]
    stop = [e for e in events if isinstance(e, Stopped)][-1]
    assert stop.condition == "max_turns", stop.reason
    _fits(events, 1024)
    elided = [e for e in events if isinstance(e, ContextCompacted) and e.strategy == "elide_outputs"]
    assert elided and elided[0].tokens_after < elided[0].tokens_before


SUMMARISING = """schema_version = 1
name = "summing"
[[members]]
name = "user"
role = "user_proxy"
model = false
human_input_mode = "NEVER"
max_consecutive_auto_reply = 40
default_auto_reply = "go on and say more about it, with details and examples please"
[[members]]
name = "bot"
role = "assistant"
model = "bot"
[chat]
initiator = "user"
max_turns = 12
[termination]
stall = false
[context]
strategies = ["summary"]
"""


async def test_a_summary_is_kept_in_the_session_so_resume_and_replay_do_not_make_it_again(models):
    from moot.agents import Session, parse_team
    from moot.backends.config import scripted_models
    from moot.memory import SessionStore

    replies = [f"answer {i}: " + "a long explanation " * 12 for i in range(60)]
    config = scripted_models({"bot": {"replies": replies, "context_length": 600, "max_output_tokens": 48}},
                             default="bot", source="test")
    store = SessionStore.open_default()
    spec = parse_team(SUMMARISING, "test team", config)
    async with Session.start(spec, "TASK: explain", models=config, store=store) as session:
        events = [e async for e in session.stream()]
        made = [e for e in events if isinstance(e, ContextCompacted) and e.summary]
        assert made and session.outcome.value == "completed"
        replay = await session.replay(record=False)
        assert replay.identical, replay.differences  # no summary call made again, replies in step
        sid = session.id
    # A new process state: the stored summaries are restored into the rebuilt agents, and going
    # on never asks for a summary the record has.
    async with Session.open(sid, store=store, models=config) as again:
        more = [e async for e in again.stream("and one more thing")]
        bot = again.built.members["bot"]
        known = {(e.partner, e.upto): e.summary for e in made}
        assert all(bot._summaries.get(k) == v for k, v in known.items())
        remade = [e for e in more if isinstance(e, ContextCompacted) and e.summary and (e.partner, e.upto) in known]
        assert not remade
