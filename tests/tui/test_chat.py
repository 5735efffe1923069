"""The chat screen driven through the app with scripted models: start, stream, human input, code
approval (run / edit / skip), Esc and Stop, /next, injected messages, failures."""

from __future__ import annotations

import pytest

from moot.agents import events as ev
from conftest import GROUP_TEAM, settings_for_tests, wait_until
from moot.tui.screens.approval import ApprovalScreen
from moot.tui.screens.chat import ChatScreen
from moot.tui.screens.dialogs import ConfirmScreen
from moot.tui.screens.home import HomeScreen

SLOW = {"chunk_delay_s": 0.03, "chunk_size": 4}


async def open_chat(pilot, app) -> ChatScreen:
    def chat():
        return next((s for s in app.screen_stack if isinstance(s, ChatScreen)), None)

    await wait_until(pilot, lambda: chat() is not None and chat().ready, what="the chat screen")
    return chat()


async def finished(pilot, screen: ChatScreen, timeout: float = 20) -> None:
    await wait_until(pilot, lambda: screen.mode in ("stopped", "continue") and not screen.pending, timeout,
                     what="the run to stop")


async def test_start_a_chat_from_home_by_keys(app_factory, coder_team, no_approval):
    name = coder_team()
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
        home = app.screen
        teams = home.query_one("#teams")
        names = [str(teams.get_option_at_index(i).id) for i in range(teams.option_count)]
        teams.highlighted = names.index(name)
        await pilot.press("enter")
        screen = await open_chat(pilot, app)
        assert screen.input.has_focus
        await pilot.press(*"print 6*7", "enter")
        await finished(pilot, screen)
        texts = [t.text for t in screen.conversation.turns.values()]
        assert texts[0] == "print 6*7"
        assert "print(6 * 7)" in texts[1]
        entries = list(screen.executor_pane.entries.values())
        assert len(entries) == 1 and entries[0].output == "42\n" and entries[0].exit_code == 0
        assert entries[0].has_class("-ok")
        assert screen.stopped_event.condition == "is_termination_msg"
        assert "stopped:" in str(screen.status.render())
        # the turn that wrote the code links to its run
        code_turn = list(screen.conversation.turns.values())[1]
        assert code_turn.execution_ids == [entries[0].execution_id]
        # and the run was recorded as a session
        sessions = app.session_store().list()
        assert len(sessions) == 1 and sessions[0].title == "print 6*7" and sessions[0].messages == 4


async def test_streaming_draws_every_delta_in_batches(app_factory, make_models, coder_team, no_approval):
    reply = "".join(f"word{i} " for i in range(120)) + "TERMINATE"
    models = make_models(**{"coder-model": {"backend": "scripted", "replies": [reply],
                                            "options": {"chunk_delay_s": 0.002, "chunk_size": 3}}})
    name = coder_team()
    app = app_factory(models=models, team=name)
    deltas: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        original = screen.receive

        def spy(event):
            if isinstance(event, ev.TokenDelta):
                deltas.append(event.text)
            original(event)

        screen.receive = spy  # in place before the task starts
        screen.input.value = "talk"
        await pilot.press("enter")
        await finished(pilot, screen)
        turn = [t for t in screen.conversation.turns.values() if t.agent == "coder"][0]
        assert turn.text == reply
        assert turn.body.source == reply  # the final full render has all of it
        streamed = "".join(deltas)
        assert streamed == reply  # every delta reached the screen
        assert screen.events_seen >= len(reply) // 3  # every delta event was drawn (joined in batches)


async def test_human_input_goes_through_the_input_bar(app_factory, coder_team, no_approval):
    name = coder_team(human="ALWAYS")
    app = app_factory(team=name, task="print 6*7")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await wait_until(pilot, lambda: screen.mode == "human", what="the executor to ask the human")
        assert "Your reply to coder (as executor)?" in screen.input.placeholder
        assert screen.input.has_focus
        await pilot.press(*"use a loop instead", "enter")
        await wait_until(pilot, lambda: any("use a loop instead" == t.text for t in screen.conversation.turns.values()),
                         what="the human reply to be sent as the executor's message")
        # the next ask: typing exit ends the chat
        await wait_until(pilot, lambda: screen.mode == "human" and len(screen.conversation.turns) == 4,
                         what="the second ask")
        await pilot.press(*"exit", "enter")
        await finished(pilot, screen)
        assert screen.stopped_event.condition == "human_exit"


