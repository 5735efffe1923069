"""The chat screen's widgets: conversation turns, executions, the status bar."""

from .conversation import ConversationPane, TurnBlock
from .executor_pane import ExecutionEntry, ExecutorPane
from .status import StatusBar

__all__ = ["ConversationPane", "ExecutionEntry", "ExecutorPane", "StatusBar", "TurnBlock"]
