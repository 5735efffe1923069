"""The fork lineage of sessions: on Home and in `moot sessions list`, each fork is drawn under the
session it came from."""

from __future__ import annotations

from dataclasses import dataclass

from conftest import wait_home, wait_until
from moot.tui.screens.chat import ChatScreen
from moot.tui.sessions_cmd import lineage, tree_title


@dataclass
class Info:
    id: str
    parent_id: str | None = None
    title: str = ""


def test_lineage_puts_each_fork_under_its_parent():
    rows = [Info("c", "a", "fork 2"), Info("b", "a", "fork 1"), Info("d", "c", "fork of fork"), Info("a", None, "root"),
            Info("e", "gone", "orphan")]
    assert [(i.id, d) for i, d in lineage(rows)] == [("a", 0), ("c", 1), ("d", 2), ("b", 1), ("e", 0)]
    assert [tree_title(i, d) for i, d in lineage(rows)][:3] == ["root", "└ fork 2", "  └ fork of fork"]


async def test_home_draws_the_fork_tree(app_factory, coder_team, no_approval):
    name = coder_team()
    app = app_factory()
    async with app.run_test(size=(160, 44)) as pilot:
        home = await wait_home(pilot, app)
        app.open_team(name, task="print 6 * 7")
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        chat = app.screen
        await wait_until(pilot, lambda: chat.mode == "stopped" and not chat.pending, 20, what="the run")
        store = app.session_store()
        root = store.list()[0].id
        first = store.fork(root, 1)
        second = store.fork(first, 1)
        await app.action_home()
        await wait_until(pilot, lambda: app.screen is home, what="home")
        home.load_sessions()
        await pilot.pause()
        table = home.query_one("#sessions")
        titles = [table.get_row_at(i)[2].plain for i in range(table.row_count)]
        ids = [info.id for info in home.session_rows]
        assert ids[:3] == [root, first, second]
        assert titles[1].startswith("└ ") and titles[2].startswith("  └ ") and "(fork at 1)" in titles[1]
