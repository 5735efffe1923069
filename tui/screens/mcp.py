"""The MCP view: the chat's MCP servers, their status (not started, running, failed, crashed,
closed) with the reason, and their tools as the model sees them."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from ..settings import declare, key_label

STATUS_STYLE = {"running": "green", "stopped": "dim", "failed": "red", "crashed": "yellow", "closed": "dim"}


def server_rows(mcp: Any) -> list[tuple[str, str, Text, str]]:
    """(server, where it is declared, status, tools) of each server of a team's ``McpTools``."""
    from moot.agents._mcp import model_tool_name

    rows = []
    for name, server in mcp.servers.items():
        status = {"stopped": "not started"}.get(server.status, server.status)
        text = Text(status, style=STATUS_STYLE.get(server.status, ""))
        if server.error:
            text.append(f": {server.error}", style="red")
        tools = ", ".join(model_tool_name(name, t.name) for t in server.tools) or "-"
        rows.append((name, server.config.source, text, tools))
    return rows


class McpScreen(ModalScreen[None]):
    """The servers of one chat's team (``McpTools``); refreshed while open."""

    CSS = """
    McpScreen { align: center middle; }
    #mcp { width: 90%; height: auto; max-height: 90%; border: thick $accent; background: $surface; padding: 1 2; }
    #mcp-table { height: auto; max-height: 30; }
    #mcp-help { color: $text-muted; margin: 1 0 0 0; }
    """

    BINDINGS = declare("mcp servers", [Binding("escape", "close", "Close", id="mcp.close")])

    def __init__(self, mcp: Any) -> None:
        super().__init__()
        self.mcp = mcp

    def compose(self) -> ComposeResult:
        with Vertical(id="mcp"):
            yield Static(Text("MCP servers", style="bold"))
            yield DataTable(id="mcp-table", zebra_stripes=True, cursor_type="row")
            yield Static(f"Servers start with the chat's first run and stop when it closes. {key_label('mcp.close')} closes.",
                         id="mcp-help")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("server", "declared in", "status", "tools")
        self.refresh_rows()
        self.set_interval(1.0, self.refresh_rows)

    def refresh_rows(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        for row in server_rows(self.mcp):
            table.add_row(*row)

    def action_close(self) -> None:
        self.dismiss(None)
