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
