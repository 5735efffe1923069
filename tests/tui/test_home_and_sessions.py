"""Home: teams, models with their status, and the session list (resume / fork / export / delete)."""

from __future__ import annotations

import json

from rich.text import Text

from conftest import wait_home, wait_until
from moot.tui.screens.chat import ChatScreen
from moot.tui.screens.dialogs import ConfirmScreen, PromptScreen
from moot.tui.screens.home import HomeScreen


async def run_one_chat(pilot, app, team: str, task: str) -> ChatScreen:
    app.open_team(team, task=task)
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
    screen = app.screen
    await wait_until(pilot, lambda: screen.mode == "stopped" and not screen.pending, 20, what="the run")
    return screen


def cell_text(table, row_key, column: int) -> str:
    value = table.get_row(row_key)[column]
    return value.plain if isinstance(value, Text) else str(value)


async def test_home_lists_teams_and_models_with_why(app_factory, make_models, coder_team, monkeypatch):
    monkeypatch.delenv("MOOT_TEST_KEY", raising=False)
    models = make_models(remote={"backend": "openai", "model": "gpt-x", "api_key_env": "MOOT_TEST_KEY",
                                 "base_url": "http://127.0.0.1:9/v1"},
                         local={"backend": "llama_cpp", "model_path": "/nowhere/model.gguf"})
    name = coder_team()
    app = app_factory(models=models)
    async with app.run_test(size=(140, 44)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
        home = app.screen
        teams = home.query_one("#teams")
        ids = [str(teams.get_option_at_index(i).id) for i in range(teams.option_count)]
        assert name in ids and "coder" in ids  # the folder's teams and the packaged ones
        table = home.query_one("#models")
        assert "MOOT_TEST_KEY is not set" in cell_text(table, "remote", 3)
        assert "no such file" in cell_text(table, "local", 3)
        assert cell_text(table, "coder-model", 3).startswith("ready")
        # a team whose model cannot run does not open: a notification says why
        app.open_team("coder")  # the packaged coder team uses the default model: coder-model here, fine
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen), what="the chat")
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home again")


async def test_a_team_with_a_missing_model_says_why(app_factory, make_models, coder_team):
    models = make_models(broken={"backend": "llama_cpp", "model_path": "/nowhere/x.gguf"})
    name = coder_team(name="needs-broken", model="broken")
    app = app_factory(models=models)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
        app.open_team(name)
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert any("no such file" in n.message for n in app._notifications)


async def test_resume_fork_export_delete_from_the_session_list(app_factory, coder_team, no_approval, tmp_path):
    name = coder_team()
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
        first = await run_one_chat(pilot, app, name, "print 6*7")
        first_texts = [t.text for t in first.conversation.turns.values()]
        session_id = first.session_id
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
        home = app.screen
        sessions = home.query_one("#sessions")
        assert sessions.row_count == 1 and [s.id for s in home.session_rows] == [session_id]

        # resume: the conversation comes back, and the next message continues it in the same session
        sessions.focus()
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen), what="the resumed chat")
        resumed = app.screen
        await wait_until(pilot, lambda: resumed.mode == "resumed", what="the replay")
        assert [t.text for t in resumed.conversation.turns.values()] == first_texts
        assert list(resumed.executor_pane.entries.values())[0].output == "42\n"
        resumed.input.value = "once more"
        await pilot.press("enter")
        await wait_until(pilot, lambda: resumed.mode == "stopped" and not resumed.pending, 20, what="the continued run")
        assert resumed.session_id == session_id
        texts = [t.text for t in resumed.conversation.turns.values()]
        assert texts[:4] == first_texts and "once more" in texts
        store = app.session_store()
        assert len(store.list()) == 1 and store.get(session_id).messages > 4
        # one root chat, its status and outcome from the last run, every message in the exports
        info = store.get(session_id)
        assert info.status == "stopped" and info.outcome == "completed" and not info.resumable
        posted = [e for e in store.events(session_id) if e["type"] == "message"]
        assert len({e["chat_id"] for e in posted}) == 1
        assert sum(1 for e in store.events(session_id) if e["type"] == "chat_started") == 1
        from moot.agents import export_session
        markdown = export_session(store, session_id, "md")
        found = [markdown.find(e["content"]) for e in posted if e.get("content") and len(e["content"]) > 3]
        assert -1 not in found and "once more" in markdown
        exported = json.loads(export_session(store, session_id, "json"))
        assert [e["message_id"] for e in exported["events"] if e["type"] == "message"] == \
            [e["message_id"] for e in posted]
        coder = resumed.session.built.members["coder"]
        assert any("print 6*7" == m.get("content") for m in coder.chat_messages[resumed.session.built.initiator])

        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
        home.query_one("#sessions").focus()

        # fork at message 2
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), what="the fork prompt")
        app.screen.query_one("#dialog-input").value = "2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(home.session_rows) == 2, what="the fork in the list")
        fork = next(s for s in home.session_rows if s.id != session_id)
        assert fork.parent_id == session_id and fork.messages == 2

        # export the selected one
        target = tmp_path / "out.md"
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, PromptScreen), what="the export prompt")
        app.screen.query_one("#dialog-input").value = str(target)
        await pilot.press("enter")
        await wait_until(pilot, target.exists, what="the export file")
        assert "print" in target.read_text()

        # delete asks first; n keeps it, y deletes
        before = len(home.session_rows)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("n")
        assert len(store.list()) == before
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: len(home.session_rows) == before - 1, what="the deletion")
        assert len(store.list()) == before - 1
