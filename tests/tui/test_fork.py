"""The session tree in the chat: "fork from here" on a turn (the key on a focused turn, or the
palette's entry asking which message) opens a new chat holding the messages up to it, ready to
go on; the chat shows its lineage (what it was forked from, its forks); the original stays as
it was recorded. A running chat forks what is recorded so far; a turn still streaming is refused
with the reason."""

from __future__ import annotations

from conftest import wait_until
from moot.tui.screens.chat import ChatScreen
from moot.tui.screens.dialogs import PromptScreen
from moot.tui.widgets.lineage import LineageBar

SLOW = {"chunk_delay_s": 0.03, "chunk_size": 4}


def messages(store, session_id: str) -> list[tuple[str, str, str]]:
    return [(e["message_id"], e["sender"], e.get("content") or "") for e in store.events(session_id)
            if e["type"] == "message"]


def lineage(screen: ChatScreen) -> str:
    bar = screen.query_one(LineageBar)
    return bar.line.plain if bar.display and bar.line is not None else ""


async def finished(pilot, screen: ChatScreen, timeout: float = 20) -> None:
    await wait_until(pilot, lambda: screen.mode in ("stopped", "continue", "resumed") and not screen.running
                     and not screen.pending, timeout, what="the run to stop")


async def new_chat(pilot, app, old: ChatScreen) -> ChatScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen is not old and app.screen.ready,
                     what="the fork's chat")
    return app.screen


def footer_keys(screen: ChatScreen) -> list[str]:
    return [b.description for (_, b, enabled, _) in screen.active_bindings.values() if b.show and enabled]


async def test_fork_at_a_focused_turn_opens_a_chat_of_the_first_k_messages(app_factory, coder_team, no_approval):
    name = coder_team()
    app = app_factory(team=name, task="print 6*7")
    async with app.run_test(size=(160, 44)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        chat = app.screen
        await finished(pilot, chat)
        store = app.session_store()
        root = chat.session_id
        before = store.events(root)
        original = messages(store, root)
        assert len(original) == 4 and lineage(chat) == ""  # neither a fork nor forked: no lineage line
        assert "Fork here" not in footer_keys(chat)  # the input has the focus: "f" is a letter there

        turns = list(chat.conversation.turns.values())
        turns[1].focus()  # the coder's turn with the code: message 2
        await pilot.pause()
        assert "Fork here" in footer_keys(chat)
        await pilot.press("f")
        fork = await new_chat(pilot, app, chat)

        assert fork.session_id != root
        assert messages(store, fork.session_id) == original[:2]
        assert [t.text for t in fork.conversation.turns.values()] == [t.text for t in turns[:2]]
        assert [t.label for t in fork.conversation.turns.values()] == ["you", "coder"]  # the task is yours
        assert f"fork of “print 6*7” ({root}) at message 2" in lineage(fork)
        assert any("forked from “print 6*7” at message 2 (coder's turn)" in line for line in fork.conversation.lines)
        assert fork.mode == "resumed" and fork.input.has_focus and "Forked" in fork.input.placeholder
        assert any(f"new session {fork.session_id}" in n.message for n in app._notifications)
        # the original: unchanged in the store, and its lineage names its fork
        assert store.events(root) == before
        assert f"1 fork: “print 6*7 (fork at 2)” ({fork.session_id})" in lineage(chat)

        # the fork goes on from there: Enter alone, the executor runs the code and the coder ends it
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(fork.conversation.turns) == 4, what="the fork to go on")
        await finished(pilot, fork)
        assert [m[2] for m in messages(store, fork.session_id)][:2] == [m[2] for m in original[:2]]
        assert messages(store, fork.session_id)[-1][2].endswith("TERMINATE")
        assert store.events(root) == before  # still untouched


