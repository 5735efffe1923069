"""Home's team list says what a user can act on before pressing Enter: a broken team shows every
problem, readable on the highlighted row; a team naming a model the active models.toml lacks is
marked broken; each team says where its code will run and whether that works here."""

from __future__ import annotations

from conftest import TWO_AGENT_TEAM, wait_home, wait_until
from moot.tui.screens.home import HomeScreen, executor_status
from moot.tui.screens.team_editor import TeamEditorScreen

BROKEN = """schema_version = 1
name = "broken"
[[members]]
name = "user"
role = "user_proxy"
[[members]]
name = "helper"
tools = ["nosuchtool"]
[chat]
max_turns = "three"
initiator = "ghost"
"""


def option_text(home, team: str):
    teams = home.query_one("#teams")
    return teams.get_option_at_index(teams.get_option_index(team)).prompt


async def test_a_broken_team_shows_every_problem_readably(app_factory, write_team):
    write_team(BROKEN, "broken")
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        home = await wait_home(pilot, app)
        label = option_text(home, "broken")
        text = label.plain
        assert " broken " in text and "3 problems" in text and "e: open broken.toml to fix" in text
        for problem in ("[chat]: field 'max_turns'", "no tool named 'nosuchtool'", "[chat]: field 'initiator': no member named 'ghost'"):
            assert problem in text, text
        # Readable when highlighted: the problems carry no colour of their own (the row's
        # highlight colours them), only the badge and the ✗ marks are coloured.
        for span in label.spans:
            piece = text[span.start:span.end]
            if "no tool named" in piece or "max_turns" in piece:
                raise AssertionError(f"a problem has its own style {span.style!r}: {piece!r}")
        teams = home.query_one("#teams")
        teams.highlighted = teams.get_option_index("broken")
        await pilot.press("enter")  # Enter says why too (it does not open)
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_a_team_naming_a_model_missing_from_models_toml_is_marked_broken(app_factory, coder_team):
    coder_team(name="needs-far", model="far")  # no model "far" in the app's models
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        home = await wait_home(pilot, app)
        text = option_text(home, "needs-far").plain
        assert " broken " in text and "field 'model': no model named 'far' in test-models.toml" in text


async def test_a_team_whose_model_cannot_load_says_it_cannot_run(app_factory, make_models, coder_team):
    models = make_models(absent={"backend": "llama_cpp", "model_path": "/nowhere/x.gguf"})
    coder_team(name="needs-absent", model="absent")
    app = app_factory(models=models)
    async with app.run_test(size=(140, 44)) as pilot:
        home = await wait_home(pilot, app)
        text = option_text(home, "needs-absent").plain
        assert " cannot run " in text and "no such file" in text


