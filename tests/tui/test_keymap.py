"""keymap.toml: every problem reported with its line (bad keys, values that are not keys, unknown
binding ids, two bindings on one key), and every hint and help text naming the live keys."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from textual.widgets import Markdown

from conftest import wait_home, wait_until
from moot.tui import app as _app  # noqa: F401  (the app and Home declare their own bindings: app.help, ...)
from moot.tui.screens import home as _home  # noqa: F401
from moot.tui import settings
from moot.tui.screens.chat import ChatScreen
from moot.tui.screens.help import HelpScreen, binding_rows, check_keymap

TUI = Path(settings.__file__).resolve().parent

KEYMAP = """# my keys
"chat.stop" = "ctrl+k"
"chat.back" = "contrl+b"
"home.refresh" = 5
"chat.nope" = "ctrl+y"
"chat.focus_input" = "ctrl+k"
"home.memory" = "f1"
"approval.edit" = "ctrl+kk"
"""


def write_keymap(text: str) -> Path:
    path = settings.keymap_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_problem_in_keymap_toml_is_reported_with_its_line():
    path = write_keymap(KEYMAP)
    keymap, problems = settings.load_keymap()
    assert keymap == {"chat.stop": "ctrl+k", "chat.nope": "ctrl+y", "chat.focus_input": "ctrl+k", "home.memory": "f1"}
    assert problems == [
        f"{path}:3: 'chat.back': 'contrl+b': unknown modifier 'contrl' (modifiers: ctrl, shift, alt, meta, super, hyper)",
        f"{path}:4: 'home.refresh': expected keys as a string like \"ctrl+x\", got 5",
        f"{path}:8: 'approval.edit': 'ctrl+kk': no key named 'kk' (e.g. \"ctrl+k\", \"f5\", \"escape\", \"question_mark\")",
    ]
    later = check_keymap()  # needs every screen's bindings: unknown ids and clashes
    assert f"{path}:5: no binding with id 'chat.nope' (the ids are listed in the help screen, F1)" in later
    assert any(p.startswith(f"{path}:2: 'chat.stop' = 'ctrl+k': 'ctrl+k' is also 'chat.focus_input' (chat)")
               for p in later), later
    assert any(p.startswith(f"{path}:7: 'home.memory' = 'f1': 'f1' is also 'app.help'") for p in later), later
    assert len(later) == 3


def test_a_toml_mistake_and_an_unquoted_id_say_where():
    path = write_keymap('chat.stop = "ctrl+k"\n')
    assert settings.load_keymap() == ({}, [f"{path}:1: 'chat' is read as a table: write the binding id in quotes "
                                           "(\"chat.…\" = \"ctrl+k\")"])
    write_keymap('"chat.stop" = \n')
    keymap, problems = settings.load_keymap()
    assert keymap == {} and "line 1" in problems[0] and str(path) in problems[0]


def test_key_labels_follow_the_keymap():
    write_keymap('"chat.stop" = "ctrl+k"\n"approval.skip" = "f9"\n')
    settings.load_keymap()
    binding_rows()  # every screen declared
    assert settings.key_label("chat.stop") == "Ctrl+K" and settings.key_label("chat.back") == "Ctrl+B"
    assert settings.key_label("approval.skip") == "F9" and settings.key_label("home.edit_team") == "e"
    assert settings.key_display("escape,f1,q") == "Esc" and settings.key_display("question_mark") == "?"
    rows = {r[3]: r[1] for r in binding_rows()}
    assert rows["chat.stop"] == "Ctrl+K" and rows["help.close"] == "Esc, F1, q"


async def test_the_app_reports_the_problems_and_its_hints_name_the_live_keys(app_factory, coder_team, no_approval):
    write_keymap('"chat.stop" = "ctrl+k"\n"chat.back" = "f6"\n"chat.stop_turn" = "f7"\n"home.ghost" = "g"\n')
    name = coder_team()
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        home = await wait_home(pilot, app)
        await wait_until(pilot, lambda: getattr(app, "keymap_checked", False), what="the keymap check")
        await pilot.pause()
        shown = [n.message for n in app._notifications]
        assert any(":4: no binding with id 'home.ghost'" in m for m in shown), shown
        title = str(home.query_one("#teams-box .box-title").render())
        assert "e: edit" in title
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        guide = app.screen.query_one(Markdown).source
        assert "**F7** stops the current turn" in guide and "**Stop** (Ctrl+K)" in guide and "F6" in guide
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is home, what="help closed")
        app.open_team(name, task="print 6 * 7")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        screen = app.screen
        await wait_until(pilot, lambda: screen.mode == "stopped" and not screen.pending, 20, what="the run")
        await pilot.pause()
        assert "F6 for home" in str(screen.input.placeholder)


def test_no_hint_in_the_app_names_a_key_by_hand():
    """Hints use key_label: a user string naming 'Ctrl+X' or '(Esc)' would go stale under a keymap."""
    pattern = re.compile(r"\b(Ctrl|Alt|Shift)\+\w|\((Esc|F\d{1,2})\)")
    found = []
    for path in sorted(TUI.rglob("*.py")):
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            if tok.type != tokenize.STRING or tok.string.lstrip("rbfuRBFU").startswith(('"""', "'''")):
                continue  # docstrings describe the defaults
            if pattern.search(tok.string):
                found.append(f"{path.relative_to(TUI)}:{tok.start[0]}: {tok.string}")
    assert not found, "\n".join(found)