@pytest.mark.parametrize("choice", ["run", "edit", "skip"])
async def test_code_approval_modal(app_factory, coder_team, choice):
    settings_for_tests(approve=True)
    name = coder_team()
    app = app_factory(team=name, task="print 6*7")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the approval modal")
        modal = app.screen
        # the modal can be pushed before its first layout; clicks need the buttons placed
        await wait_until(pilot, lambda: any(b.region.width > 0 for b in modal.query("#run")), what="the modal's layout")
        await wait_until(pilot, lambda: modal.armed, what="the modal's buttons to arm")
        await pilot.pause()
        assert modal.editor.text.strip() == "print(6 * 7)"
        if choice == "run":
            await pilot.click("#run")
        elif choice == "skip":
            await pilot.press("escape")
        else:
            await pilot.click("#edit")
            assert not modal.editor.read_only
            modal.editor.text = "print(6 * 9)\n"
            await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.screen is screen, what="the modal to close")
        await wait_until(pilot, lambda: screen.executor_pane.entries, what="the execution entry")
        entry = list(screen.executor_pane.entries.values())[0]
        if choice == "skip":
            assert entry.action == "skipped" and entry.has_class("-skipped") and entry.output == ""
        else:
            await wait_until(pilot, lambda: entry.exit_code is not None, what="the run to finish")
            assert entry.output == ("42\n" if choice == "run" else "54\n")
            assert entry.action == ("run" if choice == "run" else "edited")
        await pilot.press("ctrl+x", "y")  # Stop (it asks first): the coder's next code would ask again
        await finished(pilot, screen)


async def test_esc_stops_the_turn_and_the_chat_goes_on(app_factory, make_models, coder_team, no_approval):
    long = "thinking " * 200
    models = make_models(**{"coder-model": {"backend": "scripted", "replies": [long, "All done. TERMINATE"],
                                            "options": SLOW}})
    name = coder_team()
    app = app_factory(models=models, team=name, task="think")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await wait_until(pilot, lambda: screen.status.state == "streaming", what="streaming")
        await pilot.press("escape")
        await finished(pilot, screen)
        assert screen.mode == "continue"
        assert screen.stopped_event.condition == "ExternalStop"
        assert "stopped coder's turn (Esc)" in screen.stopped_event.reason
        stopped_turn = [t for t in screen.conversation.turns.values() if t.agent == "coder"][0]
        assert len(stopped_turn.text) < len(long)
        assert stopped_turn.query(".-stopped")
        assert screen.session.outcome.value == "cancelled" and screen.session.resumable
        root = screen.session.root_chat_id
        # go on: the same agents continue with their history, in the same chat
        await pilot.press(*"finish up", "enter")
        await finished(pilot, screen)
        assert screen.session.root_chat_id == root and screen.session.result.chat_id == root
        assert screen.session.outcome.value == "completed"
        assert screen.status.round == 1  # the new run counts its own turns against max_turns
        assert any(t.text == "All done. TERMINATE" for t in screen.conversation.turns.values())


async def test_stop_ends_the_run_with_a_reason(app_factory, make_models, coder_team, no_approval):
    models = make_models(**{"coder-model": {"backend": "scripted", "replies": ["slow " * 300], "options": SLOW}})
    name = coder_team()
    app = app_factory(models=models, team=name, task="go")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await wait_until(pilot, lambda: screen.status.state == "streaming", what="streaming")
        await pilot.click("#stop-button")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the stop to ask first")
        await pilot.press("y")
        await finished(pilot, screen)
        assert screen.mode == "stopped"
        assert screen.stopped_event.reason == "stopped by the user (Stop)"
        assert "stopped by the user (Stop)" in str(screen.status.render())


