"""The team editor writes a valid team file: a round trip through the form to a file and back,
keeping every field it has no widget for."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import wait_until
from moot.agents import load_team
from moot.agents._teamfile import PACKAGED_TEAMS, read_team_file
from moot.paths import user_teams_dir
from moot.tui.screens.team_editor import TeamEditorScreen

EVERY_FIELD = Path(__file__).resolve().parent.parent / "every_field_team.toml"
SHIPPED = sorted(PACKAGED_TEAMS.glob("*.toml"))


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


async def save_untouched(app, pilot, name: str, path: Path) -> TeamEditorScreen:
    editor = await open_editor(pilot, app, name, path)
    for index in range(len(editor.data["members"])):  # visit every member, as a person looking would
        editor.query_one("#members").highlighted = index
        await pilot.pause()
    await pilot.press("ctrl+s")
    await pilot.pause()
    assert editor.saved_path == path, str(editor.query_one("#editor-problems").render())
    return editor


@pytest.mark.parametrize("team", SHIPPED, ids=[p.stem for p in SHIPPED])
async def test_opening_and_saving_a_shipped_team_keeps_every_field(app_factory, make_models, tmp_path, team):
    app = app_factory(make_models(demo=["x"]))  # the models the shipped teams name
    path = tmp_path / "out" / team.name
    async with app.run_test(size=(150, 50)) as pilot:
        await save_untouched(app, pilot, team.stem, path)
    before = read_team_file(team)
    assert read_team_file(path) == before.model_copy(update={"name": before.name or team.stem})


async def test_the_editor_keeps_every_field_of_the_schema_and_changes_only_what_was_edited(app_factory, make_models, tmp_path):
    app = app_factory(make_models(s=["x"], t=["y"]))
    before = read_team_file(EVERY_FIELD, app.models)
    path = tmp_path / "every.toml"
    async with app.run_test(size=(150, 50)) as pilot:
        editor = await save_untouched(app, pilot, str(EVERY_FIELD), path)
        assert read_team_file(path, app.models) == before  # teachability, chat options, code execution, all kept
        # Now edit one field of the second member and the team's token budget.
        editor.query_one("#members").highlighted = 1
        await pilot.pause()
        editor.query_one("#m-system").text = "A new system message."
        editor.query_one("#t-token-budget").value = "123"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not str(editor.query_one("#editor-problems").render())
    after = read_team_file(path, app.models)
    members = list(before.members)
    members[1] = members[1].model_copy(update={"system_message": "A new system message."})
    expected = before.model_copy(update={"members": members,
                                         "termination": before.termination.model_copy(update={"token_budget": 123})})
    assert after == expected


async def test_a_team_naming_a_missing_model_opens_says_why_and_keeps_the_model(app_factory, tmp_path):
    app = app_factory()  # no model "demo" here
    path = tmp_path / "demo.toml"
    async with app.run_test(size=(150, 50)) as pilot:
        editor = await open_editor(pilot, app, "demo", path)
        assert "no model named 'demo'" in str(editor.query_one("#editor-problems").render())
        editor.query_one("#members").highlighted = 1
        await pilot.pause()
        assert editor.query_one("#m-model").value == "demo"  # shown as "demo (not in models.toml)"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert editor.saved_path is None and not path.exists()  # still not valid with these models
        editor.query_one("#m-model").value = "coder-model"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert editor.saved_path == path
    assert read_team_file(path, app.models).members[1].model == "coder-model"