async def test_the_palette_entry_asks_which_message_when_no_turn_is_chosen(app_factory, coder_team, no_approval):
    name = coder_team()
    app = app_factory(team=name, task="print 6*7")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        chat = app.screen
        await finished(pilot, chat)
        entry = next(c for c in chat.palette_commands() if c[0] == "Fork from a turn")
        entry[2]()
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), what="the question")
        prompt = app.screen
        assert "at which message? (1-4" in prompt.question
        await wait_until(pilot, lambda: prompt.query("#dialog-input"), what="the question's input")
        prompt.query_one("#dialog-input").value = "1"
        await pilot.press("enter")
        fork = await new_chat(pilot, app, chat)
        store = app.session_store()
        assert messages(store, fork.session_id) == messages(store, chat.session_id)[:1]
        assert "at message 1" in lineage(fork)
        # a fork of the fork: its line names the one it came from
        list(fork.conversation.turns.values())[0].focus()
        await pilot.press("f")
        second = await new_chat(pilot, app, fork)
        assert f"({fork.session_id}) at message 1" in lineage(second)
        assert any("at message 1 (your turn)" in line for line in second.conversation.lines)
        assert "1 fork" in lineage(fork) and f"({chat.session_id})" in lineage(fork)


async def test_a_running_chat_forks_what_is_recorded_and_refuses_a_turn_still_streaming(
        app_factory, make_models, coder_team, no_approval):
    models = make_models(**{"coder-model": {"backend": "scripted", "replies": ["A first answer.", "thinking " * 300],
                                            "options": SLOW}})
    name = coder_team()
    app = app_factory(models=models, team=name, task="think twice")
    async with app.run_test(size=(160, 44)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        chat = app.screen
        def coder_turns():
            return [t for t in chat.conversation.turns.values() if t.agent == "coder"]

        await wait_until(pilot, lambda: len(coder_turns()) == 2 and chat.status.state == "streaming", 20,
                         what="the second answer to stream")
        streaming = coder_turns()[1]
        assert not streaming.finished
        streaming.focus()
        await pilot.pause()
        await pilot.press("f")
        await pilot.pause()
        assert app.screen is chat
        said = [n.message for n in app._notifications if "cannot fork" in n.message]
        assert said and "cannot fork at coder's turn: it is still being written" in said[-1]
        assert "stop the turn first (Esc)" in said[-1]

        list(chat.conversation.turns.values())[1].focus()  # the first answer, posted: message 2
        await pilot.press("f")
        fork = await new_chat(pilot, app, chat)
        store = app.session_store()
        assert [m[2] for m in messages(store, fork.session_id)] == ["think twice", "A first answer."]
        assert chat.running  # the original goes on, in the background
        chat.stop_now("the test is done")
        await finished(pilot, chat)
        assert len(messages(store, chat.session_id)) >= 3
        assert [m[2] for m in messages(store, fork.session_id)] == ["think twice", "A first answer."]
        # the reply cut by the stop was never posted: the record has no message to fork at
        await app.action_home()
        app.resume_session(chat.session_id)
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat again")
        again = app.screen
        cut = [t for t in again.conversation.turns.values() if t.agent == "coder"][-1]
        cut.focus()
        await pilot.press("f")
        await pilot.pause()
        assert app.screen is again
        said = [n.message for n in app._notifications if "cannot fork" in n.message]
        assert "it was cut off before it was posted" in said[-1]


async def test_a_keymap_override_moves_the_fork_key_and_its_hints(app_factory, coder_team, no_approval):
    from moot.tui import settings

    path = settings.keymap_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('"chat.fork" = "k"\n', encoding="utf-8")
    name = coder_team()
    app = app_factory(team=name, task="print 6*7")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        chat = app.screen
        await finished(pilot, chat)
        entry = next(c for c in chat.palette_commands() if c[0] == "Fork from a turn")
        assert "on a focused turn: k" in entry[1]
        list(chat.conversation.turns.values())[2].focus()
        await pilot.press("f")  # the old key does nothing now
        await pilot.pause()
        assert app.screen is chat
        await pilot.press("k")
        fork = await new_chat(pilot, app, chat)
        assert len(messages(app.session_store(), fork.session_id)) == 3
