"""``autogen.coding`` for ported scripts: code blocks, extractors, and command-line executors
over moot's own (``moot.executors``)."""

from ._commandline import DockerCommandLineCodeExecutor, LocalCommandLineCodeExecutor
from .base import CodeBlock, CodeExecutor, CodeExtractor, CodeResult, CommandLineCodeResult
from .factory import CodeExecutorFactory
from .markdown_code_extractor import MarkdownCodeExtractor

__all__ = (
    "CodeBlock",
    "CodeExecutor",
    "CodeExecutorFactory",
    "CodeExtractor",
    "CodeResult",
    "CommandLineCodeResult",
    "DockerCommandLineCodeExecutor",
    "LocalCommandLineCodeExecutor",
    "MarkdownCodeExtractor",
)
