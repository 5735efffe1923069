"""The app asks before an MCP tool call of a server that needs approval: a modal with the tool,
its server and the arguments as JSON; run, edit the arguments then run, or skip. The server is
the real mcp-server-time on stdio, the model scripted."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import wait_until
from moot.tui.screens.chat import ChatScreen
from moot.tui.screens.mcp_approval import McpApprovalScreen

pytestmark = pytest.mark.timeout(120)

TEAM = f"""
schema_version = 1
name = "clock"
[[members]]
name = "executor"
role = "user_proxy"
human_input_mode = "NEVER"
[[members]]
name = "timer"
model = "timer-model"
tools = ["time.get_current_time"]
[chat]
initiator = "executor"
max_turns = 2
[mcp.time]
command = {sys.executable!r}
args = ["-m", "mcp_server_time", "--local-timezone", "UTC"]
"""


@pytest.mark.parametrize("choice", ["run", "edit", "skip"])
async def test_an_mcp_tool_call_waits_for_the_approval_modal(app_factory, make_models, write_team, choice):
    write_team(TEAM, "clock")
    call = {"content": "", "tool_calls": [{"name": "time__get_current_time", "arguments": {"timezone": "UTC"}}]}
    app = app_factory(models=make_models(**{"timer-model": [call, "It is known."]}), team="clock", task="what time is it?")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, McpApprovalScreen), timeout=30, what="the MCP approval modal")
        modal = app.screen
        await wait_until(pilot, lambda: any(b.region.width > 0 for b in modal.query("#run")), what="the modal's layout")
        await wait_until(pilot, lambda: modal.armed, what="the modal's buttons to arm")
        assert (modal.server, modal.tool) == ("time", "get_current_time")
        assert json.loads(modal.editor.text) == {"timezone": "UTC"}
        if choice == "run":
            await pilot.click("#run")
        elif choice == "skip":
            await pilot.press("escape")
        else:
            await pilot.click("#edit")
            modal.editor.text = '{"timezone": '  # not JSON: the modal says so and stays
            await pilot.press("ctrl+r")
            assert app.screen is modal and "not JSON" in str(modal.query_one("#approval-help").render())
            modal.editor.text = '{"timezone": "Asia/Tokyo"}'
            await pilot.press("ctrl+r")
        screen = next(s for s in app.screen_stack if isinstance(s, ChatScreen))
        await wait_until(pilot, lambda: screen.mode in ("stopped", "continue") and not screen.pending, timeout=30,
                         what="the run to stop")
        result = next(m for m in screen.session.result.chat_history if m.get("role") == "tool")["content"]
        titles = [str(c.title) for c in screen.query("Collapsible.tool-call")]
        assert titles[0] == "→ get_current_time(…) · MCP time" and titles[1].startswith("← get_current_time · MCP time")
        if choice == "skip":
            assert "skipped" in result
        else:
            assert json.loads(result)["timezone"] == ("UTC" if choice == "run" else "Asia/Tokyo")


async def test_the_mcp_view_shows_each_server_its_status_and_tools(app_factory, make_models, write_team, no_approval):
    team = TEAM.replace('tools = ["time.get_current_time"]', 'tools = ["time.get_current_time", "ghost.*"]')
    write_team(team + 'approval = "never"\n[mcp.ghost]\ncommand = "no-such-mcp-xyz"\n', "clock")
    call = {"content": "", "tool_calls": [{"name": "time__get_current_time", "arguments": {"timezone": "UTC"}}]}
    app = app_factory(models=make_models(**{"timer-model": [call, "It is known."]}), team="clock", task="what time is it?")
    async with app.run_test(size=(140, 40)) as pilot:
        def chat():
            return next((s for s in app.screen_stack if isinstance(s, ChatScreen)), None)

        await wait_until(pilot, lambda: chat() is not None and chat().mode in ("stopped", "continue"), timeout=30,
                         what="the run to stop")
        screen = chat()
        assert "MCP servers" in [title for title, _, _ in screen.palette_commands()]
        screen.show_mcp()
        await wait_until(pilot, lambda: type(app.screen).__name__ == "McpScreen" and app.screen.query("#mcp-table")
                         and app.screen.query_one("#mcp-table").row_count == 2, what="the MCP view")
        from moot.tui.screens.mcp import server_rows

        rows = {r[0]: r for r in server_rows(app.screen.mcp)}
        assert rows["time"][3] == "time__get_current_time, time__convert_time"
        assert str(rows["ghost"][2]).startswith("failed: ") and "no such program" in str(rows["ghost"][2])
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, what="the view to close")
