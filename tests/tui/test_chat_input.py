"""The chat's input bar: several lines (Ctrl+J / Shift+Enter), Enter sends them all, a paste is kept
whole and the bar grows, Up recalls what was sent."""

from __future__ import annotations

from textual import events

from conftest import wait_until
from moot.tui.screens.chat import ChatScreen


async def open_chat(pilot, app) -> ChatScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
    return app.screen


async def test_enter_sends_every_line_and_ctrl_j_starts_one(app_factory, make_models, coder_team, no_approval):
    models = make_models(**{"coder-model": ["Fine. TERMINATE"]})
    name = coder_team()
    app = app_factory(models=models, team=name)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await pilot.press(*"first line", "ctrl+j", *"second", "shift+enter", *"third")
        assert screen.input.value == "first line\nsecond\nthird"
        await pilot.pause()
        assert screen.input.size.height == 3  # it grew: three lines of text
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.mode == "stopped" and not screen.pending, what="the run")
        first = list(screen.conversation.turns.values())[0]
        assert first.text == "first line\nsecond\nthird"
        assert screen.session.task == "first line\nsecond\nthird"
        assert screen.input.value == ""
        # Up recalls it (Down goes back to the empty draft)
        await pilot.press("up")
        assert screen.input.value == "first line\nsecond\nthird"
        await pilot.press("down", "down", "down")
        assert screen.input.value == ""


async def test_a_paste_is_kept_whole(app_factory, coder_team):
    name = coder_team()
    app = app_factory(team=name)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        task = "Write a script that:\n- reads numbers.txt\n- sums them\n- prints the total"
        app.post_message(events.Paste(task))  # as the terminal driver sends a bracketed paste
        await pilot.pause()
        assert screen.input.value == task
        height = screen.input.size.height
        assert height == 4
        # up on a later line moves the cursor, it does not recall
        await pilot.press("up")
        assert screen.input.value == task


async def test_the_editor_key_says_why_when_no_terminal_can_be_handed_over(app_factory, coder_team):
    name = coder_team()
    app = app_factory(team=name)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        screen.input.value = "draft"
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert screen.input.value == "draft"
        assert any("cannot open the editor" in n.message for n in app._notifications)
