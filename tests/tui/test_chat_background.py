"""A chat outlives its screen: leaving it while a turn streams keeps the run going (Home marks it and
takes you back); stopping and quitting with a live run ask first."""

from __future__ import annotations

from conftest import settings_for_tests, wait_until
from moot.tui.screens.approval import ApprovalScreen
from moot.tui.screens.chat import ChatScreen
from moot.tui.screens.dialogs import ConfirmScreen
from moot.tui.screens.home import HomeScreen

SLOW = {"chunk_delay_s": 0.02, "chunk_size": 4}


async def open_chat(pilot, app) -> ChatScreen:
    def chat():
        return next((s for s in app.screen_stack if isinstance(s, ChatScreen)), None)

    await wait_until(pilot, lambda: chat() is not None and chat().ready, what="the chat screen")
    return chat()


def team_label(home: HomeScreen, name: str) -> str:
    teams = home.query_one("#teams")
    return next(str(teams.get_option_at_index(i).prompt) for i in range(teams.option_count)
                if teams.get_option_at_index(i).id == name)


async def test_leaving_a_streaming_chat_keeps_it_running(app_factory, make_models, coder_team, no_approval):
    reply = "".join(f"word{i} " for i in range(150)) + "TERMINATE"
    models = make_models(**{"coder-model": {"backend": "scripted", "replies": [reply], "options": SLOW}})
    name = coder_team()
    app = app_factory(models=models, team=name, task="talk")
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot, app)
        await wait_until(pilot, lambda: chat.status.state == "streaming", what="streaming")
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
        home = app.screen
        assert chat.running and chat in app.chats
        assert "● running" in team_label(home, name)
        # the run goes on while the user is on Home, and ends by itself
        await wait_until(pilot, lambda: chat.mode == "stopped", timeout=30, what="the run to end in the background")
        assert chat.session.outcome.value == "completed"
        assert not [n for n in app._notifications if n.severity in ("error", "warning")], \
            [n.message for n in app._notifications]
        coder = [t for t in chat.conversation.turns.values() if t.agent == "coder"][0]
        assert coder.text == reply
        # the sessions list has it, and resuming it goes back to the same live chat
        home.load_sessions()
        assert app.session_store().list()[0].status != "running"
        app.resume_session(chat.session_id)
        await wait_until(pilot, lambda: app.screen is chat, what="back to the chat")
        assert "■ stopped" in "\n".join(chat.conversation.lines)
        # leaving a chat with nothing running closes it
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
        await wait_until(pilot, lambda: chat not in app.chats and not chat.is_attached, what="the idle chat closed")


async def test_home_takes_you_back_to_the_running_chat(app_factory, make_models, coder_team, no_approval):
    models = make_models(**{"coder-model": {"backend": "scripted", "replies": ["slow " * 400], "options": SLOW}})
    name = coder_team()
    app = app_factory(models=models, team=name, task="go")
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot, app)
        await wait_until(pilot, lambda: chat.status.state == "streaming", what="streaming")
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
        teams = app.screen.query_one("#teams")
        teams.focus()
        teams.highlighted = [str(teams.get_option_at_index(i).id) for i in range(teams.option_count)].index(name)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is chat, what="the same chat, still running")
        assert chat.running
        # Ctrl+X asks first: No keeps the run, Yes stops it
        await pilot.press("ctrl+x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the stop question")
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is chat, what="the chat again")
        assert chat.running
        await pilot.press("ctrl+x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the stop question")
        await pilot.press("y")
        await wait_until(pilot, lambda: chat.mode == "stopped", what="the stop")
        assert chat.stopped_event.reason == "stopped by the user (Stop)"


async def test_quitting_with_a_live_run_asks_even_during_an_approval(app_factory, coder_team):
    settings_for_tests(approve=True)
    name = coder_team()
    app = app_factory(team=name, task="print 6*7")
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot, app)
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the approval modal")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the quit question")
        assert "still running" in app.screen.question
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the approval again")
        assert app.is_running and chat.running
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the quit question")
        session_id = chat.session_id
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running or app._exit_renderables is not None or not chat.running,
                         what="the quit")
    info = app.session_store().get(session_id)
    assert info.stop_reason == "the user quit moot (Ctrl+Q)", (info.status, info.stop_reason)


async def test_an_approval_asked_in_the_background_waits_for_the_user(app_factory, make_models, coder_team):
    """Code to approve while the user is on Home: Home says the chat waits; back in it, the modal."""
    settings_for_tests(approve=True)
    models = make_models(**{"coder-model": {"backend": "scripted", "options": SLOW, "replies": [
        "thinking " * 60 + "\n\n```python\nprint(6 * 7)\n```", "The script printed 42. TERMINATE"]}})
    name = coder_team()
    app = app_factory(models=models, team=name, task="print 6*7")
    async with app.run_test(size=(120, 40)) as pilot:
        chat = await open_chat(pilot, app)
        await wait_until(pilot, lambda: chat.status.state == "streaming", what="streaming")
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
        await wait_until(pilot, lambda: chat.waiting, timeout=20, what="the approval to be asked")
        assert isinstance(app.screen, HomeScreen)  # no modal over Home
        await wait_until(pilot, lambda: "waiting for you" in team_label(app.screen, name), what="Home's mark")
        app.open_team(name)
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the modal, back in the chat")
        # leaving with the modal open (the palette's Home): the question waits, asked again on the way back
        await app.action_home()
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen), what="home")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HomeScreen) and chat.waiting
        app.open_team(name)
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the modal again")
        modal = app.screen
        await wait_until(pilot, lambda: modal.armed, what="the modal's buttons to arm")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: chat.mode == "stopped", timeout=20, what="the run to end")
        assert [e.output for e in chat.executor_pane.entries.values()] == ["42\n"]
