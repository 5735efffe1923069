"""The team editor never loses or hides an edit: a team is saved to the file it came from, a broken
team opens as written with every problem, Esc asks before dropping changes, a wrong number is an
error on its field, and the form has teachability, MCP servers and executor limits; "run it now"
opens a chat with what was saved."""

from __future__ import annotations

import tomllib

from textual.widgets import Button, Input

from conftest import TWO_AGENT_TEAM, wait_home, wait_until
from moot.agents import find_team, load_team
from moot.agents._teamfile import read_team_file
from moot.paths import user_teams_dir
from moot.tui.screens.chat import ChatScreen
from moot.tui.screens.dialogs import ConfirmScreen
from moot.tui.screens.home import HomeScreen
from moot.tui.screens.team_editor import TeamEditorScreen

BROKEN = """schema_version = 1
name = "broken"
description = "a team with mistakes"
[[members]]
name = "user"
role = "user_proxy"
[[members]]
name = "helper"
model = "nowhere"
tools = ["calculator", "nosuchtool"]
[chat]
max_turns = "three"
initiator = "ghost"
"""


async def open_editor(pilot, app, name):
    app.open_team_editor(name)
    await wait_until(pilot, lambda: isinstance(app.screen, TeamEditorScreen), what="the editor")
    await pilot.pause()
    return app.screen


def problems(editor) -> str:
    return str(editor.query_one("#editor-problems").render())


async def test_a_team_from_the_teams_folder_is_saved_back_to_its_file(app_factory, coder_team, tmp_path):
    name = coder_team("mine")
    path = tmp_path / "teams" / "mine.toml"
    app = app_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        editor = await open_editor(pilot, app, name)
        title = str(editor.query_one("#editor-title").render())
        assert "mine" in title and str(path) in title and "writes back to it" in title
        editor.query_one("#team-description").value = "Edited in the editor."
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert editor.saved_path == path, problems(editor)
    assert not (user_teams_dir() / "mine.toml").exists()  # no copy that ./teams would hide
    assert find_team("mine") == path
    assert load_team("mine", app.models).spec.description == "Edited in the editor."


async def test_a_saved_team_that_another_folder_hides_says_so(app_factory, write_team, tmp_path):
    user_teams_dir().mkdir(parents=True, exist_ok=True)
    theirs = user_teams_dir() / "pair.toml"
    theirs.write_text(TWO_AGENT_TEAM.format(name="pair", human="NEVER", model="coder-model", max_turns=2))
    write_team(TWO_AGENT_TEAM.format(name="pair", human="NEVER", model="coder-model", max_turns=2), "pair")
    app = app_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        editor = await open_editor(pilot, app, str(theirs))
        editor.query_one("#team-description").value = "the user's copy"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert editor.saved_path == theirs
        text = problems(editor)
        assert f"found first in {tmp_path / 'teams' / 'pair.toml'}, which wins" in text


async def test_e_on_a_broken_team_opens_its_file_with_every_problem(app_factory, write_team, tmp_path):
    path = write_team(BROKEN, "broken")
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        home = await wait_home(pilot, app)
        teams = home.query_one("#teams")
        teams.highlighted = teams.get_option_index("broken")
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, TeamEditorScreen), what="the editor")
        editor = app.screen
        await pilot.pause()
        q = editor.query_one
        assert q("#team-name").value == "broken" and q("#team-description").value == "a team with mistakes"
        assert [m["name"] for m in editor.data["members"]] == ["user", "helper"]
        assert q("#c-max-turns").value == "three" and q("#c-initiator").value == "ghost"
        text = problems(editor)
        for expected in ("[chat]: field 'max_turns'", "no tool named 'nosuchtool'", "no model named 'nowhere'",
                         "[chat]: field 'initiator': no member named 'ghost'"):
            assert expected in text, text
        # Long problems wrap inside the box rather than running off its right edge.
        box = q("#editor-problems")
        assert box.size.width <= 120 and box.virtual_size.height > len(text.splitlines())
        # Fix each one here and save: the same file is written.
        q("#c-max-turns").value = "3"
        q("#c-initiator").value = "user"
        q("#members").highlighted = 1
        await pilot.pause()
        q("#m-tools").value = "calculator"
        q("#m-model").value = "coder-model"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert editor.saved_path == path, problems(editor)
    spec = read_team_file(path, app.models)
    assert spec.chat.max_turns == 3 and spec.members[1].tools == ["calculator"]


