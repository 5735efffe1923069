"""App-wide things: the theme is remembered, the user keymap overrides bindings by id, help lists
every binding id, the command palette has the actions, ``moot`` opens the app."""

from __future__ import annotations

from conftest import wait_until
from moot.tui.screens.chat import ChatScreen
from moot.tui.screens.help import HelpScreen
from moot.tui.screens.home import HomeScreen
from moot.tui.settings import keymap_path, load_settings, settings_path


async def test_theme_is_remembered(app_factory):
    app = app_factory()
    async with app.run_test() as pilot:
        app.theme = "nord"
        await pilot.pause()
    assert load_settings()["theme"] == "nord"
    assert 'theme = "nord"' in settings_path().read_text()
    again = app_factory()
    async with again.run_test() as pilot:
        await pilot.pause()
        assert again.theme == "nord"


async def test_user_keymap_rebinds_by_id(app_factory, coder_team, make_models, no_approval):
    keymap_path().parent.mkdir(parents=True, exist_ok=True)
    keymap_path().write_text('[keymap]\n"chat.stop" = "ctrl+k"\n"app.help" = "f9"\n"bad" = 3\n')
    models = make_models(**{"coder-model": {"backend": "scripted", "replies": ["slow " * 300],
                                            "options": {"chunk_delay_s": 0.03, "chunk_size": 4}}})
    name = coder_team()
    app = app_factory(models=models, team=name, task="go")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready,
                         what="the chat")
        screen = app.screen
        assert any("'bad'" in n.message for n in app._notifications)  # a broken line is reported
        await wait_until(pilot, lambda: screen.status.state == "streaming", what="streaming")
        await pilot.press("ctrl+k", "y")  # the stop asks first
        await wait_until(pilot, lambda: screen.mode == "stopped", what="the stop")
        assert screen.stopped_event.reason == "stopped by the user (Stop)"
        await pilot.press("f9")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help on the new key")
        rows = {r[3]: r[1] for r in app.screen.rows}
        assert rows["chat.stop"] == "Ctrl+K" and rows["app.help"] == "F9"  # as hints name keys
        assert {"home.resume", "chat.stop_turn", "approval.run", "memory.accept", "team_editor.save"} <= set(rows)


async def test_command_palette_offers_the_actions(app_factory, coder_team):
    coder_team()
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.populated, what="home")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Help", "Memory browser", "New team", "Chat with scripted-coder", "Resume the selected session",
                       "Fork the selected session", "Export the selected session", "Delete the selected session",
                       "Toggle code approval", "Theme", "Quit"):
            assert wanted in titles, wanted
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"memory browser")
        await pilot.pause(0.5)
        await pilot.press("enter")
        from moot.tui.screens.memory import MemoryScreen

        await wait_until(pilot, lambda: isinstance(app.screen, MemoryScreen), what="the palette to open memory")


def test_moot_without_a_command_opens_the_app(monkeypatch):
    from moot.tui import app as app_module
    from moot.tui import cli

    seen = {}

    def fake_run_app(args):
        seen.update(team=args.team, task=args.task, executor=args.tui_executor)
        return 0

    monkeypatch.setattr(app_module, "run_app", fake_run_app)
    assert cli.main([]) == 0 and seen == {"team": None, "task": None, "executor": None}
    assert cli.main(["--team", "coder", "--task", "hi", "--executor", "local"]) == 0
    assert seen == {"team": "coder", "task": "hi", "executor": "local"}


def test_tcss_ships_in_the_package():
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())
    assert "*.tcss" in data["tool"]["setuptools"]["package-data"]["*"]
    assert (root / "tui" / "moot.tcss").is_file()
