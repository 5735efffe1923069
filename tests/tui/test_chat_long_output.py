"""A long output shows its tail and says it is cut; Enter opens the whole output in a virtual line view (Log), scrollable; a real
2000-line run through the app shows its last line."""

from __future__ import annotations

from conftest import wait_until
from moot.agents import events as ev
from moot.agents import load_team
from moot.tui.screens.chat import ChatScreen
from moot.tui.widgets.executor_pane import TAIL_LINES, OutputScreen


async def chat_screen(app, pilot, name):
    screen = ChatScreen(load_team(name, app.models), app.models)
    await app.push_screen(screen)
    await pilot.pause()
    screen.receive(ev.ChatStarted("c1", initiator="executor", participants=("executor", "coder")))
    return screen


async def test_a_long_output_shows_its_tail_and_opens_in_full(app_factory, coder_team):
    name = coder_team()
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        screen = await chat_screen(app, pilot, name)
        screen.receive(ev.CodeBlockFound("c1", agent="executor", execution_id="x1", language="python",
                                         code="for i in range(2000): print('line', i)"))
        for start in range(0, 2000, 100):  # as an executor streams it: chunks of lines
            screen.receive(ev.ExecutorOutput("c1", agent="executor", execution_id="x1",
                                             text="".join(f"line {i}\n" for i in range(start, start + 100))))
        screen.receive(ev.ExecutionFinished("c1", agent="executor", execution_id="x1", exit_code=1,
                                            output="", duration_s=0.5))
        await screen.flush()
        await pilot.pause()
        entry = screen.executor_pane.entries["x1"]
        shown = str(entry.query_one(".exec-output").render())
        assert "line 1999" in shown and "line 1980" in shown and "line 1979" not in shown
        assert f"showing last {TAIL_LINES} of 2000 lines" in str(entry.query_one(".exec-more").render())
        entry.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, OutputScreen), what="the full output")
        view = app.screen.log_view
        assert "\n".join(view.lines) + "\n" == entry.output and view.line_count == 2000
        await pilot.pause()
        assert view.scroll_y == view.max_scroll_y > 1900  # it opens on the tail
        title = str(app.screen.query_one("#output-title").render())
        assert f"of 2000 · Ctrl+Home/Ctrl+End: top/end" in title and "lines 19" in title
        assert "line 1999" in str(view.render_line(view.scrollable_content_region.height - 1).text)
        await pilot.press("ctrl+home")  # and scrolls to the top
        await pilot.pause()
        assert view.scroll_y == 0 and "lines 1–" in str(app.screen.query_one("#output-title").render())
        await pilot.press("pagedown")
        await pilot.pause()
        assert view.scroll_y > 10
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, what="back in the chat")


async def test_a_short_output_is_shown_whole(app_factory, coder_team):
    name = coder_team()
    app = app_factory()
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        screen = await chat_screen(app, pilot, name)
        screen.receive(ev.CodeBlockFound("c1", agent="executor", execution_id="x1", language="python", code="print(1)"))
        screen.receive(ev.ExecutorOutput("c1", agent="executor", execution_id="x1", text="1\n2\n"))
        screen.receive(ev.ExecutionFinished("c1", agent="executor", execution_id="x1", exit_code=0,
                                            output="1\n2\n", duration_s=0.1))
        await screen.flush()
        await pilot.pause()
        entry = screen.executor_pane.entries["x1"]
        assert str(entry.query_one(".exec-output").render()) == "1\n2"
        assert not entry.query_one(".exec-more").display


async def test_a_real_run_of_2000_lines_shows_the_last(app_factory, make_models, coder_team, no_approval):
    code = "Here:\n\n```python\nfor i in range(2000):\n    print('line', i)\n```"
    models = make_models(**{"coder-model": [code, "Done. TERMINATE"]})
    name = coder_team()
    app = app_factory(models=models, team=name, task="print lines")
    async with app.run_test(size=(140, 44)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        screen = app.screen
        await wait_until(pilot, lambda: screen.mode == "stopped" and not screen.pending, timeout=30, what="the end")
        entry = list(screen.executor_pane.entries.values())[0]
        await pilot.pause()
        assert "line 1999" in str(entry.query_one(".exec-output").render())
        assert "of 2000 lines" in str(entry.query_one(".exec-more").render())
