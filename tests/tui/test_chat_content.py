"""Long content in the conversation: wide code scrolls sideways and says so, code streams highlighted
before its fence closes, an executor's long report is folded to its tail, code blocks name their
language and copy; a model's reasoning is folded and dimmed apart from its answer, toggled by a key."""

from __future__ import annotations

from textual.widgets import Collapsible

from conftest import wait_until
from moot.agents import events as ev
from moot.agents import load_team
from moot.tui.screens.chat import ChatScreen
from moot.tui.widgets.conversation import CodeFence

WIDE = "x = " + " + ".join(str(i) for i in range(120))


async def chat_screen(app, pilot, name):
    screen = ChatScreen(load_team(name, app.models), app.models)
    await app.push_screen(screen)
    await pilot.pause()
    screen.receive(ev.ChatStarted("c1", initiator="executor", participants=("executor", "coder")))
    return screen


def posted(message_id: str, content: str, sender: str = "coder", recipient: str = "executor") -> ev.MessagePosted:
    return ev.MessagePosted("c1", message_id=message_id, sender=sender, recipient=recipient, role="assistant",
                            content=content)


async def test_wide_code_scrolls_with_a_hint_and_copies(app_factory, coder_team):
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        screen = await chat_screen(app, pilot, coder_team())
        screen.receive(posted("m1", f"Here:\n\n```python\n{WIDE}\nprint(x)\n```\n\nRun it."))
        await screen.flush()
        await pilot.pause()
        fence = screen.query_one(CodeFence)
        header = str(fence.query_one(".fence-header").render())
        assert header.startswith("python") and "copy" in header
        assert f"{len(WIDE)} columns wide: scroll sideways" in header
        assert fence.max_scroll_x > 0  # it scrolls instead of cutting
        fence.focus()
        await pilot.press("right", "right")
        assert fence.scroll_x > 0
        await pilot.press("c")
        assert app.clipboard == f"{WIDE}\nprint(x)"
        screen.conversation.turns["m1"].focus()
        await pilot.press("y")  # the whole turn
        assert app.clipboard == f"Here:\n\n```python\n{WIDE}\nprint(x)\n```\n\nRun it."


async def test_a_narrow_block_has_no_hint(app_factory, coder_team):
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        screen = await chat_screen(app, pilot, coder_team())
        screen.receive(posted("m1", "```sh\necho hi\n```"))
        await screen.flush()
        await pilot.pause()
        header = str(screen.query_one(CodeFence).query_one(".fence-header").render())
        assert header.startswith("sh") and "wide" not in header


async def test_code_streams_highlighted_before_its_fence_closes(app_factory, coder_team):
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        screen = await chat_screen(app, pilot, coder_team())
        for text in ["Here is the script:\n\n", "```python\n", "def f(n):\n", "    return n * 2\n"]:
            screen.receive(ev.TokenDelta("c1", agent="coder", message_id="m1", text=text))
        await screen.flush()
        await pilot.pause()
        block = screen.conversation.turns["m1"]
        code = block.query_one(".turn-tail-code")
        assert code.display
        shown = code.render()
        assert str(shown).startswith("python  writing…") and "return n * 2" in str(shown)
        assert any("def" == str(shown)[s.start:s.end] for s in shown.spans)  # highlighted: the keyword styled
        assert "```" not in str(block.query_one(".turn-tail").render())  # no raw fence shown
        screen.receive(ev.TokenDelta("c1", agent="coder", message_id="m1", text="```\n\nDone.\n\n"))
        await screen.flush()
        await pilot.pause()
        assert not code.display and screen.query_one(CodeFence).code == "def f(n):\n    return n * 2"


async def test_an_executors_long_report_is_folded_to_its_tail(app_factory, coder_team):
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        screen = await chat_screen(app, pilot, coder_team())
        lines = "\n".join(f"line {i}" for i in range(500))
        report = f"exitcode: 1 (execution failed)\nCode output: {lines}\nValueError: at the end"
        screen.receive(posted("m2", report, sender="executor", recipient="coder"))
        await screen.flush()
        await pilot.pause()
        block = screen.conversation.turns["m2"]
        shown = block.query_one(CodeFence).code
        assert shown.startswith("exitcode: 1") and shown.endswith("ValueError: at the end")
        assert "line 499" in shown and "line 100\n" not in shown and len(shown.splitlines()) == 10
        fold = block.query_one(".turn-report", Collapsible)
        assert fold.collapsed and "all 502 lines" in fold.title
        assert block.region.height < 25  # not 500 lines tall


