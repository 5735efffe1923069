"""The local (unsandboxed, opt-in) executor: real subprocesses, real process groups, real limits."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from moot.executors import CodeBlock, Limits, LocalExecutor, OutputChunk, format_for_agent, parse_memory


@pytest.fixture
def make_local(tmp_path):
    made: list[LocalExecutor] = []

    def _make(timeout_s: float = 10, memory: str | None = None, output: int = 100_000) -> LocalExecutor:
        executor = LocalExecutor(tmp_path / "work", limits=Limits(timeout_s=timeout_s, memory=parse_memory(memory), output=output))
        made.append(executor)
        return executor

    yield _make
    for executor in made:
        assert not executor._groups, "a run finished but its process group is still tracked"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def _wait_dead(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_runs_python_and_returns_output_and_exit_code(make_local, run_block, tmp_path):
    run = await run_block(make_local(), "python", "import os, sys\nprint('cwd', os.getcwd())\nprint('oops', file=sys.stderr)\nsys.exit(4)\n")
    result = run.result
    assert result.exit_code == 4
    assert f"cwd {tmp_path / 'work'}" in result.output
    assert "oops" in "".join(c.text for c in run.chunks if c.stream == "stderr")
    assert result.language == "python" and not result.timed_out


async def test_output_arrives_while_the_code_runs(make_local, run_block):
    run = await run_block(make_local(), "python", "import time\nprint('first')\ntime.sleep(1.2)\nprint('second')\n")
    first = next(t for c, t in zip(run.chunks, run.arrivals) if "first" in c.text)
    second = next(t for c, t in zip(run.chunks, run.arrivals) if "second" in c.text)
    assert second - first >= 1.0, (first, second)


async def test_timeout_kills_the_whole_process_group(make_local, run_block, tmp_path):
    # The block starts a child and a grandchild that would outlive a plain kill of the parent.
    code = (
        "sleep 300 &\n"
        "echo $! > child.pid\n"
        "sh -c 'sleep 300 & echo $! > grandchild.pid; wait' &\n"
        "echo waiting\n"
        "while true; do :; done\n"
    )
    started = time.monotonic()
    run = await run_block(make_local(timeout_s=1.5), "sh", code)
    result = run.result
    assert result.timed_out and result.exit_code == 137
    assert result.killed_reason == "timeout after 1.5 s"
    assert "waiting" in result.output
    assert time.monotonic() - started < 6
    work = tmp_path / "work"
    for name in ("child.pid", "grandchild.pid"):
        pid = int((work / name).read_text())
        assert await _wait_dead(pid), f"{name} ({pid}) survived the timeout"


async def test_processes_left_running_after_exit_are_killed(make_local, run_block, tmp_path):
    run = await run_block(make_local(), "sh", "sleep 300 > /dev/null 2>&1 &\necho $! > bg.pid\necho done\n")
    assert run.result.exit_code == 0 and run.result.output == "done\n"
    assert await _wait_dead(int((tmp_path / "work" / "bg.pid").read_text()))


async def test_memory_limit_makes_big_allocations_fail(make_local, run_block):
    run = await run_block(make_local(memory="256m"), "python", "data = b'x' * (512 << 20)\nprint('survived')\n")
    result = run.result
    assert result.exit_code == 1
    assert "MemoryError" in result.output and "survived" not in result.output
    assert result.killed_reason == "out of memory (limit 256 MB)"
    # Without the limit the same executor class runs it: the limit is what stopped it.
    small = await run_block(make_local(), "python", "data = b'x' * (64 << 20)\nprint('fine', len(data))\n")
    assert small.result.exit_code == 0 and "fine" in small.result.output


async def test_huge_output_is_truncated_with_a_note(make_local, run_block):
    run = await run_block(make_local(output=5_000), "python", "print('y' * 1_000_000)\nprint('LAST LINE')\n")
    result = run.result
    assert result.exit_code == 0 and result.truncated
    assert len(result.output) < 5_200
    assert "characters of output cut" in result.output
    assert result.output.rstrip().endswith("LAST LINE")
    report = format_for_agent([result], max_chars=2_000)
    assert report.startswith("exitcode: 0 (execution succeeded)\nCode output: ")
    assert len(report) <= 2_000 and "characters cut" in report


async def test_filename_and_sh(make_local, run_block, tmp_path):
    run = await run_block(make_local(), "python", "# filename: tool/main.py\nprint(__file__)\n", filename="tool/main.py")
    assert run.result.output.strip().endswith("tool/main.py")
    assert (tmp_path / "work" / "tool" / "main.py").is_file()
    sh = await run_block(make_local(), "sh", "echo $((2 + 3)); exit 7\n")
    assert (sh.result.exit_code, sh.result.output, sh.result.language) == (7, "5\n", "sh")


async def test_closing_the_iterator_kills_the_code(make_local, tmp_path):
    executor = make_local(timeout_s=60)
    runner = executor.run(CodeBlock("sh", "echo $$ > main.pid\necho started\nsleep 60\n"))
    async for item in runner:
        assert isinstance(item, OutputChunk)
        break
    pid = int((tmp_path / "work" / "main.pid").read_text())
    assert _alive(pid)
    await runner.aclose()
    assert await _wait_dead(pid)


async def test_cancelling_the_task_kills_the_code(make_local, tmp_path):
    executor = make_local(timeout_s=60)
    seen = asyncio.Event()

    async def consume():
        async for item in executor.run(CodeBlock("sh", "echo $$ > main.pid\necho started\nsleep 60\n")):
            seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 10)
    pid = int((tmp_path / "work" / "main.pid").read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _wait_dead(pid)


async def test_unknown_language_is_not_run(make_local, run_block):
    run = await run_block(make_local(), "text", "hello\n")
    assert run.result.exit_code == 1 and "unknown language text" in run.result.output


async def test_a_process_that_leaves_the_group_does_not_hang_the_run(make_local, run_block, tmp_path):
    # setsid puts the child in a new session, out of reach of the group kill, holding stdout open.
    started = time.monotonic()
    run = await run_block(make_local(timeout_s=5), "sh", "setsid sleep 30 &\necho $! > escaped.pid\necho main done\n")
    try:
        assert run.result.exit_code == 0 and "main done" in run.result.output
        assert not run.result.timed_out
        assert time.monotonic() - started < 4  # main exit + at most the 2 s drain, not the 30 s sleep
    finally:
        pid = int((tmp_path / "work" / "escaped.pid").read_text())
        if _alive(pid):
            os.kill(pid, 9)


async def test_everything_is_cleaned_up_when_the_result_arrives(make_local, tmp_path):
    from moot.executors import ExecutionResult

    executor = make_local()
    runner = executor.run(CodeBlock("sh", "sleep 300 >/dev/null 2>&1 &\necho $! > bg.pid\n"))
    async for item in runner:
        if isinstance(item, ExecutionResult):
            break
    assert not executor._groups
    assert await _wait_dead(int((tmp_path / "work" / "bg.pid").read_text()))
    await runner.aclose()


async def test_code_sees_no_keys_only_an_allow_listed_environment(tmp_path, monkeypatch, run_block):
    """Model-written code never sees moot's secrets: the local executor passes PATH, LANG and the
    like, HOME set to the work dir, and only the variables a team lists (pass_env)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-should-never-leak-1234")
    monkeypatch.setenv("MY_MODEL_CREDENTIAL", "named-in-api-key-env-5678")
    monkeypatch.setenv("MY_TOOL_HOME", "/opt/tool")
    code = ("import os, json\nprint(json.dumps({k: os.environ.get(k) for k in "
            "('OPENAI_API_KEY', 'MY_MODEL_CREDENTIAL', 'MY_TOOL_HOME', 'HOME', 'PATH')}))\n")
    plain = LocalExecutor(tmp_path / "work", limits=Limits(timeout_s=10))
    seen = json.loads((await run_block(plain, "python", code)).result.output)
    assert seen["OPENAI_API_KEY"] is None and seen["MY_MODEL_CREDENTIAL"] is None and seen["MY_TOOL_HOME"] is None
    assert seen["HOME"] == str(tmp_path / "work") and seen["PATH"]
    listed = LocalExecutor(tmp_path / "work", limits=Limits(timeout_s=10), pass_env=("MY_TOOL_HOME",))
    seen = json.loads((await run_block(listed, "python", code)).result.output)
    assert seen["MY_TOOL_HOME"] == "/opt/tool" and seen["OPENAI_API_KEY"] is None
    await plain.aclose()
    await listed.aclose()
