"""The engine side of code execution: find code blocks, ask for approval, run them, stream output.

An agent with a ``code_execution_config`` looks at the last ``last_n_messages`` messages (AutoGen's
"auto": every message since it last spoke), takes the most recent one holding runnable code
blocks, and runs them through the ``executors`` package. Output chunks become ``ExecutorOutput``
events while the code runs. If Docker is asked for and no daemon answers, the chat stops with a
reason saying so; it never falls back to running locally.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, Union

from moot.redact import Redactor, secret_values

from ._context import ChatStop, current_run
from ._models import current_registry
from ._messages import content_str
from .events import CodeBlockFound, ExecutionFinished, ExecutorOutput, NoticeEvent, new_id

if TYPE_CHECKING:
    from moot.executors import CodeBlock

    from ._agent import ConversableAgent

#: An approval callback: given the block, answer "run", "skip", or the edited code (a string or
#: a CodeBlock) to run instead. The TUI shows a run / edit / skip modal.
ApprovalAnswer = Union[Literal["run", "skip"], str, "CodeBlock", tuple[str, str], None]  # ("skip", reason)
CodeApproval = Callable[["CodeBlock"], Awaitable[ApprovalAnswer]]

SKIPPED_NOTE = "The user chose not to run this code block, so it did not run and there is no output."


def _messages_to_scan(messages: list[dict[str, Any]], last_n: Any) -> int:
    if last_n == "auto":
        count = 0
        for message in reversed(messages):
            if message.get("role") not in ("user", "tool", "function", None):
                break  # reached this agent's own last message
            count += 1
        return count
    if isinstance(last_n, bool) or not isinstance(last_n, int) or last_n < 0:
        raise ValueError(f"code_execution_config: last_n_messages must be a number or 'auto', not {last_n!r}")
    return last_n


def known_secrets() -> list[tuple[str, str]]:
    """Every secret moot knows of: the models' ``api_key_env`` variables and key-like ones."""
    try:
        names = [m.api_key_env for m in current_registry().config.models.values() if m.api_key_env]
    except Exception:  # no models.toml at all: the key-like variables still count
        names = []
    return secret_values(names)


def executor_of(agent: ConversableAgent) -> Any:
    """The agent's executor, created on first use (so a chat that never runs code needs none)."""
    if agent.executor is None:
        from moot.executors import ExecutorUnavailable, make_executor

        config = dict(agent._code_execution_config or {})
        try:
            agent.executor = make_executor(config)
        except ExecutorUnavailable as exc:
            run = current_run()
            if run is not None:
                run.emit(NoticeEvent(run.chat_id, agent=agent.name, text=str(exc), kind="executor_unavailable"))
            raise ChatStop(f"{agent.name} cannot run code: {exc}", "executor_unavailable") from exc
        run = current_run()
        for line in getattr(agent.executor, "notices", ()):  # e.g. orphaned containers removed
            if run is not None:
                run.emit(NoticeEvent(run.chat_id, agent=agent.name, text=line, kind="executor"))
    return agent.executor


def ready_executors(agents: Any) -> None:
    """Make the executor of every agent here that runs code, before the chat's first model call:
    a team that cannot run code (no Docker, no sandbox) stops at once, saying how to fix it."""
    for agent in agents:
        if getattr(agent, "_code_execution_config", None):
            executor_of(agent)


async def _approve(agent: ConversableAgent, block: CodeBlock, reasons: list[str]) -> tuple[CodeBlock | None, str]:
    """The block to run (None: skipped; a reason given with ("skip", reason) goes to ``reasons``)."""
    from moot.executors import CodeBlock

    if agent.code_approval is None:
        return block, "run"
    run = current_run()
    clocks = [c for c in (run.stops if run is not None else ()) if callable(getattr(c, "pause", None))]
    for clock in clocks:  # time spent deciding is not the team's time (timeout_s)
        clock.pause()
    try:
        answer = await agent.code_approval(block)
    finally:
        for clock in clocks:
            clock.resume()
    if isinstance(answer, tuple) and len(answer) == 2 and answer[0] == "skip":
        if str(answer[1]).strip():
            reasons.append(str(answer[1]).strip())
        return None, "skipped"
    if answer is None or answer == "skip":
        return None, "skipped"
    if answer == "run":
        return block, "run"
    if isinstance(answer, CodeBlock):
        return answer, "edited"
    if isinstance(answer, str):
        return CodeBlock(block.language, answer, block.filename), "edited"
    raise TypeError(f"code approval must answer 'run', 'skip' or the edited code, not {answer!r}")


