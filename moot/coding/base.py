"""The values and interfaces of ``autogen.coding``: code blocks, results, extractors, executors."""

from __future__ import annotations

from typing import Any, Literal, Mapping, Protocol, TypedDict, Union, runtime_checkable

from pydantic import BaseModel, Field

__all__ = ("CodeBlock", "CodeExecutionConfig", "CodeExecutor", "CodeExtractor", "CodeResult", "CommandLineCodeResult")


class CodeBlock(BaseModel):
    """A block of code to run, and its language as the message tagged it ("python", "bash", ...)."""

    code: str = Field(description="The code to run.")
    language: str = Field(description="The language of the code.")


class CodeResult(BaseModel):
    """How running some code blocks ended: the exit code and what they printed."""

    exit_code: int = Field(description="0 when every block succeeded, else the failing block's exit code.")
    output: str = Field(description="What the code printed.")


class CommandLineCodeResult(CodeResult):
    """A command-line executor's result: also the file the first block was saved as."""

    code_file: str | None = Field(default=None, description="The file the first code block was saved to.")


class CodeExtractor(Protocol):
    """Finds the code blocks in a message."""

    def extract_code_blocks(self, message: str | list[dict[str, Any]] | None) -> list[CodeBlock]: ...


@runtime_checkable
class CodeExecutor(Protocol):
    """Runs code blocks and says how they ended (AutoGen's executor interface).

    moot's own executors (``moot.executors.Executor``) stream output asynchronously; the
    command-line executors of ``moot.coding`` are both: this interface for scripts, and a moot
    executor for agents (``code_execution_config={"executor": ...}``).
    """

    @property
    def code_extractor(self) -> CodeExtractor: ...

    def execute_code_blocks(self, code_blocks: list[CodeBlock]) -> CodeResult: ...

    def restart(self) -> None: ...


CodeExecutionConfig = TypedDict(
    "CodeExecutionConfig",
    {
        "executor": Union[Literal["commandline-local"], CodeExecutor, str],
        "last_n_messages": Union[int, Literal["auto"]],
        "timeout": int,
        "use_docker": Union[bool, str, list[str]],
        "work_dir": str,
        "commandline-local": Mapping[str, Any],
    },
    total=False,
)
