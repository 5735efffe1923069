"""``autogen.coding.docker_commandline_code_executor``: see ``moot.coding._commandline``."""

from ._commandline import DockerCommandLineCodeExecutor
from .base import CommandLineCodeResult

__all__ = ["CommandLineCodeResult", "DockerCommandLineCodeExecutor"]
