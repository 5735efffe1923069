"""Code execution for moot's agents: code blocks from markdown, run in Docker, in a bubblewrap
sandbox, or locally.

    blocks = extract_code_blocks(reply)
    executor = make_executor({"work_dir": "coding", "timeout": 30})   # Docker, else the sandbox
    async for item in executor.run(blocks[0]):
        ...  # OutputChunk while it runs, then one ExecutionResult
    text = format_for_agent(results)                                   # "exitcode: 0 (execution succeeded)..."
"""

from ._base import Executor, Limits, parse_memory
from ._blocks import EXECUTABLE_LANGUAGES, CodeBlock, extract_code_blocks, normalise_language
from ._config import make_executor, planned_executor
from ._docker import DockerExecutor, docker_client
from ._image import default_image_name, ensure_image
from ._local import LocalExecutor
from ._sandbox import SandboxExecutor, sandbox_available, sandbox_problem
from ._results import (
    ExecutionResult,
    ExecutorError,
    ExecutorUnavailable,
    OutputChunk,
    format_for_agent,
    truncate_middle,
)

__all__ = [
    "CodeBlock",
    "DockerExecutor",
    "EXECUTABLE_LANGUAGES",
    "ExecutionResult",
    "Executor",
    "ExecutorError",
    "ExecutorUnavailable",
    "Limits",
    "LocalExecutor",
    "OutputChunk",
    "SandboxExecutor",
    "default_image_name",
    "docker_client",
    "ensure_image",
    "extract_code_blocks",
    "format_for_agent",
    "make_executor",
    "normalise_language",
    "parse_memory",
    "planned_executor",
    "sandbox_available",
    "sandbox_problem",
    "truncate_middle",
]
