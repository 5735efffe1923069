"""Snapshots of the main screens with fixed data (no engine timing, no cursor blink, fixed size).

Update after a deliberate change with ``pytest tests/tui/test_snapshots.py --snapshot-update`` and
look at the SVGs before committing them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest

from moot.agents import events as ev

SIZE = (140, 40)
T0 = 1_760_000_000.0


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@dataclass
class FakeSession:
    id: str
    title: str
    team_name: str
    status: str
    messages: int
    updated: float
    task: str = ""
    parent_id: str | None = None


@dataclass
class FakeSessions:
    rows: list = field(default_factory=lambda: [
        FakeSession("a1", "sum the primes below 100", "coder", "stopped", 6, T0),
        FakeSession("b2", "write a haiku about tmux", "research-writer-editor", "interrupted", 3, T0 - 86400 * 3),
        FakeSession("c3", "refactor the parser", "planner-coder-reviewer", "failed", 9, T0 - 86400 * 9),
    ])

    def list(self, limit=None):
        return self.rows

    def get(self, sid):
        return next(r for r in self.rows if r.id == sid)


class FakeMemos:
    def __init__(self):
        from moot.memory.memos import Memo

        self.memos = [
            Memo(id="mem-1", match="indentation style", recall="The user prefers tabs over spaces.", kind="preference",
                 created=T0, updated=T0),
            Memo(id="mem-2", match="which python version", recall="Projects here use Python 3.11.", agent="coder",
                 session_id="a1", created=T0 + 60, updated=T0 + 60),
            Memo(id="mem-3", match="how to run tests", recall="Run the tests with make test.", kind="task_advice",
                 pending=True, created=T0 + 120, updated=T0 + 120),
        ]

    def list(self, agent=None, kind=None, pending=False):
        return [m for m in self.memos if pending is None or m.pending == pending]

    def search(self, query, k=5, agent=None, *, kind=None, max_distance=None, pending=False):
        return []


def app_with_fixed_data(app_factory, make_models):
    models = make_models(smollm2={"backend": "llama_cpp", "model_path": "/models/absent.gguf"},
                         cloud={"backend": "anthropic", "model": "claude", "api_key_env": "MOOT_SNAPSHOT_KEY"})
    return app_factory(models=models, session_store=FakeSessions(), memo_store=FakeMemos())


def test_home(snap_compare, app_factory, make_models, monkeypatch):
    monkeypatch.delenv("MOOT_SNAPSHOT_KEY", raising=False)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # teams show "code: sandbox" (bwrap)
    app = app_with_fixed_data(app_factory, make_models)

    async def run_before(pilot):
        from conftest import wait_home

        await wait_home(pilot, app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


CHAT = "chat-snap"


def chat_events() -> list[ev.Event]:
    code = "Here is a script:\n\n```python\nimport math\nprint(sum(i for i in range(100) if all(i % d for d in range(2, int(math.sqrt(i)) + 1)) and i > 1))\n```"
    return [
        ev.ChatStarted(CHAT, initiator="executor", participants=("executor", "coder"), ts=T0),
        ev.MessagePosted(CHAT, message_id="m1", sender="executor", recipient="coder", role="user",
                         content="Sum the primes below 100.", ts=T0),
        ev.TokenDelta(CHAT, agent="coder", message_id="m2", text=code[:30], ts=T0),
        ev.TokenDelta(CHAT, agent="coder", message_id="m2", text=code[30:], ts=T0),
        ev.MessagePosted(CHAT, message_id="m2", sender="coder", recipient="executor", role="assistant", content=code, ts=T0),
        ev.CodeBlockFound(CHAT, agent="executor", execution_id="x1", language="python", code=code.split("```python\n")[1].rstrip("`\n"), ts=T0),
        ev.ExecutorOutput(CHAT, agent="executor", execution_id="x1", text="1060\n", ts=T0),
        ev.ExecutionFinished(CHAT, agent="executor", execution_id="x1", exit_code=0, output="1060\n", duration_s=0.12, ts=T0),
        ev.MessagePosted(CHAT, message_id="m3", sender="executor", recipient="coder", role="user",
                         content="exitcode: 0 (execution succeeded)\nCode output: 1060\n", ts=T0),
        ev.TokenDelta(CHAT, agent="coder", message_id="m4", text="Let me double-check with a sieve:\n\n```python\nprint(1/0", ts=T0),
    ]


async def show_chat_mid_run(app, with_failure: bool = False) -> None:
    from moot.agents import load_team
    from moot.tui.screens.chat import ChatScreen

    screen = ChatScreen(load_team("coder", app.models), app.models)
    await app.push_screen(screen)
    for event in chat_events():
        screen.receive(event)
    if with_failure:
        for event in (
            ev.CodeBlockFound(CHAT, agent="executor", execution_id="x2", language="python", code="print(1/0)", ts=T0),
            ev.ExecutorOutput(CHAT, agent="executor", execution_id="x2", text="ZeroDivisionError: division by zero\n",
                              stream="stderr", ts=T0),
            ev.ExecutionFinished(CHAT, agent="executor", execution_id="x2", exit_code=1,
                                 output="ZeroDivisionError: division by zero\n", duration_s=0.05, ts=T0),
        ):
            screen.receive(event)
    await screen.flush()
    screen.mode = "running"
    screen._update_input()
    status = screen.status
    status.speaker, status.model, status.rate, status.tokens, status.round, status.elapsed = "coder", "coder-model", 57, 1234, 2, 40
    status.state = "streaming"
    status.refresh_text()
    screen.input.cursor_blink = False


def test_chat_mid_run_both_panes(snap_compare, app_factory, make_models):
    app = app_with_fixed_data(app_factory, make_models)

    async def run_before(pilot):
        await show_chat_mid_run(app, with_failure=True)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_approval_modal(snap_compare, app_factory, make_models):
    app = app_with_fixed_data(app_factory, make_models)

    async def run_before(pilot):
        from moot.tui.screens.approval import ApprovalScreen

        await show_chat_mid_run(app)
        await app.push_screen(ApprovalScreen("executor", "python", "import os\nprint(os.listdir('.'))\n", "local"))
        modal = app.screen
        while not modal.armed:  # drawn once its buttons are armed (they are off for a moment at first)
            await pilot.pause(0.1)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_memory_browser(snap_compare, app_factory, make_models):
    app = app_with_fixed_data(app_factory, make_models)

    async def run_before(pilot):
        from moot.tui.screens.memory import MemoryScreen

        await pilot.press("f2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MemoryScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen.query_one("#memo-search").cursor_blink = False

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
