"""The transcript reducer: events -> turns, fed one at a time (console, app) or all at once (export).

A real group chat (scripted models, a tool, code run by the local executor) and fixed event lists of
the engine's own event classes: memory notes, a resume after a crash with a reply cut mid-stream,
several runs of one root chat. Incremental and whole reductions must agree, from live events and
from what the session store kept (token deltas merged)."""

from __future__ import annotations

from moot.agents import AssistantAgent, GroupChat, GroupChatManager, UserProxyAgent, use_models
from moot.agents import events as ev
from moot.agents.transcript import (
    ExecutionTurn,
    MessageTurn,
    NoticeTurn,
    SpeakerChoice,
    ToolResultTurn,
    Transcript,
    reduce,
    to_markdown,
)
from moot.backends.config import scripted_models
from moot.memory import SessionStore

C = "chat-t"


def incremental(events) -> Transcript:
    transcript = Transcript()
    for event in events:
        transcript.feed(event)
    transcript.close()
    return transcript


def as_data(transcript: Transcript) -> list[dict]:
    return [t.to_dict() for t in transcript.turns]


def kinds(transcript: Transcript) -> list[str]:
    return [t.kind if not isinstance(t, NoticeTurn) else f"notice:{t.what}" for t in transcript.turns]


async def group_chat_with_a_tool_and_code(tmp_path) -> list[ev.Event]:
    use_models(scripted_models({"coder": [
        {"content": "", "tool_calls": [{"name": "lookup", "arguments": {"q": "primes"}}]},
        "Here is the script:\n\n```python\nprint(6 * 7)\n```",
        "It printed 42. TERMINATE",
    ]}))
    coder = AssistantAgent("coder", llm_config="coder")
    runner = UserProxyAgent("runner", human_input_mode="NEVER", default_auto_reply="",
                            code_execution_config={"executor": "local", "work_dir": str(tmp_path / "work")})

    @runner.register_for_execution()
    @coder.register_for_llm(description="Look something up.")
    def lookup(q: str) -> str:
        return f"2, 3, 5 are {q}"

    gc = GroupChat([runner, coder], max_round=8, speaker_selection_method="round_robin")
    manager = GroupChatManager(gc, llm_config=False, is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""))
    return [e async for e in runner.run_stream(manager, message="Sum some primes.")]


async def test_a_group_chat_with_a_tool_call_and_code(tmp_path):
    events = await group_chat_with_a_tool_and_code(tmp_path)
    t = reduce(events)
    assert kinds(t) == ["message", "message", "tool_result", "message", "message", "execution", "message", "message",
                        "notice:stopped"]
    task, asks, result, answer, code, run, report, done, stop = t.turns
    assert (task.agent, task.recipient, task.text, task.number) == ("runner", "chat_manager", "Sum some primes.", 1)
    assert task.selection is None and not task.streamed
    # the tool call is folded into the message that asked for it, with its result
    assert asks.agent == "coder" and asks.content is None and [c.name for c in asks.tool_calls] == ["lookup"]
    assert isinstance(result, ToolResultTurn) and result.content == "2, 3, 5 are primes"
    assert asks.tool_calls[0].result is result and result.message_id == asks.message_id
    assert "owner of the pending tool call lookup" in answer.selection.reason and answer.role == "tool"
    # the code run is linked to the message whose code it runs
    assert isinstance(run, ExecutionTurn) and run.message_id == code.message_id and code.execution_ids == [run.execution_id]
    assert (run.language, run.output, run.exit_code, run.number) == ("python", "42\n", 0, 1) and run.duration_s > 0
    assert code.streamed and not code.partial and code.selection.note == "chosen by round_robin: next in turn (all agents)"
    assert report.is_execution_report and done.text == "It printed 42. TERMINATE"
    assert [m.number for m in t.turns if isinstance(m, MessageTurn)] == [1, 2, 3, 4, 5, 6]
    assert stop.condition == "is_termination_msg" and stop.outcome == "completed" and t.last_stop is stop
    assert {m.run for m in t.turns if isinstance(m, MessageTurn)} == {1}
    assert t.usage["coder"]["completion"] > 0

    # as the session store keeps it (deltas of one message merged into one row): the same turns
    store = SessionStore.open_default()
    recorder = store.recorder(title="primes")
    for event in events:
        recorder(event)
    recorder.close()
    stored = store.events(recorder.session_id)
    assert sum(e["type"] == "token_delta" for e in stored) < sum(isinstance(e, ev.TokenDelta) for e in events)
    assert as_data(reduce(stored)) == as_data(incremental(events)) == as_data(t)


