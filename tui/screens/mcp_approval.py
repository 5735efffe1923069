"""MCP tool-call approval: the tool, its server and the arguments as JSON, with run / edit the
arguments then run / skip (the code-approval modal's behaviour: nothing is approved by accident)."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Static, TextArea

from ..settings import key_label
from .approval import ApprovalScreen


class McpApprovalScreen(ApprovalScreen):
    """Dismisses with "run", "skip", or the edited arguments (a dict) to call the tool with."""

    CSS_PATH = "approval.tcss"

    def __init__(self, agent: str, server: str, tool: str, arguments: dict[str, Any]) -> None:
        super().__init__(agent, "json", json.dumps(arguments, indent=2, ensure_ascii=False))
        self.server = server
        self.tool = tool

    def compose(self) -> ComposeResult:
        with Vertical(id="approval"):
            yield Static(Text.assemble(("Call this tool?", "bold"), f"  {self.agent} wants to call ",
                                       (self.tool, "bold"), " on the MCP server ", (self.server, "bold"),
                                       " with these arguments."), id="approval-title")
            yield TextArea.code_editor(self.code, language="json", id="approval-code", read_only=True, soft_wrap=True)
            yield Static(f"Call it as shown (Run, or {key_label('approval.run')}), edit the arguments first "
                         f"({key_label('approval.edit')}), or skip it ({key_label('approval.skip')}).",
                         id="approval-help")
            with Horizontal(id="approval-buttons"):
                yield Button("Run", id="run", variant="success")
                yield Button("Edit then run", id="edit", variant="primary")
                yield Button("Skip", id="skip", variant="error")

    def action_run_editor(self) -> None:
        if not self.armed:
            return
        text = self.editor.text
        if text == self.code:
            self.dismiss("run")
            return
        try:
            arguments = json.loads(text)
        except json.JSONDecodeError as exc:
            arguments, problem = None, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        else:
            problem = None if isinstance(arguments, dict) else "the arguments must be a JSON object"
        if problem is not None:
            self.query_one("#approval-help", Static).update(Text(f"The arguments are {problem}; fix them, or skip ({key_label('approval.skip')}).",
                                                                 style="red"))
            return
        self.dismiss(arguments)
