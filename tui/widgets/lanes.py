"""Agent lanes: a side panel with one row per agent — what it is doing now (thinking, writing,
running code, calling a tool, waiting for you), its model, the tokens it used, its context meter
("ctx 3.1k/8k", from the last ``UsageReport``) and its current tool. Selecting a row (click or
Enter) asks to filter the conversation to that agent; selecting it again shows everyone.

Self-contained: it is fed the engine's events (``feed``), the same stream the transcript folds,
and draws nothing else; the chat screen mounts it, toggles it and applies the filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from moot.agents import events as ev

STATUS_STYLE = {"thinking": "magenta", "writing": "green", "running code": "yellow", "calling a tool": "cyan",
                "waiting for you": "bold yellow", "up next": "", "idle": "dim"}


def tokens(n: int) -> str:
    """1234 -> '1.2k', 950 -> '950'; a window in whole KiB as models state it: 8192 -> '8k'."""
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024}k"
    return f"{n / 1000:.1f}k".replace(".0k", "k") if n >= 1000 else str(n)


@dataclass
class Lane:
    """What one agent is doing, as the events tell it."""

    agent: str
    model: str = ""
    status: str = "idle"
    tokens: int = 0  # prompt + completion over all its model calls
    context: tuple[int, int] = (0, 0)  # prompt tokens of the last call, the model's window (0: unknown)
    tool: str = ""  # the tool it called last (while it runs, or the last one)
    tool_running: bool = False
    turns: int = 0  # messages it posted

    def row(self, selected: bool = False) -> Text:
        mark = "▶ " if selected else "● "
        line = Text.assemble((mark, STATUS_STYLE.get(self.status, "")), (self.agent, "bold"), "  ",
                             (self.status, STATUS_STYLE.get(self.status, "")))
        details = [self.model or "no model"]
        if self.tokens:
            details.append(f"{tokens(self.tokens)} tok")
        prompt, window = self.context
        if prompt or window:
            details.append(f"ctx {tokens(prompt)}/{tokens(window) if window else '?'}")
        line.append("\n  " + " · ".join(details), "dim")
        if self.tool:
            line.append(f"\n  tool: {self.tool}" + (" (running)" if self.tool_running else ""), "cyan" if self.tool_running else "dim")
        return line


class AgentLanes(Vertical):
    """The panel: a title and an option list of lanes (``feed`` events into it)."""

    DEFAULT_CSS = """
    AgentLanes { width: 34; border-left: vkey $primary 40%; padding: 0 0 0 1; }
    AgentLanes.-hidden { display: none; }
    AgentLanes > #lanes-title { height: 1; color: $text-muted; }
    AgentLanes > OptionList { border: none; height: 1fr; padding: 0; }
    """

    @dataclass
    class Filter(Message):
        """Show only ``agent``'s turns (None: everyone's)."""

        lanes: AgentLanes
        agent: str | None

    def __init__(self, agents: list[tuple[str, str]] = (), **kwargs: Any) -> None:
        """``agents``: (name, model) in the order the panel lists them."""
        super().__init__(**kwargs)
        self.lanes: dict[str, Lane] = {name: Lane(name, model) for name, model in agents}
        self.selected: str | None = None

    @classmethod
    def for_team(cls, team: Any, models: Any = None, **kwargs: Any) -> AgentLanes:
        """The lanes of a team's members, each with the model it will use."""
        default = getattr(models, "default", None) or "the default model"
        def model(m: Any) -> str:  # (a user proxy without a model of its own uses none: models_used)
            if isinstance(m.model, str):
                return m.model
            return "no model" if m.model is False or m.role == "user_proxy" else default

        return cls([(m.name, model(m)) for m in team.spec.members], **kwargs)

    def on_mount(self) -> None:
        if self.app.size.width < 120:  # a narrow terminal keeps its width for the conversation
            self.add_class("-hidden")

    def compose(self) -> ComposeResult:
        yield Static("Agents  (select: only its turns)", id="lanes-title")
        yield OptionList(*self._options(), id="lanes-list")

    def _options(self) -> list[Option]:
        return [Option(lane.row(lane.agent == self.selected), id=lane.agent) for lane in self.lanes.values()]

    def lane(self, agent: str) -> Lane:
        if agent not in self.lanes:
            self.lanes[agent] = Lane(agent)
        return self.lanes[agent]

    # -- the event stream ----------------------------------------------------------------------

    def feed(self, events: ev.Event | list[ev.Event]) -> None:
        """Fold events into the lanes and redraw the rows that changed."""
        changed: set[str] = set()
        for e in events if isinstance(events, list) else [events]:
            changed |= self._fold(e)
        if changed and self.is_mounted:
            self._redraw(changed)

    def _fold(self, e: ev.Event) -> set[str]:
        if isinstance(e, ev.ChatStarted):
            for name in e.participants:
                self.lane(name)
            return set(e.participants)
        if isinstance(e, ev.SpeakerSelected):
            return self._set(e.speaker, "up next") if self.lane(e.speaker).status == "idle" else set()
        if isinstance(e, ev.ReasoningDelta):
            return self._set(e.agent, "thinking")
        if isinstance(e, ev.TokenDelta):
            return self._set(e.agent, "writing")
        if isinstance(e, ev.MessagePosted):
            lane = self.lane(e.sender)
            lane.turns += 1
            lane.status = "idle"
            return {e.sender}
        if isinstance(e, ev.ToolCallRequested):
            lane = self.lane(e.agent)
            lane.tool, lane.tool_running, lane.status = e.name + (f" · MCP {e.server}" if e.server else ""), True, "calling a tool"
            return {e.agent}
        if isinstance(e, ev.ToolResult):
            lane = self.lane(e.agent)
            lane.tool_running = False
            lane.status = "idle" if lane.status == "calling a tool" else lane.status
            return {e.agent}
        if isinstance(e, ev.CodeBlockFound):
            return self._set(e.agent, "running code")
        if isinstance(e, ev.ExecutionFinished):
            return self._set(e.agent, "idle")
        if isinstance(e, ev.HumanInputRequested):
            return self._set(e.agent, "waiting for you")
        if isinstance(e, ev.HumanReply):
            return self._set(e.agent, "idle")
        if isinstance(e, ev.UsageReport):
            lane = self.lane(e.agent)
            lane.tokens += e.prompt_tokens + e.completion_tokens
            lane.context = (e.prompt_tokens, e.window or lane.context[1])
            lane.model = lane.model or e.model
            return {e.agent}
        if isinstance(e, ev.Stopped):  # a chat ended (a nested one's agents too): nobody is busy now
            busy = {a for a, lane in self.lanes.items() if lane.status != "idle" or lane.tool_running}
            for agent in busy:
                self.lanes[agent].status, self.lanes[agent].tool_running = "idle", False
            return busy
        return set()

    def waiting(self, agent: str, what: str = "waiting for you") -> None:
        """A state the events do not carry (an approval the app asks): shown until the next event."""
        self._redraw(self._set(agent, what))

    def _set(self, agent: str, status: str) -> set[str]:
        lane = self.lane(agent)
        if lane.status == status:
            return set()
        lane.status = status
        return {agent}

    def _redraw(self, agents: set[str]) -> None:
        if not self.is_mounted:
            return
        rows = self.query_one(OptionList)
        known = {str(rows.get_option_at_index(i).id) for i in range(rows.option_count)}
        if any(a not in known for a in agents):  # a new agent: the list again, in order
            highlighted = rows.highlighted
            rows.clear_options()
            rows.add_options(self._options())
            rows.highlighted = highlighted
            return
        for agent in agents:
            rows.replace_option_prompt(agent, self.lanes[agent].row(agent == self.selected))

    # -- filtering ------------------------------------------------------------------------------

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        agent = str(event.option.id)
        self.select(None if agent == self.selected else agent)

    def select(self, agent: str | None) -> None:
        """Filter to ``agent`` (None: everyone) and say so to the screen."""
        before, self.selected = self.selected, agent
        self._redraw({a for a in (before, agent) if a is not None})
        self.query_one("#lanes-title", Static).update(
            f"Agents  (only {agent}'s turns · select again: all)" if agent else "Agents  (select: only its turns)")
        self.post_message(self.Filter(self, agent))