async def test_incremental_changes_while_a_reply_streams():
    t = Transcript()
    (chosen,) = t.feed(ev.SpeakerSelected(C, speaker="coder", candidates=("coder", "critic"), method="auto", reason="it codes"))
    assert chosen.what == "selected" and isinstance(chosen.turn, SpeakerChoice) and t.turns == []
    added, text = t.feed(ev.TokenDelta(C, agent="coder", message_id="m1", text="Hel"))
    turn = added.turn
    assert added.what == "added" and text.what == "text" and text.text == "Hel"
    assert turn.partial and turn.streamed and turn.selection is chosen.turn and turn.number == 0
    (more,) = t.feed(ev.TokenDelta(C, agent="coder", message_id="m1", text="lo"))
    assert more.turn is turn and more.text == "lo" and turn.text == "Hello"
    (posted,) = t.feed(ev.MessagePosted(C, message_id="m1", sender="coder", recipient="critic", role="assistant",
                                        content="Hello."))
    assert posted.what == "posted" and posted.turn is turn
    assert not turn.partial and turn.text == "Hello." and turn.recipient == "critic" and turn.number == 1
    assert t.feed(ev.TokenDelta(C, agent="coder", message_id="m1", text="late")) == []  # after its message: ignored
    assert t.close() == [] and not turn.interrupted
    # a choice goes with its speaker's turn, not with whoever speaks in between
    t.feed(ev.SpeakerSelected(C, speaker="critic", candidates=("critic",), method="round_robin"))
    t.feed(ev.MessagePosted(C, message_id="m2", sender="coder", recipient="critic", role="assistant", content="aside"))
    t.feed(ev.MessagePosted(C, message_id="m3", sender="critic", recipient="coder", role="assistant", content="ok"))
    assert t.message("m2").selection is None and t.message("m3").selection.method == "round_robin"


def memory_events() -> list[ev.Event]:
    return [
        ev.ChatStarted(C, initiator="user", participants=("user", "coder")),
        ev.MemoryProposed(C, agent="coder", memo_id="p0", kind="preference", match="early", recall="Before anything."),
        ev.MessagePosted(C, message_id="m1", sender="user", recipient="coder", role="user", content="Indent my code."),
        ev.MemoryRecalled(C, agent="coder", query="indent", memos=({"id": "k1", "recall": "The user prefers tabs."},
                                                                    {"id": "k2", "recall": "Use Python 3.11."})),
        ev.TokenDelta(C, agent="coder", message_id="m2", text="With tabs."),
        ev.MessagePosted(C, message_id="m2", sender="coder", recipient="user", role="assistant", content="With tabs."),
        ev.MemoryStored(C, agent="coder", memo_id="k3", kind="preference", match="tabs", recall="Tabs, always.",
                        action="added"),
        ev.Stopped(C, reason="done", condition="max_turns"),
    ]


def test_memory_notes_go_with_the_turn_they_affect():
    events = memory_events()
    t = reduce(events)
    early, first, reply, _stop = t.turns
    assert isinstance(early, NoticeTurn) and early.what == "memory" and "proposes to remember: Before anything." in early.text
    assert first.memory == []
    recalled, stored = reply.memory
    assert recalled.action == "recalled" and recalled.memo_ids == ("k1", "k2")
    assert recalled.text == "recalled 2 memos: The user prefers tabs.; Use Python 3.11."
    assert stored.action == "added" and stored.text == "memory added: Tabs, always."
    assert as_data(t) == as_data(incremental(e.to_dict() for e in events))


def three_runs_of_one_root_chat() -> list[ev.Event]:
    """Run 1 dies while the coder streams; run 2 resumes and stops; run 3 is a new message after the stop."""
    return [
        ev.ChatStarted(C, initiator="user", participants=("user", "coder")),
        ev.MessagePosted(C, message_id="m1", sender="user", recipient="coder", role="user", content="Write a haiku."),
        ev.TokenDelta(C, agent="coder", message_id="m2", text="An old si"),  # the process died here
        ev.NoticeEvent(C, agent="coder", text="resumed after message 1", kind="resumed"),
        ev.MessagePosted(C, message_id="m3", sender="coder", recipient="user", role="assistant", content="An old silent pond"),
        ev.Stopped(C, reason="the user stopped the run", condition="ExternalStop"),
        ev.MessagePosted(C, message_id="m4", sender="user", recipient="coder", role="user", content="Another one."),
        ev.ChatStarted("chat-nested", initiator="coder", participants=("coder", "critic"), parent_chat_id=C),
        ev.MessagePosted("chat-nested", message_id="n1", sender="coder", recipient="critic", role="user", content="ok?"),
        ev.Stopped("chat-nested", reason="nested done", condition="max_turns"),
        ev.TokenDelta(C, agent="coder", message_id="m5", text="A frog"),
        ev.MessagePosted(C, message_id="m5", sender="coder", recipient="user", role="assistant", content="A frog jumps in"),
        ev.Stopped(C, reason="max_turns reached", condition="max_turns", summary="A frog jumps in"),
    ]


