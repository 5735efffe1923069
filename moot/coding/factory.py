"""``CodeExecutorFactory``: an executor from a ``code_execution_config``."""

from __future__ import annotations

from .base import CodeExecutionConfig, CodeExecutor
from ._commandline import LocalCommandLineCodeExecutor

__all__ = ("CodeExecutorFactory",)


class CodeExecutorFactory:
    """Makes the executor a ``code_execution_config`` names."""

    @staticmethod
    def create(code_execution_config: CodeExecutionConfig) -> CodeExecutor:
        """The ``executor`` of the config: an executor object as it is, or ``"commandline-local"``
        (a ``LocalCommandLineCodeExecutor`` with the config's ``"commandline-local"`` settings).
        Anything else is a ``ValueError``."""
        executor = code_execution_config.get("executor")
        if isinstance(executor, CodeExecutor):
            return executor
        if executor == "commandline-local":
            return LocalCommandLineCodeExecutor(**code_execution_config.get("commandline-local", {}))
        raise ValueError(f"Unknown code executor {str(executor)[:60]!r}: give an executor object or "
                         f"'commandline-local' ('ipython-embedded' is not available in moot)")
