"""The chat screen's widgets: conversation turns, executions, the status bar."""

from .chat_input import ChatInput
from .conversation import ConversationPane, TurnBlock
from .executor_pane import ExecutionEntry, ExecutorPane
from .status import StatusBar

__all__ = ["ChatInput", "ConversationPane", "ExecutionEntry", "ExecutorPane", "StatusBar", "TurnBlock"]
