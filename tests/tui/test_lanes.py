"""Agent lanes on their own: fed the engine's events, one row per agent says what it does now,
its model, tokens, context meter and current tool; a click filters to that agent, again: all."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import OptionList

from moot.agents import events as ev
from moot.tui.widgets.lanes import AgentLanes, tokens

C = "chat-1"


class LanesApp(App):
    def __init__(self) -> None:
        super().__init__()
        self.filters: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield AgentLanes([("executor", ""), ("coder", "smollm2")], id="lanes")

    def on_agent_lanes_filter(self, message: AgentLanes.Filter) -> None:
        self.filters.append(message.agent)


def rows(app) -> list[str]:
    options = app.query_one(OptionList)
    return [options.get_option_at_index(i).prompt.plain for i in range(options.option_count)]


def test_token_counts_read_short():
    assert [tokens(n) for n in (950, 1000, 3140, 8192, 32768)] == ["950", "1k", "3.1k", "8k", "32k"]


async def test_lanes_follow_the_events_and_filter_on_click():
    app = LanesApp()
    async with app.run_test(size=(130, 24)) as pilot:
        lanes = app.query_one(AgentLanes)
        assert rows(app)[1].startswith("● coder  idle\n  smollm2")
        lanes.feed([ev.ChatStarted(C, initiator="executor", participants=("executor", "coder")),
                    ev.ReasoningDelta(C, agent="coder", message_id="m1", text="hmm")])
        await pilot.pause()
        assert "coder  thinking" in rows(app)[1]
        lanes.feed(ev.TokenDelta(C, agent="coder", message_id="m1", text="Here"))
        lanes.feed(ev.UsageReport(C, agent="coder", model="smollm2", prompt_tokens=3140, completion_tokens=60,
                                  window=8192, reserved=512))
        await pilot.pause()
        coder = rows(app)[1]
        assert "coder  writing" in coder and "3.2k tok" in coder and "ctx 3.1k/8k" in coder
        lanes.feed([ev.MessagePosted(C, message_id="m1", sender="coder", recipient="executor", role="assistant",
                                     content="```python\nprint(1)\n```"),
                    ev.CodeBlockFound(C, agent="executor", execution_id="x1", language="python", code="print(1)")])
        await pilot.pause()
        assert "coder  idle" in rows(app)[1] and "executor  running code" in rows(app)[0]
        lanes.feed([ev.ExecutionFinished(C, agent="executor", execution_id="x1", exit_code=0, output="1", duration_s=0.1),
                    ev.ToolCallRequested(C, agent="coder", call_id="t1", name="get_current_time", arguments="{}", server="time")])
        await pilot.pause()
        assert "executor  idle" in rows(app)[0]
        assert "coder  calling a tool" in rows(app)[1] and "tool: get_current_time · MCP time (running)" in rows(app)[1]
        lanes.feed([ev.ToolResult(C, agent="coder", call_id="t1", name="get_current_time", content="noon"),
                    ev.HumanInputRequested(C, agent="executor", prompt="Reply?")])
        await pilot.pause()
        assert "tool: get_current_time · MCP time" in rows(app)[1] and "(running)" not in rows(app)[1]
        assert "executor  waiting for you" in rows(app)[0]
        lanes.feed(ev.ToolCallRequested(C, agent="critic", call_id="t2", name="calculator", arguments="{}"))
        await pilot.pause()
        assert len(rows(app)) == 3 and rows(app)[2].startswith("● critic  calling a tool")  # a new agent gets a row
        lanes.feed(ev.Stopped(C, reason="done", condition="max_turns"))
        await pilot.pause()
        assert all("  idle" in r for r in rows(app))
        # A click on coder's row filters to it; a second click shows everyone again.
        await pilot.click(OptionList, offset=(4, 4))  # the second row (each row is 2-3 lines)
        await pilot.pause()
        assert app.filters == ["coder"] and rows(app)[1].startswith("▶ coder")
        await pilot.click(OptionList, offset=(4, 4))
        await pilot.pause()
        assert app.filters == ["coder", None] and rows(app)[1].startswith("● coder")


async def test_the_chat_screen_shows_lanes_toggles_them_and_filters(app_factory, coder_team, no_approval):
    from conftest import wait_until
    from moot.tui.screens.chat import ChatScreen
    from moot.tui.widgets import TurnBlock

    name = coder_team()
    app = app_factory(team=name, task="print 6 * 7")
    async with app.run_test(size=(160, 44)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        screen = app.screen
        await wait_until(pilot, lambda: screen.mode == "stopped" and not screen.pending, 20, what="the run")
        await pilot.pause()
        lanes = screen.query_one(AgentLanes)
        assert lanes.display and not lanes.has_class("-hidden")
        coder = lanes.lanes["coder"]
        assert coder.model == "coder-model" and coder.turns == 2 and coder.status == "idle"
        assert lanes.lanes["executor"].turns >= 1
        lanes.select("coder")
        await pilot.pause()
        shown = {b.agent for b in screen.conversation.query(TurnBlock) if b.display}
        assert shown == {"coder"}
        lanes.select(None)
        await pilot.pause()
        assert {b.agent for b in screen.conversation.query(TurnBlock) if b.display} == {"coder", "executor"}
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert lanes.has_class("-hidden") and not lanes.region.width
