"""How the chat screen draws events it is handed (the engine's own event types, fixed data):
memory notes on the turn they affect, tool calls folded, the panes linked, stall and stop in the
status bar, selection reasons on the turn."""

from __future__ import annotations

from moot.agents import events as ev
from moot.agents import load_team
from moot.tui.screens.chat import ChatScreen
from moot.tui.widgets import ExecutionEntry, TurnBlock

C = "chat-r"


async def chat_screen(app, pilot, team: str = "coder") -> ChatScreen:
    await pilot.pause()
    screen = ChatScreen(load_team(team, app.models), app.models)
    await app.push_screen(screen)
    await pilot.pause()
    screen.receive(ev.ChatStarted(C, initiator="user", participants=("planner", "coder", "reviewer"), kind="group"))
    return screen


async def feed(screen, pilot, *events):
    for event in events:
        screen.receive(event)
    await screen.flush()
    await pilot.pause()


async def test_memory_tool_calls_and_selection_reason(app_factory):
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        screen = await chat_screen(app, pilot)
        await feed(screen, pilot,
                   ev.SpeakerSelected(C, speaker="coder", candidates=("coder", "reviewer"), method="auto",
                                      reason="chosen by the model among ['coder', 'reviewer']"),
                   ev.MemoryRecalled(C, agent="coder", query="tabs?", memos=({"id": "m1", "recall": "The user prefers tabs."},)),
                   ev.TokenDelta(C, agent="coder", message_id="t1", text="Using tabs. "),
                   ev.MessagePosted(C, message_id="t1", sender="coder", recipient="chat_manager", role="assistant",
                                    content="Using tabs. ", tool_calls=({"id": "call1", "function": {"name": "word_count", "arguments": '{"text": "a b"}'}},)),
                   ev.ToolCallRequested(C, agent="user", call_id="call1", name="word_count", arguments='{"text": "a b"}'),
                   ev.ToolResult(C, agent="user", call_id="call1", name="word_count", content="2", duration_s=0.01),
                   ev.MemoryProposed(C, agent="coder", memo_id="p1", kind="preference", match="tabs", recall="Use tabs."))
        turn = screen.conversation.turns["t1"]
        assert "chosen by auto" in turn.selection_note and "recalled 1 memo: The user prefers tabs." in turn.selection_note
        folds = turn.query(".tool-call")
        assert len(folds) == 2 and all(f.collapsed for f in folds)  # the call and its result, folded
        assert "word_count" in folds[0].title and folds[1].title.startswith("← word_count")
        notes = [str(n.render()) for n in turn.query(".-memory")]
        assert any("proposes to remember: Use tabs." in n for n in notes)


async def test_panes_are_linked_and_failures_stand_out(app_factory):
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        screen = await chat_screen(app, pilot)
        code = "```python\nprint(1/0)\n```"
        await feed(screen, pilot,
                   ev.MessagePosted(C, message_id="a", sender="coder", recipient="chat_manager", role="assistant", content=code),
                   ev.CodeBlockFound(C, agent="user", execution_id="x1", language="python", code="print(1/0)"),
                   ev.ExecutorOutput(C, agent="user", execution_id="x1", text="ZeroDivisionError\n", stream="stderr"),
                   ev.ExecutionFinished(C, agent="user", execution_id="x1", exit_code=1, output="ZeroDivisionError\n",
                                        duration_s=0.2),
                   ev.MessagePosted(C, message_id="b", sender="reviewer", recipient="chat_manager", role="assistant",
                                    content="It failed."))
        entry = screen.executor_pane.entries["x1"]
        turn = screen.conversation.turns["a"]
        assert entry.has_class("-failed") and entry.turn_id == "a" and turn.execution_ids == ["x1"]
        assert any("failed: exit 1" in str(n.render()) for n in turn.query(".turn-note"))
        entry.focus()
        await pilot.pause()
        assert turn.has_class("-linked") and not screen.conversation.turns["b"].has_class("-linked")
        turn.focus()
        await pilot.pause()
        assert entry.has_class("-linked")


async def test_stall_and_stop_reason_in_the_status_bar(app_factory):
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        screen = await chat_screen(app, pilot)
        await feed(screen, pilot,
                   ev.UsageReport(C, agent="coder", model="coder-model", prompt_tokens=1000, completion_tokens=234),
                   ev.Stopped(C, reason="stall: the same message was repeated 3 times ('ok')", condition="Stall(repeat)"))
        text = str(screen.status.render())
        assert "⚠ stall" in text and "■ stopped: stall: the same message was repeated" in text and "1.2k" in text


async def test_streaming_commits_finished_blocks_to_markdown(app_factory):
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        screen = await chat_screen(app, pilot)
        await feed(screen, pilot, ev.TokenDelta(C, agent="coder", message_id="s", text="First para"),
                   ev.TokenDelta(C, agent="coder", message_id="s", text="graph.\n\n```python\nprint(1)\n"))
        turn = screen.conversation.turns["s"]
        tail = turn.query_one(".turn-tail")
        await pilot.pause(0.2)  # the Markdown stream applies its writes in its own task
        assert "First paragraph." in turn.body.source and "print(1)" not in turn.body.source
        assert tail.display and "print(1)" in str(tail.render())  # the open fence waits as plain text
        await feed(screen, pilot, ev.TokenDelta(C, agent="coder", message_id="s", text="```\nDone"))
        await pilot.pause(0.2)
        assert "print(1)" in turn.body.source and str(tail.render()) == "Done"
        await feed(screen, pilot, ev.MessagePosted(C, message_id="s", sender="coder", recipient="x", role="assistant",
                                                   content="First paragraph.\n\n```python\nprint(1)\n```\nDone"))
        assert turn.body.source.endswith("Done") and not tail.display


async def test_a_drawing_error_is_a_notification_not_a_crash(app_factory, monkeypatch):
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        screen = await chat_screen(app, pilot)

        def broken(event):
            raise RuntimeError("boom")

        monkeypatch.setattr(screen, "_draw_stopped", broken)
        await feed(screen, pilot, ev.Stopped(C, reason="done", condition="max_round"),
                   ev.MessagePosted(C, message_id="after", sender="coder", recipient="x", role="assistant", content="still here"))
        assert app.is_running and "after" in screen.conversation.turns
        assert any("boom" in n.message for n in app._notifications)
