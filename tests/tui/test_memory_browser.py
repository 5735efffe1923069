"""The memory browser on a real memo store (Chroma, embedded, in a temp folder): list, search,
edit, delete, accept and reject proposals, and which session taught what."""

from __future__ import annotations

import pytest

from conftest import wait_until
from moot.tui.screens.dialogs import ConfirmScreen
from moot.tui.screens.memory import MemoEditScreen, MemoryScreen

T0 = 1_760_000_000.0


def fixed_memos():
    from moot.memory.memos import Memo

    return [
        Memo(id="mem-tabs", match="indentation style", recall="The user prefers tabs over spaces.", kind="preference",
             created=T0, updated=T0),
        Memo(id="mem-python", match="which python version", recall="Projects here use Python 3.11.", kind="fact",
             agent="coder", session_id="sess-1", created=T0 + 60, updated=T0 + 60),
        Memo(id="mem-proposed", match="how to run tests", recall="Run the tests with make test.", kind="task_advice",
             pending=True, created=T0 + 120, updated=T0 + 120),
    ]


@pytest.fixture(scope="module")
def embedding():
    from moot.memory.embeddings import embedding_function

    return embedding_function()


@pytest.fixture
def memo_store(tmp_path, embedding):
    from moot.memory.memos import MemoStore

    store = MemoStore(path=tmp_path / "memos", embedding=embedding)
    store.put(fixed_memos())
    return store


async def open_memory(pilot, app) -> MemoryScreen:
    await pilot.press("f2")
    await wait_until(pilot, lambda: isinstance(app.screen, MemoryScreen), what="the memory browser")
    screen = app.screen
    await wait_until(pilot, lambda: screen.query_one("#memos").row_count > 0, 30, what="the memos")
    return screen


async def wait_rows(pilot, screen, ids, what):
    await wait_until(pilot, lambda: [m.id for m in screen.memos] == ids, 30, what=what)


async def test_browse_search_edit_delete(app_factory, memo_store):
    app = app_factory(memo_store=memo_store)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_memory(pilot, app)
        assert [m.id for m in screen.memos] == ["mem-tabs", "mem-python", "mem-proposed"]
        # search by meaning
        await pilot.press("slash")
        await pilot.press(*"tabs or spaces", "enter")
        await wait_until(pilot, lambda: screen.memos and screen.memos[0].id == "mem-tabs" and screen.query_text, 30,
                         what="search results")
        # edit the first hit
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, MemoEditScreen), what="the editor")
        app.screen.query_one("#edit-recall").text = "The user prefers 4 spaces."
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: memo_store.get("mem-tabs").recall == "The user prefers 4 spaces.", 30,
                         what="the edit to be stored")
        # delete asks first
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await wait_until(pilot, lambda: memo_store.get("mem-tabs") is None, 30, what="the deletion")
        await wait_until(pilot, lambda: "mem-tabs" not in [m.id for m in screen.memos], 30, what="the table refresh")


async def test_accept_and_reject_proposals(app_factory, memo_store):
    from moot.memory.memos import Memo

    memo_store.put([Memo(id="mem-other", match="editor", recall="The user edits with vim.", pending=True,
                         created=T0 + 200, updated=T0 + 200)])
    app = app_factory(memo_store=memo_store)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_memory(pilot, app)
        await pilot.press("p")  # proposals only
        await wait_rows(pilot, screen, ["mem-proposed", "mem-other"], "the proposals")
        screen.query_one("#memos").focus()
        await pilot.press("a")
        await wait_until(pilot, lambda: not memo_store.get("mem-proposed").pending, 30, what="the acceptance")
        await wait_rows(pilot, screen, ["mem-other"], "the remaining proposal")
        await pilot.press("j")
        await wait_until(pilot, lambda: memo_store.get("mem-other") is None, 30, what="the rejection")
        # accepting a memo that is not a proposal does nothing but say so
        await pilot.press("p")
        await wait_until(pilot, lambda: len(screen.memos) == 3, 30, what="all memos")
        await pilot.press("a")
        assert any("select a proposal" in n.message for n in app._notifications)


async def test_which_session_taught_what(app_factory, memo_store, monkeypatch):
    class Info:
        title = "set up the project"

    class Sessions:
        def get(self, sid):
            assert sid == "sess-1"
            return Info()

    app = app_factory(memo_store=memo_store, session_store=Sessions())
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_memory(pilot, app)
        table = screen.query_one("#memos")
        assert table.get_row("mem-python")[5] == "set up the project"
        assert table.get_row("mem-tabs")[5] == "by hand"


async def test_no_memo_store_is_said_not_crashed(app_factory, monkeypatch):
    app = app_factory()
    app.memo_problem = "memory unavailable: chromadb is broken"
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, MemoryScreen), what="the memory browser")
        await pilot.pause(0.3)
        detail = app.screen.query_one("#memo-detail")
        assert "chromadb is broken" in str(detail.render())