async def test_reasoning_is_folded_and_toggled(app_factory, make_models, coder_team, no_approval):
    models = make_models(**{"coder-model": ["<think>The user wants a sum. 2 and 2 make 4.</think>The answer is 4. TERMINATE"]})
    app = app_factory(models=models, team=coder_team(), task="add 2 and 2")
    async with app.run_test(size=(140, 44)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        screen = app.screen
        await wait_until(pilot, lambda: screen.mode == "stopped" and not screen.pending, timeout=30, what="the end")
        await pilot.pause()
        block = next(b for b in screen.conversation.turns.values() if b.reasoning)
        fold = block.query_one(".turn-reasoning", Collapsible)
        assert fold.display and fold.collapsed and fold.title.startswith("thought")
        assert "2 and 2 make 4" in block.reasoning and "think" not in block.text and "answer is 4" in block.text
        await pilot.press("ctrl+r")
        assert not fold.collapsed and screen.conversation.reasoning_open
        await pilot.press("ctrl+r")
        assert fold.collapsed


async def test_search_finds_counts_and_highlights(app_factory, coder_team):
    from moot.tui.widgets.search import SearchBar

    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        screen = await chat_screen(app, pilot, coder_team())
        screen.receive(posted("m1", "The total is 42.\n\n```python\ntotal = sum(range(10))\nprint(total)\n```"))
        screen.receive(posted("m2", "exitcode: 0 (execution succeeded)\nCode output: 45", sender="executor", recipient="coder"))
        screen.receive(posted("m3", "So the Total is 45. TERMINATE"))
        await screen.flush()
        await pilot.pause()
        await pilot.press("ctrl+f")
        bar = screen.query_one(SearchBar)
        assert bar.display and app.focused is bar.query_one("Input")
        await pilot.press(*"total")
        await pilot.pause()
        count = bar.query_one("#search-count")
        assert str(count.render()) == "1/4"  # case-insensitive, in prose and in code
        turns = screen.conversation.turns
        assert turns["m1"].has_class("-match-current") and turns["m3"].has_class("-match") and not turns["m2"].has_class("-match")
        (widget, selection), = screen.selections.items()
        assert widget.get_selection(selection)[0] == "total"
        await pilot.press("enter", "enter", "enter")
        assert str(count.render()) == "4/4" and turns["m3"].has_class("-match-current")
        assert next(iter(screen.selections)).get_selection(next(iter(screen.selections.values())))[0] == "Total"
        await pilot.press("enter")
        assert str(count.render()) == "1/4"  # round again
        await pilot.press("up")
        assert str(count.render()) == "4/4"
        await pilot.press("backspace", *"zzz")
        assert str(count.render()) == "no match" and not screen.selections
        await pilot.press("escape")
        assert not bar.display and app.focused is screen.input and not turns["m1"].has_class("-match")


async def test_export_writes_markdown_or_json_and_says_where(app_factory, make_models, coder_team, no_approval, tmp_path):
    import json

    from moot.memory import SessionStore
    from moot.tui.screens.export import ExportScreen

    store = SessionStore(tmp_path / "sessions.db")
    models = make_models(**{"coder-model": ["The answer is 4. TERMINATE"]})
    app = app_factory(models=models, team=coder_team(), task="add 2 and 2", session_store=store)
    async with app.run_test(size=(140, 44)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        screen = app.screen
        await wait_until(pilot, lambda: screen.mode == "stopped" and not screen.pending, timeout=30, what="the end")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export dialog")
        path = app.screen.query_one("Input").value
        assert path.endswith(".md") and path.startswith(str(tmp_path))
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.last_export is not None, what="the export")
        text = screen.last_export.read_text()
        assert "add 2 and 2" in text and "The answer is 4." in text
        assert any(f"exported the session to {screen.last_export}" in n.message and "Markdown" in n.message
                   for n in app._notifications)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen), what="the export dialog")
        app.screen.query_one("Input").value = str(tmp_path / "out" / "chat.json")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.last_export.name == "chat.json", what="the JSON export")
        assert json.loads(screen.last_export.read_text())  # the recording, as moot sessions export writes it


async def test_a_closing_fence_on_its_way_is_not_shown_as_code(app_factory, coder_team):
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        screen = await chat_screen(app, pilot, coder_team())
        screen.receive(ev.TokenDelta("c1", agent="coder", message_id="m1", text="```python\nprint(1)\n``"))
        await screen.flush()
        await pilot.pause()
        shown = str(screen.conversation.turns["m1"].query_one(".turn-tail-code").render())
        assert shown.endswith("print(1)") and "``" not in shown