async def test_next_speaker_and_injected_message_in_a_group(app_factory, make_models, write_team, no_approval):
    models = make_models(**{f"{n}-model": {"backend": "scripted", "replies": [f"{n} says something " * 10],
                                           "options": SLOW} for n in ("planner", "writer", "critic")})
    write_team(GROUP_TEAM.format(max_round=5), "trio")
    app = app_factory(models=models, team="trio", task="write a haiku")
    selections: list[ev.SpeakerSelected] = []
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        original = screen._draw_event

        async def spy(event):
            if isinstance(event, ev.SpeakerSelected):
                selections.append(event)
            await original(event)

        screen._draw_event = spy
        delivered: list[str] = []

        class Notes(list):
            def clear(self):  # the driver clears the notes once they are added to a speaker's view
                delivered.extend(self)
                super().clear()

        screen.session._injected = Notes()
        await wait_until(pilot, lambda: screen.status.state == "streaming", what="the first turn")
        first = screen.status.speaker
        # whole lines at once: typing key by key while tokens stream is slow under Pilot
        screen.input.value = "/next critic"
        await pilot.press("enter")
        screen.input.value = "keep it short"
        await pilot.press("enter")
        assert "you · queued for the next turn: keep it short" in screen.conversation.lines
        await finished(pilot, screen)
        chosen = [s for s in selections if s.speaker == "critic" and "/next" in s.reason]
        assert chosen, [(s.speaker, s.reason) for s in selections]
        assert first != "critic"
        assert delivered == ["keep it short"] and screen.session._injected == []
        critic_turn = [t for t in screen.conversation.turns.values() if t.agent == "critic"][0]
        assert "/next" in critic_turn.selection_note
        await pilot.press(*"/next nobody", "enter")
        assert "nobody" not in str(screen.session.built.groupchat._next_speaker)


async def test_a_failing_model_stops_the_chat_with_its_reason(app_factory, make_models, coder_team, no_approval, tmp_path):
    # The coder's scripted replies come from a file that turns out to be broken when the model is
    # first used: the backend fails mid-chat, the chat stops with the reason, nothing crashes.
    script = tmp_path / "replies.jsonl"
    script.write_text('"fine"\n')
    models = make_models(**{"coder-model": {"backend": "scripted", "script": str(script)}})
    script.write_text("{not json\n")
    name = coder_team()
    app = app_factory(models=models, team=name, task="x")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await finished(pilot, screen)
        assert screen.stopped_event.condition in ("backend_error", "error"), screen.stopped_event
        assert any(n.severity == "error" for n in app._notifications)
        assert screen.mode == "stopped" and app.is_running
        assert any(line.startswith("■ stopped: ") and "replies.jsonl" in line for line in screen.conversation.lines)


async def test_a_turn_that_fails_mid_stream_is_marked_failed(app_factory, coder_team):
    """The events of a reply cut by a backend error: the half-written turn is marked failed."""
    from moot.agents import load_team

    name = coder_team()
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = ChatScreen(load_team(name, app.models), app.models)
        await app.push_screen(screen)
        chat = "chat-x"
        for event in (ev.ChatStarted(chat, initiator="executor", participants=("executor", "coder")),
                      ev.TokenDelta(chat, agent="coder", message_id="m1", text="Let me wri"),
                      ev.Stopped(chat, reason="coder: the model failed: connection dropped", condition="backend_error")):
            screen.receive(event)
        await screen.flush()
        turn = screen.conversation.turns["m1"]
        assert turn.has_class("-failed") and turn.text == "Let me wri"
        await pilot.pause()
        assert any("connection dropped" in n.message for n in app._notifications)


async def test_approval_cannot_happen_by_accident(app_factory, coder_team):
    """Keys typed as the modal appears approve nothing and the half-typed message stays; Run runs
    the code as edited; Esc inside the editor leaves the editor instead of skipping."""
    settings_for_tests(approve=True)
    name = coder_team()
    app = app_factory(team=name, task="print 6*7")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        screen.input.value = "a half-typed note"
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the approval modal")
        modal = app.screen
        await pilot.press("enter", "enter", "x")  # the user was typing when it appeared
        assert app.screen is modal and not screen.executor_pane.entries
        assert screen.input.value == "a half-typed note"
        await wait_until(pilot, lambda: modal.armed, what="the modal's buttons to arm")
        await pilot.press("enter")  # the focus is on the code, not on Run
        assert app.screen is modal
        await pilot.click("#edit")
        assert not modal.editor.read_only
        modal.editor.text = "print(6 * 9)\n"
        await pilot.press("escape")  # leaves the editor, keeps the edit, stays in the modal
        assert app.screen is modal and modal.editor.text == "print(6 * 9)\n"
        await pilot.click("#run")  # runs what is shown
        await wait_until(pilot, lambda: app.screen is screen, what="the modal to close")
        await wait_until(pilot, lambda: screen.executor_pane.entries, what="the execution entry")
        entry = list(screen.executor_pane.entries.values())[0]
        await wait_until(pilot, lambda: entry.exit_code is not None, what="the run to finish")
        assert entry.output == "54\n" and entry.action == "edited"
        await pilot.press("ctrl+x", "y")
        await finished(pilot, screen)
