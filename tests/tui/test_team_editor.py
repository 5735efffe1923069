"""The team editor writes a valid team file: a round trip through the form to a file and back."""

from __future__ import annotations

from moot.agents import load_team
from conftest import wait_until
from moot.tui.screens.team_editor import TeamEditorScreen


async def open_editor(pilot, app, name, path):
    app.push_screen(TeamEditorScreen(name, app.models, save_path=path))
    await wait_until(pilot, lambda: isinstance(app.screen, TeamEditorScreen), what="the editor")
    await pilot.pause()
    return app.screen


async def test_edit_the_coder_team_and_save_a_group(app_factory, tmp_path):
    path = tmp_path / "out" / "my-coders.toml"
    app = app_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        editor = await open_editor(pilot, app, "coder", path)
        q = editor.query_one
        assert q("#team-name").value == "coder"
        assert [m["name"] for m in editor.data["members"]] == ["executor", "coder"]
        q("#team-name").value = "my-coders"
        # the coder (second member): new system message and model
        q("#members").highlighted = 1
        await pilot.pause()
        assert q("#m-name").value == "coder"
        q("#m-system").text = "You write short Python."
        q("#m-model").value = "coder-model"
        # a third member, a reviewer, and a round-robin group with transitions
        await pilot.press("ctrl+n")
        await pilot.pause()
        q("#m-name").value = "reviewer"
        q("#m-termination").value = "APPROVED"
        q("#c-selection").value = "round_robin"
        q("#c-max-turns").value = ""
        q("#c-max-round").value = "9"
        q("#c-transitions").value = "executor: coder; coder: executor reviewer; reviewer: coder"
        q("#t-token-budget").value = "5000"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert editor.saved_path == path, str(editor.query_one("#editor-problems").render())
    team = load_team(str(path), app.models)
    spec = team.spec
    assert team.name == "my-coders" and team.is_group
    assert [m.name for m in spec.members] == ["executor", "coder", "reviewer"]
    coder = spec.members[1]
    assert coder.system_message == "You write short Python." and coder.model == "coder-model"
    assert spec.members[0].code_execution.timeout == 30 and spec.members[0].code_execution.work_dir == "coding"
    assert spec.members[2].termination_text == "APPROVED"
    assert spec.chat.speaker_selection == "round_robin" and spec.chat.max_round == 9
    assert spec.chat.transitions == {"executor": ["coder"], "coder": ["executor", "reviewer"], "reviewer": ["coder"]}
    assert spec.termination.token_budget == 5000 and spec.termination.timeout_s == 600  # kept from coder.toml
    team.build(executor="local")  # it runs


async def test_an_invalid_team_is_not_saved_and_says_why(app_factory, tmp_path):
    path = tmp_path / "bad.toml"
    app = app_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        editor = await open_editor(pilot, app, None, path)
        editor.query_one("#team-name").value = "bad"
        editor.query_one("#c-selection").value = "round_robin"
        editor.query_one("#c-transitions").value = "user: ghost"
        await pilot.press("ctrl+s")
        await pilot.pause()
        problems = str(editor.query_one("#editor-problems").render())
        assert "no member named 'ghost'" in problems
        assert not path.exists() and editor.saved_path is None


async def test_new_team_defaults_save_to_the_user_config_dir(app_factory):
    from moot.tui.settings import user_teams_dir

    app = app_factory()
    async with app.run_test(size=(150, 50)) as pilot:
        await pilot.press("n")  # from home
        await wait_until(pilot, lambda: isinstance(app.screen, TeamEditorScreen), what="the editor")
        editor = app.screen
        await pilot.pause()
        editor.query_one("#team-name").value = "pair"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert editor.saved_path == user_teams_dir() / "pair.toml"
        team = load_team("pair", app.models)
        assert [m.name for m in team.spec.members] == ["user", "assistant"] and not team.is_group
