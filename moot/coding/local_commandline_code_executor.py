"""``autogen.coding.local_commandline_code_executor``: see ``moot.coding._commandline``."""

from ._commandline import LocalCommandLineCodeExecutor
from .base import CommandLineCodeResult

__all__ = ["CommandLineCodeResult", "LocalCommandLineCodeExecutor"]