def test_a_reply_cut_by_a_crash_a_resume_and_a_new_message_after_a_stop():
    events = three_runs_of_one_root_chat()
    t = Transcript()
    changes = [t.feed(e) for e in events]
    resumed = changes[3]
    assert [c.what for c in resumed] == ["added", "interrupted"]  # the resume notice, then the cut reply
    cut = t.message("m2")
    assert resumed[1].turn is cut and cut.partial and cut.interrupted and cut.text == "An old si" and cut.number == 0
    assert t.close() == []
    assert kinds(t) == ["message", "message", "notice:resumed", "message", "notice:stopped", "message",
                        "notice:nested_chat", "message", "notice:stopped", "message", "notice:stopped"]
    runs = {m.message_id: (m.run, m.number, m.depth) for m in t.turns if isinstance(m, MessageTurn)}
    assert runs == {"m1": (1, 1, 0), "m2": (1, 0, 0), "m3": (2, 2, 0), "m4": (3, 3, 0), "n1": (3, 4, 1), "m5": (3, 5, 0)}
    assert t.last_stop.condition == "max_turns" and t.last_stop.summary == "A frog jumps in"
    assert t.last_stop.outcome == "completed" and t.turns[4].outcome == "cancelled"
    assert as_data(t) == as_data(reduce(e.to_dict() for e in events))


def test_whole_reduction_interrupts_a_reply_that_never_finished():
    events = three_runs_of_one_root_chat()[:3]
    t = reduce(events)
    (cut,) = [m for m in t.turns if isinstance(m, MessageTurn) and m.partial]
    assert cut.interrupted and cut.cut_reason == "the stream ended before this reply was finished"
    live = Transcript()
    for e in events:
        live.feed(e)
    assert not live.message("m2").interrupted  # still streaming, as far as a live reader knows
    (change,) = live.close()
    assert change.what == "interrupted" and change.turn is live.message("m2")


def test_markdown_keeps_every_message_of_every_run_in_order():
    md = to_markdown([e.to_dict() for e in three_runs_of_one_root_chat()])
    lines = md.splitlines()
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == ["## 1. user → coder", "## coder (interrupted)", "## 2. coder → user", "## 3. user → coder",
                        "## 4. coder → critic *(nested chat)*", "## 5. coder → user"]
    assert "*resumed after message 1*" in lines and "*This reply was cut off before it was finished:*" in lines
    # the first run's stop stays where it happened; the last one closes the transcript
    assert lines.index("**Stopped:** the user stopped the run (`ExternalStop`)") < lines.index("## 3. user → coder")
    assert md.rstrip().endswith("**Stopped:** max_turns reached (`max_turns`)\n\n**Summary:** A frog jumps in")
    assert "nested done" not in md


def test_an_event_this_moot_does_not_know_is_a_notice_not_a_crash():
    t = reduce([{"type": "chat_started", "chat_id": C, "ts": 1.0, "initiator": "a", "participants": ["a", "b"]},
                {"type": "from_the_future", "chat_id": C, "ts": 2.0}])
    (notice,) = t.turns
    assert notice.what == "unknown_event" and "'from_the_future'" in notice.text


async def test_two_root_chats_recorded_in_one_session_export_whole(tmp_path):
    """A session holding a second root chat (as the app recorded a continued chat): the Markdown
    keeps the messages of both, in order (the old export kept only the first chat's)."""
    use_models(scripted_models({"bot": ["one", "two", "three", "four", "five", "six"]}))
    store = SessionStore.open_default()
    recorder = store.recorder(title="twice")
    sid = recorder.session_id
    contents = []
    for task in ("first task", "second task"):
        user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False, default_auto_reply="go on")
        bot = AssistantAgent("bot", llm_config="bot")
        stream = user.run_stream(bot, message=task, max_turns=2)
        async for event in stream:
            recorder(event)
        recorder.close()
        recorder = store.recorder(session_id=sid)
        contents += [m["content"] for m in stream.result.chat_history]
    recorder.close()
    events = store.events(sid)
    assert len({e["chat_id"] for e in events if e["type"] == "chat_started"}) == 2
    md = to_markdown(events, store.get(sid))
    lines = md.splitlines()
    numbered = [i for i, line in enumerate(lines) if line.startswith("## ")]
    assert [lines[i].split(".")[0] for i in numbered] == [f"## {n}" for n in range(1, 9)]
    assert [lines[i + 2] for i in numbered] == contents and len(contents) == 8
    runs = [m.run for m in reduce(events).turns if isinstance(m, MessageTurn)]
    assert runs == [1] * 4 + [2] * 4