async def test_esc_with_unsaved_changes_asks_first(app_factory, coder_team):
    name = coder_team("asks")
    app = app_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        editor = await open_editor(pilot, app, name)
        await pilot.press("escape")  # nothing changed: closes at once
        await wait_until(pilot, lambda: not isinstance(app.screen, TeamEditorScreen), what="the editor to close")
        editor = await open_editor(pilot, app, name)
        editor.query_one("#members").highlighted = 1
        await pilot.pause()
        editor.query_one("#m-system").text = "Changed."
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        assert "unsaved changes to asks" in str(app.screen.query_one(".dialog-question").render())
        await pilot.press("n")  # keep editing: the edit is still there
        await wait_until(pilot, lambda: app.screen is editor, what="back in the editor")
        assert editor.query_one("#m-system").text == "Changed."
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question again")
        await pilot.press("y")
        await wait_until(pilot, lambda: not isinstance(app.screen, (TeamEditorScreen, ConfirmScreen)), what="closed")
    assert "Changed." not in find_team(name).read_text()


async def test_an_invalid_number_is_an_error_on_its_field_not_dropped(app_factory, coder_team):
    name = coder_team("numbers")
    path = find_team(name)
    before = path.read_text()
    app = app_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        editor = await open_editor(pilot, app, name)
        field = editor.query_one("#c-max-turns", Input)
        field.focus()
        field.value = ""
        await pilot.press(*"4x")
        await pilot.pause()
        assert field.has_class("-invalid")  # Textual's validation marks the field itself
        editor.query_one("#t-timeout").value = "-5"
        await pilot.press("ctrl+s")
        await pilot.pause()
        text = problems(editor)
        assert editor.saved_path is None and path.read_text() == before
        assert "[chat]: field 'max_turns': '4x' must be a whole number above 0" in text
        assert "[termination]: field 'timeout_s': '-5' must be a number above 0" in text
        await pilot.press("escape")  # the invalid text counts as an unsaved change
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")


async def test_teachability_mcp_servers_and_executor_limits_have_fields(app_factory, coder_team):
    name = coder_team("fields")
    path = find_team(name)
    app = app_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        editor = await open_editor(pilot, app, name)
        q = editor.query_one
        assert q("#m-executor").value == "local" and q("#m-timeout").value == "20"  # the executor member
        q("#m-timeout").value = "45"
        q("#m-memory").value = "256m"
        q("#members").highlighted = 1
        await pilot.pause()
        q("#m-teach").value = "confirm"
        q("#c-mcp").text = '[mcp.clock]\ncommand = "python"\nargs = ["-m", "mcp_server_time"]\n'
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert editor.saved_path == path, problems(editor)
        q("#c-mcp").text = "[mcp.clock\n"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "MCP servers: not valid TOML" in problems(editor)
    spec = read_team_file(path, app.models)
    code = spec.members[0].code_execution
    assert code.timeout == 45 and code.memory == "256m" and code.work_dir == "coding"
    assert spec.members[1].teachability.policy == "confirm"
    assert spec.mcp["clock"].command == "python" and spec.mcp["clock"].args == ["-m", "mcp_server_time"]
    assert tomllib.loads(path.read_text())["mcp"]["clock"]["command"] == "python"


async def test_run_it_now_opens_a_chat_with_the_saved_team(app_factory, coder_team):
    name = coder_team("runme")
    app = app_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        await wait_home(pilot, app)
        editor = await open_editor(pilot, app, name)
        assert editor.query_one("#run-now", Button).disabled
        editor.query_one("#team-description").value = "ready to run"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not editor.query_one("#run-now", Button).disabled
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen), what="the chat")
        assert app.screen.team.name == "runme" and app.screen.team.spec.description == "ready to run"
        assert isinstance(app.screen_stack[-2], HomeScreen)  # the editor is gone


async def test_esc_on_a_broken_team_left_as_it_was_closes_at_once(app_factory, write_team):
    write_team(BROKEN, "broken")
    app = app_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        editor = await open_editor(pilot, app, "broken")
        assert editor.query_one("#c-max-turns").value == "three"  # invalid, but the file's, not an edit
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, (TeamEditorScreen, ConfirmScreen)), what="closed")
