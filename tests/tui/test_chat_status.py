"""The status bar counts right: tokens while a reply streams, no rate from the first few tokens,
the context meter of the speaker, a turn cut by Esc counted, the clock (and timeout_s) stands
still while the approval waits, a resumed chat shows the time it ran."""

from __future__ import annotations

import asyncio

from conftest import TWO_AGENT_TEAM, settings_for_tests, wait_until
from moot.agents import events as ev
from moot.agents import load_team
from moot.tui.screens.approval import ApprovalScreen
from moot.tui.screens.chat import ChatScreen


def bar(screen) -> str:
    return str(screen.status.render())


async def test_streaming_tokens_rate_and_context_meter(app_factory, coder_team):
    name = coder_team()
    app = app_factory()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        screen = ChatScreen(load_team(name, app.models), app.models)
        await app.push_screen(screen)
        await pilot.pause()
        for event in (ev.ChatStarted("c1", initiator="executor", participants=("executor", "coder")),
                      ev.SpeakerSelected("c1", speaker="coder", candidates=("coder",), method="two_agent"),
                      ev.TokenDelta("c1", agent="coder", message_id="m1", text="word " * 100)):
            screen.receive(event)
        await screen.flush()
        assert screen.status.rate is None and "tok/s" not in bar(screen)  # no "1 tok/s" from the first tokens
        assert "125 tok" in bar(screen)  # 500 characters streamed: about 125 tokens, before any usage report
        screen.receive(ev.MessagePosted("c1", message_id="m1", sender="coder", recipient="executor", role="assistant",
                                        content="word " * 100))
        screen.receive(ev.UsageReport("c1", agent="coder", model="coder-model", prompt_tokens=3100,
                                      completion_tokens=125, window=8192))
        await screen.flush()
        text = bar(screen)
        assert "ctx 3.1k/8.2k" in text and "3.2k tok" in text


async def test_a_turn_stopped_with_esc_is_counted(app_factory, make_models, coder_team, no_approval):
    models = make_models(**{"coder-model": {"backend": "scripted", "replies": ["thinking " * 300],
                                            "options": {"chunk_delay_s": 0.03, "chunk_size": 4}}})
    name = coder_team()
    app = app_factory(models=models, team=name, task="think")
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        screen = app.screen
        await wait_until(pilot, lambda: screen.status.state == "streaming", what="streaming")
        before = screen.status.round
        await pilot.press("escape")
        await wait_until(pilot, lambda: screen.mode == "continue" and not screen.pending, what="the stop")
        assert screen.status.round == before + 1 or screen.status.round >= 1
        assert "turn 1/3" in bar(screen)


async def test_deciding_on_code_does_not_eat_the_time_limit(app_factory, write_team, make_models):
    settings_for_tests(approve=True)
    team = TWO_AGENT_TEAM.format(name="timed", human="NEVER", model="coder-model", max_turns=3) + \
        "\n[termination]\ntimeout_s = 1\n"
    write_team(team, "timed")
    app = app_factory(team="timed", task="print 6*7")
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the approval")
        chat = next(s for s in app.screen_stack if isinstance(s, ChatScreen))
        await asyncio.sleep(1.5)  # longer than the team's timeout_s, spent deciding
        await pilot.pause()
        assert chat.status.elapsed < 1.0  # the clock stood still
        modal = app.screen
        await wait_until(pilot, lambda: modal.armed, what="armed")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: chat.mode == "stopped" and not chat.pending, timeout=20, what="the end")
        assert chat.stopped_event.condition != "Timeout", chat.stopped_event
        assert [e.output for e in chat.executor_pane.entries.values()] == ["42\n"]


async def test_a_resumed_chat_shows_the_time_it_ran(app_factory, make_models, coder_team, no_approval):
    models = make_models(**{"coder-model": {"backend": "scripted", "replies": ["slow " * 60 + "TERMINATE"],
                                            "options": {"chunk_delay_s": 0.02, "chunk_size": 4}}})
    name = coder_team()
    app = app_factory(models=models, team=name, task="go")
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        first = app.screen
        await wait_until(pilot, lambda: first.mode == "stopped" and not first.pending, what="the run")
        ran = first.elapsed_before
        session_id = first.session_id
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: first not in app.chats, what="the chat closed")
        app.resume_session(session_id)
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="resumed")
        resumed = app.screen
        assert resumed is not first
        assert resumed.status.elapsed > 0.5 * ran > 0
        assert " 0 s" not in bar(resumed)