async def run_blocks(agent: ConversableAgent, blocks: list[CodeBlock], *, legacy: bool = False) -> str:
    """Run blocks one after another (stopping at the first failure, like AutoGen) and return the
    report for the model. ``legacy``: AutoGen's report for a ``code_execution_config`` without
    an ``"executor"``, where each block's output starts on a line of its own
    ("Code output: \\nhello\\n"); with an executor it follows "Code output: " directly."""
    from moot.executors import ExecutionResult, format_for_agent

    run = current_run()
    executor = executor_of(agent)
    secrets = known_secrets()
    results: list[ExecutionResult] = []
    skipped = 0
    reasons: list[str] = []
    for block in blocks:
        execution_id = new_id("x")
        chosen, action = await _approve(agent, block, reasons)
        shown = chosen or block
        if run is not None:
            run.emit(CodeBlockFound(run.chat_id, agent=agent.name, execution_id=execution_id, language=shown.language,
                                    code=shown.code, filename=shown.filename, action=action))
        if chosen is None:
            skipped += 1
            continue
        result: ExecutionResult | None = None
        started = time.monotonic()
        stream = executor.run(chosen)
        # Output is redacted as it streams (a key printed in two writes is caught whole), before
        # it reaches the screen, the store, or the model that reads the report.
        redactors = {"stdout": Redactor(secrets), "stderr": Redactor(secrets)}
        try:
            async for item in _unless_unavailable(agent, stream):
                if isinstance(item, ExecutionResult):
                    result = item
                elif run is not None:
                    text = redactors.setdefault(item.stream, Redactor(secrets)).feed(item.text)
                    if text:
                        run.emit(ExecutorOutput(run.chat_id, agent=agent.name, execution_id=execution_id,
                                                text=text, stream=item.stream))
                    if run.stops:
                        fired = run.stop_requested()
                        if fired is not None:
                            reason, condition = fired.interrupt()
                            raise ChatStop(reason, condition)
        finally:
            await stream.aclose()  # kills the code when we leave early
        if run is not None:
            for name, redactor in redactors.items():
                rest = redactor.flush()
                if rest:
                    run.emit(ExecutorOutput(run.chat_id, agent=agent.name, execution_id=execution_id,
                                            text=rest, stream=name))
        if result is None:
            result = ExecutionResult(exit_code=1, output="the executor ended without a result\n",
                                     duration_s=time.monotonic() - started, language=chosen.language)
        elif secrets:
            result = dataclasses.replace(result, output=Redactor(secrets).redact(result.output))
        results.append(result)
        if run is not None:
            run.emit(ExecutionFinished(run.chat_id, agent=agent.name, execution_id=execution_id,
                                       exit_code=result.exit_code, output=result.output, duration_s=result.duration_s,
                                       timed_out=result.timed_out, truncated=result.truncated,
                                       language=result.language, killed_reason=result.killed_reason))
        if not result.succeeded:
            break
    why = "".join(f"\nThe user's reason: {r}" for r in reasons)
    if not results:  # not "exitcode: 0": nothing ran, so nothing succeeded
        return f"exitcode: none (execution skipped: the code was NOT run)\nCode output: {SKIPPED_NOTE}{why}"
    report = format_for_agent(results)
    if legacy:
        header, sep, output = report.partition("Code output: ")
        report = header + sep + "\n" + output
    if skipped:
        report += f"\n({skipped} code block(s) were not run: the user skipped them.){why}"
    return report


async def _unless_unavailable(agent: ConversableAgent, stream: Any) -> Any:
    """The executor's stream; an executor that turns out unusable once asked to run (the image
    missing, a work dir it may not use, the daemon gone) stops the chat with its reason, as when
    it cannot be made at all (the outcome is failed, and the session resumable once it is fixed)."""
    from moot.executors import ExecutorUnavailable

    try:
        async for item in stream:
            yield item
    except ExecutorUnavailable as exc:
        run = current_run()
        if run is not None:
            run.emit(NoticeEvent(run.chat_id, agent=agent.name, text=str(exc), kind="executor_unavailable"))
        raise ChatStop(f"{agent.name} cannot run code: {exc}", "executor_unavailable") from exc


async def a_generate_code_execution_reply(agent: ConversableAgent, messages: list[dict[str, Any]] | None,
                                          sender: Any, config: Any) -> tuple[bool, Any]:
    """The code-execution step of the reply pipeline."""
    settings = agent._code_execution_config
    if settings is False or settings is None:
        return False, None
    if messages is None:
        messages = agent._oai_messages[sender]
    scan = _messages_to_scan(messages, settings.get("last_n_messages", "auto"))
    if not scan:
        return False, None
    given = settings.get("executor")
    extractor = getattr(given, "code_extractor", None)
    for message in reversed(messages[-scan:]):
        content = message.get("content")
        if not content:
            continue
        # Only python and sh blocks run; a json or text block is something to read (AutoGen 0.2
        # tries to run it and reports "unknown language").
        blocks = [b for b in _blocks_of(content, extractor) if b.executable]
        if not blocks:
            continue
        return True, await run_blocks(agent, blocks, legacy="executor" not in settings)
    return False, None


def _blocks_of(content: Any, extractor: Any) -> list[CodeBlock]:
    """The code blocks of a message. An AutoGen executor object (``code_execution_config=
    {"executor": ...}``) finds them with its own ``code_extractor``, as AutoGen does (its
    markdown pattern also finds an indented fence); each is then read as moot reads a block
    (language, "# filename:"), its common indentation removed so indented code still runs."""
    from moot.executors import extract_code_blocks

    if extractor is None:
        return extract_code_blocks(content_str(content))
    found: list[CodeBlock] = []
    for block in extractor.extract_code_blocks(content):
        code = textwrap.dedent(block.code)
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", code)), default=0))
        found += extract_code_blocks(f"{fence}{block.language}\n{code}\n{fence}")
    return found
