"""The Docker executor against a real private dockerd: it runs code, and it contains it."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from moot.executors import CodeBlock, DockerExecutor, ExecutionResult, Limits, OutputChunk, ensure_image, format_for_agent, parse_memory


@pytest.fixture
def make_docker(private_docker, docker_containers, tmp_path):
    """`make_docker(timeout_s=..., memory="64m", pids=..., output=...)` -> a DockerExecutor on the private daemon."""
    made: list[DockerExecutor] = []

    def _make(timeout_s: float = 10, memory: str | None = "128m", pids: int | None = 64, output: int = 100_000) -> DockerExecutor:
        executor = DockerExecutor(
            tmp_path / "work",
            client=private_docker.client,
            image=private_docker.image,
            limits=Limits(timeout_s=timeout_s, memory=parse_memory(memory), pids=pids, output=output),
        )
        made.append(executor)
        return executor

    yield _make
    for executor in made:
        assert not executor._active, "a run finished but its container is still tracked"


async def test_runs_python_and_returns_output_and_exit_code(make_docker, run_block):
    run = await run_block(make_docker(), "python", "import sys\nprint('hello from', sys.version_info[:2])\nsys.exit(3)\n")
    result = run.result
    assert result.exit_code == 3
    assert "hello from (3, 11)" in result.output
    assert result.language == "python"
    assert not result.timed_out and result.killed_reason is None
    assert 0 < result.duration_s < 10
    assert run.streamed == result.output


async def test_success_and_stderr_stream(make_docker, run_block):
    run = await run_block(make_docker(), "python", "import sys\nprint('out')\nprint('err', file=sys.stderr)\n")
    assert run.result.exit_code == 0
    streams = {c.stream for c in run.chunks if c.text.strip()}
    assert streams == {"stdout", "stderr"}
    assert "".join(c.text for c in run.chunks if c.stream == "stderr").strip() == "err"


async def test_output_arrives_while_the_code_runs(make_docker, run_block):
    run = await run_block(make_docker(), "python", "import time\nprint('first')\ntime.sleep(1.5)\nprint('second')\n")
    assert run.result.exit_code == 0
    first = next(t for c, t in zip(run.chunks, run.arrivals) if "first" in c.text)
    second = next(t for c, t in zip(run.chunks, run.arrivals) if "second" in c.text)
    # `first` came through before the sleep ended, not all at once at exit.
    assert second - first >= 1.2, (first, second)
    assert run.finished_at - first >= 1.2


async def test_infinite_loop_is_killed_at_the_timeout(make_docker, run_block):
    started = time.monotonic()
    run = await run_block(make_docker(timeout_s=2), "python", "print('spinning', flush=True)\nwhile True:\n    pass\n")
    elapsed = time.monotonic() - started
    result = run.result
    assert result.timed_out
    assert result.exit_code == 137
    assert result.killed_reason == "timeout after 2 s"
    assert "spinning" in result.output  # output printed before the kill is kept (python -u)
    assert 2 <= elapsed < 8
    assert "exitcode: 137 (execution failed)" in format_for_agent([result])
    assert "[killed: timeout after 2 s]" in format_for_agent([result])


async def test_allocation_over_the_memory_limit_is_reported_as_out_of_memory(make_docker, run_block):
    run = await run_block(make_docker(memory="64m"), "python", "print('allocating', flush=True)\ndata = b'x' * (512 << 20)\nprint('survived', len(data))\n")
    result = run.result
    assert result.exit_code == 137
    assert not result.timed_out
    assert result.killed_reason == "out of memory (limit 64 MB)"
    assert "survived" not in result.output
    assert "allocating" in result.output


async def test_network_is_unreachable(make_docker, run_block):
    code = (
        "import socket\n"
        "for host, port in [('1.1.1.1', 53), ('8.8.8.8', 443), ('10.0.0.1', 80)]:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3).close()\n"
        "        print('CONNECTED', host)\n"
        "    except OSError as e:\n"
        "        print('refused', host, e)\n"
        "try:\n"
        "    socket.getaddrinfo('pypi.org', 443)\n"
        "    print('RESOLVED')\n"
        "except OSError as e:\n"
        "    print('no dns', e)\n"
        "print(sorted(n for _, n in socket.if_nameindex()))\n"
    )
    run = await run_block(make_docker(), "python", code)
    output = run.result.output
    assert run.result.exit_code == 0, output
    assert "CONNECTED" not in output and "RESOLVED" not in output
    assert output.count("refused") == 3
    assert "['lo']" in output  # the only interface is loopback


async def test_only_the_work_dir_and_tmp_are_writable(make_docker, run_block, tmp_path):
    code = (
        "import os\n"
        "for path in ['/etc/evil', '/evil', '/usr/lib/evil', '/bin/evil', '/workspace/../evil2']:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print('WROTE', path)\n"
        "    except OSError as e:\n"
        "        print('denied', path, e.strerror)\n"
        "open('/workspace/inside.txt', 'w').write('kept')\n"
        "open('/tmp/scratch', 'w').write('tmp ok')\n"
        "print(open('/tmp/scratch').read())\n"
    )
    run = await run_block(make_docker(), "python", code)
    output = run.result.output
    assert run.result.exit_code == 0, output
    assert "WROTE" not in output
    assert output.count("denied") == 5
    assert "Read-only file system" in output
    assert "tmp ok" in output
    assert (tmp_path / "work" / "inside.txt").read_text() == "kept"
    assert not (tmp_path / "evil2").exists()


async def test_runs_as_nobody_without_capabilities(make_docker, run_block):
    code = (
        "import os\n"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
        "print('uid', os.getuid(), 'gid', os.getgid())\n"
        "print('caps', status['CapEff'].strip(), 'nnp', status['NoNewPrivs'].strip())\n"
    )
    run = await run_block(make_docker(), "python", code)
    assert run.result.exit_code == 0, run.result.output
    assert "uid 65534 gid 65534" in run.result.output
    assert "caps 0000000000000000 nnp 1" in run.result.output


def _host_processes() -> int:
    return sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())


async def test_fork_bomb_is_stopped_at_the_pids_limit(make_docker, run_block):
    # A counting bomb: children sleep, the parent forks until the kernel says no.
    counted = await run_block(
        make_docker(pids=32),
        "python",
        "import os, time\n"
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "except OSError as e:\n"
        "    print('fork refused after', n, 'children:', e.strerror)\n",
    )
    output = counted.result.output
    assert "fork refused after" in output, output
    assert int(output.split("after")[1].split()[0]) < 32
    assert counted.result.exit_code == 0  # PID 1 exited; its sleeping children went with the container

    # A real bomb (every child forks too), watched from the host while it runs.
    baseline = _host_processes()
    peak = baseline
    executor = make_docker(pids=32, timeout_s=3)

    async def watch():
        nonlocal peak
        while True:
            peak = max(peak, _host_processes())
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        bomb = await run_block(executor, "sh", "bomb() { bomb | bomb & }; bomb; sleep 10\n")
    finally:
        watcher.cancel()
    # It fails (at the timeout, or sooner when its own `sleep` cannot fork), and the runner kills
    # every process left in the container when it ends.
    assert not bomb.result.succeeded
    assert peak - baseline < 32 + 100, f"{peak - baseline} new processes on the host during the bomb"
    # This process is unharmed: it can still start processes, and the bomb is gone.
    assert subprocess.run(["true"]).returncode == 0
    await asyncio.sleep(0.2)
    assert _host_processes() < baseline + 50  # (other work on the machine adds noise)


async def test_filename_comment_names_the_file(make_docker, run_block, tmp_path):
    code = "# filename: pkg/hello.py\nimport os\nprint(os.path.relpath(__file__, '/workspace'))\n"
    run = await run_block(make_docker(), "python", code, filename="pkg/hello.py")
    assert run.result.exit_code == 0, run.result.output
    assert run.result.output.strip() == "pkg/hello.py"
    assert (tmp_path / "work" / "pkg" / "hello.py").read_text() == code


async def test_filename_outside_the_work_dir_is_refused(make_docker, run_block, tmp_path):
    run = await run_block(make_docker(), "python", "print('no')\n", filename="../escape.py")
    assert run.result.exit_code == 1
    assert "inside the work dir" in run.result.output
    assert not (tmp_path / "escape.py").exists()


async def test_sh_blocks_run_with_sh(make_docker, run_block, tmp_path):
    code = "echo \"shell $((6 * 7))\"\nmkdir -p out && echo made > out/f.txt && cat out/f.txt\nls /nonexistent\n"
    run = await run_block(make_docker(), "sh", code)
    result = run.result
    assert result.language == "sh"
    assert result.exit_code != 0  # the last command failed
    assert "shell 42" in result.output and "made" in result.output
    assert (tmp_path / "work" / "out" / "f.txt").read_text() == "made\n"


async def test_unknown_language_is_not_run(make_docker, run_block, docker_containers):
    run = await run_block(make_docker(), "javascript", "console.log(1)\n")
    assert run.result.exit_code == 1
    assert "unknown language javascript" in run.result.output


async def test_huge_output_is_truncated_with_a_note(make_docker, run_block):
    code = "import sys\nsys.stdout.write('x' * 300_000 + '\\n')\nprint('THE END')\n"
    run = await run_block(make_docker(output=10_000), "python", code)
    result = run.result
    assert result.exit_code == 0
    assert result.truncated
    assert len(result.output) < 10_200
    assert "characters of output cut" in result.output
    assert result.output.rstrip().endswith("THE END")  # the end of the output is kept
    cut = int(result.output.split("[... ")[1].split(" characters")[0].replace(",", ""))
    assert cut == 300_001 + len("THE END\n") - 10_000  # everything but the 10,000 kept characters
    assert len(run.streamed) < 10_400  # the live view was capped too


async def test_closing_the_iterator_kills_and_removes_the_container(make_docker, docker_containers):
    executor = make_docker(timeout_s=60)
    started = time.monotonic()
    runner = executor.run(CodeBlock("python", "import time\nprint('started', flush=True)\ntime.sleep(60)\n"))
    async for item in runner:
        assert isinstance(item, OutputChunk) and "started" in item.text
        break
    assert len(docker_containers.containers.list(all=True)) == 1  # it is running now
    await runner.aclose()
    assert docker_containers.containers.list(all=True) == []
    assert time.monotonic() - started < 15


async def test_cancelling_the_task_kills_and_removes_the_container(make_docker, docker_containers):
    executor = make_docker(timeout_s=60)
    seen = asyncio.Event()

    async def consume():
        async for item in executor.run(CodeBlock("sh", "echo started; sleep 60\n")):
            if isinstance(item, OutputChunk):
                seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), 15)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert docker_containers.containers.list(all=True) == []


async def test_two_runs_at_once(make_docker):
    executor = make_docker()

    async def one(n: int) -> ExecutionResult:
        async for item in executor.run(CodeBlock("python", f"import time\ntime.sleep(0.5)\nprint({n} * 2)\n")):
            if isinstance(item, ExecutionResult):
                return item
        raise AssertionError("no result")

    first, second = await asyncio.gather(one(1), one(21))
    assert (first.output, second.output) == ("2\n", "42\n")


def test_ensure_image_is_idempotent_and_fast(private_docker):
    before = private_docker.client.images.get(private_docker.image).id
    started = time.monotonic()
    assert ensure_image(private_docker.client, private_docker.image) == private_docker.image
    assert time.monotonic() - started < 1.0
    assert private_docker.client.images.get(private_docker.image).id == before


async def test_container_is_gone_when_the_result_arrives(make_docker, docker_containers):
    # A caller that stops reading at the ExecutionResult never resumes the iterator again.
    executor = make_docker()
    runner = executor.run(CodeBlock("python", "print('done')\n"))
    async for item in runner:
        if isinstance(item, ExecutionResult):
            break
    assert docker_containers.containers.list(all=True) == []
    assert not executor._active
    await runner.aclose()