async def test_each_team_says_where_its_code_runs_and_if_it_can(app_factory, coder_team, write_team, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    coder_team(name="local-coder")  # executor = "local"
    write_team(TWO_AGENT_TEAM.format(name="docker-coder", human="NEVER", model="coder-model", max_turns=2)
               .replace('executor = "local"', 'executor = "docker"'), "docker-coder")
    app = app_factory()
    async with app.run_test(size=(160, 44)) as pilot:
        home = await wait_home(pilot, app)
        assert "code: local (asks first) ✓" in option_text(home, "local-coder").plain
        docker = option_text(home, "docker-coder")
        assert "code: docker: no Docker daemon answers ✗" in docker.plain
        sandbox, ok = executor_status(None)  # the default order: Docker, else the sandbox
        assert sandbox == "sandbox" and ok  # bubblewrap is installed where the tests run
        assert f"code: {sandbox} ✓" in option_text(home, "coder").plain  # the packaged coder team
        teams = home.query_one("#teams")
        teams.highlighted = teams.get_option_index("docker-coder")
        await pilot.press("e")  # the team's own file in the editor
        await wait_until(pilot, lambda: isinstance(app.screen, TeamEditorScreen), what="the editor")
        assert app.screen.source.name == "docker-coder.toml"


async def test_the_toast_for_a_broken_team_names_the_section(app_factory, write_team):
    write_team(BROKEN, "broken")
    app = app_factory()
    async with app.run_test(size=(140, 44), notifications=True) as pilot:
        await wait_home(pilot, app)
        app.open_team("broken")
        await pilot.pause()
        from textual.widgets._toast import Toast

        await wait_until(pilot, lambda: app.screen.query(Toast), what="the toast")
        shown = " ".join(str(t.render()) for t in app.screen.query(Toast))
        assert "broken.toml: [chat]: field 'max_turns'" in shown, shown  # not eaten as markup


async def test_an_unreachable_model_keeps_its_address_visible(app_factory, make_models, monkeypatch):
    monkeypatch.setenv("MOOT_TEST_KEY", "x")
    models = make_models(far={"backend": "openai", "model": "gpt-x", "api_key_env": "MOOT_TEST_KEY",
                              "base_url": "http://127.0.0.1:9/v1"})  # nothing listens on port 9
    app = app_factory(models=models)
    async with app.run_test(size=(80, 24)) as pilot:
        home = await wait_home(pilot, app)
        table = home.query_one("#models")
        await wait_until(pilot, lambda: "unreachable" in home.model_statuses["far"].plain, what="the probe")
        cell = table.get_row("far")[3].plain
        assert cell.startswith("unreachable at http://127.0.0.1:9/v1")  # the address first: a cut keeps it
        table.focus()
        table.move_cursor(row=table.get_row_index("far"))
        await pilot.pause()
        detail = str(home.query_one("#model-detail").render())
        assert "far: unreachable at http://127.0.0.1:9/v1 (ConnectError)" in detail.replace("\n", " ")


async def test_the_coder_team_offers_a_first_task_the_bundled_model_can_do(app_factory, no_approval):
    """`make run` opens the packaged coder team: Home and the chat's input offer its suggested task
    (one SmolLM2-135M solved on its first try in the real app, sandboxed)."""
    app = app_factory()
    async with app.run_test(size=(160, 44)) as pilot:
        home = await wait_home(pilot, app)
        task = "Write a Python script that prints the squares of the numbers from 1 to 5."
        assert f"try: {task}" in option_text(home, "coder").plain
        app.open_team("coder")
        await wait_until(pilot, lambda: not isinstance(app.screen, HomeScreen) and getattr(app.screen, "ready", False),
                         what="the chat")
        assert f"try: {task}" in str(app.screen.input.placeholder)


def test_the_first_frames_quick_lists_find_what_the_engine_finds(coder_team, tmp_path, monkeypatch):
    from moot.agents import list_teams
    from moot.backends import load_models
    from moot.tui.screens.home import quick_models, quick_teams

    coder_team("mine")
    assert [(n, p) for n, p, _raw in quick_teams()] == list_teams()
    (tmp_path / "models.toml").write_text('schema_version = 1\ndefault = "s"\n[[models]]\nname = "s"\n'
                                          'backend = "scripted"\nreplies = ["x"]\n')
    config = load_models()
    assert quick_models(None) == [("s (default)", "scripted", "-")] == quick_models(None, config)
    monkeypatch.setenv("MOOT_MODELS", str(tmp_path / "other.toml"))
    (tmp_path / "other.toml").write_text('schema_version = 1\n[[models]]\nname = "o"\nbackend = "scripted"\n'
                                         'replies = ["x"]\n')
    assert [m[0] for m in quick_models(None)] == [m for m in load_models().models]


async def test_home_lists_teams_and_models_in_its_first_frame(app_factory, coder_team):
    """Before the engine is imported and the models loaded (app.ready), Home already lists them."""
    coder_team("mine")
    app = app_factory()
    app.call_after_refresh = lambda *a, **k: None  # the start-up step that loads the engine never runs
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        home = app.screen
        assert isinstance(home, HomeScreen) and not home.populated
        teams = home.query_one("#teams")
        assert {"mine", "coder"} <= {str(teams.get_option_at_index(i).id) for i in range(teams.option_count)}
        assert "mine  A scripted coder and a local executor." in option_text(home, "mine").plain
        assert home.query_one("#models").get_row_at(0)[0] == "coder-model (default)"
