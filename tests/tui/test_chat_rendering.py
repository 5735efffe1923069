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
        code = turn.query_one(".turn-tail-code")  # the open fence shows as highlighted code, not a raw fence
        assert code.display and "print(1)" in str(code.render()) and not tail.display
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


def a_chat_in_two_runs() -> list[ev.Event]:
    """A group chat with a nested chat, a reply cut by a stop, then a new message to the same chat."""
    return [
        ev.ChatStarted(C, initiator="user", participants=("planner", "coder", "reviewer"), kind="group"),
        ev.MessagePosted(C, message_id="u1", sender="user", recipient="chat_manager", role="user", content="Plan a haiku."),
        ev.SpeakerSelected(C, speaker="planner", candidates=("planner", "coder"), method="auto", reason="it plans"),
        ev.TokenDelta(C, agent="planner", message_id="p1", text="Three lines: "),
        ev.TokenDelta(C, agent="planner", message_id="p1", text="five, seven, five."),
        ev.MessagePosted(C, message_id="p1", sender="planner", recipient="chat_manager", role="assistant",
                         content="Three lines: five, seven, five."),
        ev.ChatStarted("chat-n", initiator="coder", participants=("coder", "reviewer"), parent_chat_id=C),
        ev.MessagePosted("chat-n", message_id="n1", sender="coder", recipient="reviewer", role="user", content="Check my count."),
        ev.Stopped("chat-n", reason="nested done", condition="max_turns"),
        ev.TokenDelta(C, agent="coder", message_id="c1", text="An old pond, a fr"),
        ev.Stopped(C, reason="the user stopped the run", condition="ExternalStop"),
        ev.NoticeEvent(C, agent="user", text="the chat goes on with a new message", kind="continued"),
        ev.MessagePosted(C, message_id="u2", sender="user", recipient="chat_manager", role="user", content="Finish it."),
        ev.MessagePosted(C, message_id="c2", sender="coder", recipient="chat_manager", role="assistant",
                         content="A frog jumps in."),
        ev.Stopped(C, reason="max_round reached", condition="max_round"),
    ]


def in_order(text: str, parts: list[str]) -> bool:
    at = [text.index(p) for p in parts]
    return at == sorted(at)


async def test_the_app_the_console_and_the_export_show_the_same_turns(app_factory):
    import io

    from rich.console import Console

    from moot.agents.transcript import to_markdown
    from moot.tui.headless import ConsoleRenderer

    events = a_chat_in_two_runs()
    said = ["Plan a haiku.", "Three lines: five, seven, five.", "Check my count.", "An old pond, a fr", "Finish it.",
            "A frog jumps in."]
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        screen = ChatScreen(load_team("coder", app.models), app.models)
        await app.push_screen(screen)
        await feed(screen, pilot, *events)
        turns = screen.conversation.turns
        assert [t.text for t in turns.values()] == said
        cut = turns["c1"]
        assert cut.finished and any("cut off: the user stopped the run" in str(n.render()) for n in cut.query(".-stopped"))
        assert turns["p1"].selection_note == "chosen by auto: it plans"
        assert "nested chat: coder → coder, reviewer" in screen.conversation.lines
        assert screen.stopped_event.condition == "max_round"
    out, err = io.StringIO(), io.StringIO()
    console = ConsoleRenderer(Console(file=out, width=200), Console(file=err, width=200))
    for event in events:
        console(event)
    assert in_order(out.getvalue(), said) and console.stopped.condition == "max_round"
    assert "[continued] user: the chat goes on with a new message" in err.getvalue()
    md = to_markdown(e.to_dict() for e in events)
    assert in_order(md, said) and "## coder (interrupted)" in md and "*chosen by auto: it plans*" in md


async def test_a_resumed_chat_shows_the_reply_that_was_cut_off(app_factory):
    replay = [ev.ChatStarted(C, initiator="executor", participants=("executor", "coder")),
              ev.MessagePosted(C, message_id="m1", sender="executor", recipient="coder", role="user", content="Go."),
              ev.TokenDelta(C, agent="coder", message_id="m2", text="Half a rep")]  # the process died here
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        screen = ChatScreen(load_team("coder", app.models), app.models, replay=replay)
        await app.push_screen(screen)
        await pilot.pause()
        cut = screen.conversation.turns["m2"]
        assert cut.text == "Half a rep" and cut.finished
        assert any("cut off: the session stopped before this reply was finished" in str(n.render()) for n in cut.query(".-stopped"))
        assert screen.transcript.message("m2").interrupted
