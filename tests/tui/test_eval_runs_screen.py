"""The eval runs screen: each run of `moot eval` with its pass rate; a failed task opens the
session it ran as."""

from __future__ import annotations

from conftest import wait_home, wait_until
from moot.evals import EvalStore, TaskResult
from moot.tui.screens.chat import ChatScreen
from moot.tui.screens.eval_runs import EvalRunsScreen


async def test_eval_runs_list_pass_rates_and_open_a_failed_tasks_session(app_factory, coder_team, no_approval, tmp_path):
    name = coder_team()
    store = EvalStore(tmp_path / "evals.db")
    app = app_factory()
    async with app.run_test(size=(160, 44)) as pilot:
        home = await wait_home(pilot, app)
        app.open_team(name, task="print 6 * 7")  # a real recorded session, as an eval task makes one
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        chat = app.screen
        await wait_until(pilot, lambda: chat.mode == "stopped" and not chat.pending, 20, what="the run")
        session = app.session_store().list()[0].id
        await app.action_home()
        await wait_until(pilot, lambda: app.screen is home, what="home")
        run = store.create_run(suite="micro", team=name, model="coder-model", options={},
                               planned=[("add", 0), ("sub", 0), ("mul", 0)])
        store.add_result(run, TaskResult("add", 0, True, session="", prompt_tokens=10, completion_tokens=5))
        store.add_result(run, TaskResult("sub", 0, False, kind="check", detail="expected 1, got 2", session=session))
        app.push_screen(EvalRunsScreen(store))
        await wait_until(pilot, lambda: isinstance(app.screen, EvalRunsScreen), what="the eval runs")
        await pilot.pause()
        screen = app.screen
        runs = screen.query_one("#eval-runs")
        row = [c.plain if hasattr(c, "plain") else c for c in runs.get_row(run)]
        assert row[1:4] == ["micro", name, "coder-model"] and row[4] == "50% (1/2)"
        assert row[6] == "2 (+1 not run)" and row[7] == "check 1"
        tasks = screen.query_one("#eval-tasks")
        first = [c.plain if hasattr(c, "plain") else c for c in tasks.get_row_at(0)]
        assert first[:3] == ["sub", "0", "✗ check"] and first[4] == session  # failures first
        tasks.focus()
        tasks.move_cursor(row=0)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.session_id == session,
                         what="the failed task's session")


async def test_no_eval_runs_says_how_to_make_one(app_factory, tmp_path):
    app = app_factory()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_home(pilot, app)
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, EvalRunsScreen), what="the eval runs")
        await pilot.pause()
        cell = app.screen.query_one("#eval-runs").get_row_at(0)[2]
        assert "moot eval SUITE --team T" in cell.plain
