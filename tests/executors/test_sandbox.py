"""The bubblewrap sandbox on real bwrap, the default executor order, and (for sandbox and local)
that nothing a block starts outlives it.

CI runs as root with bubblewrap installed (the Makefile's apt list), so a missing or broken bwrap
FAILS these tests instead of skipping them: a skip would hide a sandbox that does not work.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from moot.executors import (
    CodeBlock,
    ExecutionResult,
    ExecutorUnavailable,
    Limits,
    LocalExecutor,
    SandboxExecutor,
    make_executor,
    parse_memory,
    planned_executor,
    sandbox_available,
    sandbox_problem,
)



@pytest.fixture(autouse=True)
def _bwrap_works():
    problem = sandbox_problem()
    if problem is not None:
        pytest.fail(f"the sandbox tests need a working bubblewrap (CI installs it): {problem}")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A user's home holding secrets and moot's data dir; the work dir lies inside it (as
    ./coding in a project under ~ does)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE KEY\n")
    data = home / ".local" / "share" / "moot"
    data.mkdir(parents=True)
    (data / "sessions.db").write_text("every session\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MOOT_HOME", str(data))
    return home


def sandbox(work: Path, timeout_s: float = 20, memory: str | None = None) -> SandboxExecutor:
    return SandboxExecutor(work, limits=Limits(timeout_s=timeout_s, memory=parse_memory(memory)))


@pytest.fixture
def run(run_block):
    """`await run(executor, code)`: one Python block (dedented) to the end; the executor is closed after."""

    async def _run(executor, code: str):
        try:
            return await run_block(executor, "python", textwrap.dedent(code))
        finally:
            await executor.aclose()

    return _run


async def test_code_writes_only_its_work_dir(home, tmp_path, run):
    work = home / "project" / "coding"
    outside = tmp_path / "host-tmp-file"  # under the host's /tmp
    code = f"""
        import os
        for path in ("/moot-probe", "/usr/moot-probe", "/etc/moot-probe", {str(home / "planted")!r}, {str(outside)!r}):
            try:
                open(path, "w").write("x")
                print("wrote", path)
            except OSError as exc:
                print("refused", path, exc.strerror)
        open("result.txt", "w").write("inside")
        """
    result = (await run(sandbox(work), code)).result
    assert result.exit_code == 0, result.output
    assert (work / "result.txt").read_text() == "inside"
    for path in ("/moot-probe", "/usr/moot-probe", "/etc/moot-probe"):
        assert f"refused {path} Read-only file system" in result.output and not os.path.exists(path)
    # Under the host's /tmp, these land in the sandbox's own /tmp, gone with it.
    assert not (home / "planted").exists()
    assert not outside.exists()  # the sandbox's /tmp is its own


async def test_code_sees_no_home_no_data_dir_no_keys(home, monkeypatch, run):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-never-leak-1234")
    monkeypatch.setenv("MY_MODEL_CREDENTIAL", "named-in-api-key-env-5678")
    work = home / "project" / "coding"
    code = f"""
        import os, json
        home = {str(home)!r}
        seen = {{"listing": sorted(os.listdir(home)), "environ": dict(os.environ),
                "pid1": open("/proc/1/environ").read(), "processes": sorted(p for p in os.listdir("/proc") if p.isdigit())}}
        for path in (home + "/.ssh/id_ed25519", {os.environ["MOOT_HOME"]!r} + "/sessions.db", "/etc/shadow"):
            try:
                seen[path] = open(path).read()
            except OSError as exc:
                seen[path] = exc.strerror
        print(json.dumps(seen))
        """
    result = (await run(sandbox(work), code)).result
    assert result.exit_code == 0, result.output
    import json

    seen = json.loads(result.output)
    assert seen["listing"] == ["project"]  # only the way to the work dir
    assert seen[str(home / ".ssh" / "id_ed25519")] == "No such file or directory"
    assert seen[os.environ["MOOT_HOME"] + "/sessions.db"] == "No such file or directory"
    assert "root:" not in seen["/etc/shadow"]
    for text in (json.dumps(seen["environ"]), seen["pid1"]):
        assert "sk-should-never-leak" not in text and "named-in-api-key-env" not in text
        assert "MOOT_HOME" not in text
    assert seen["environ"]["HOME"] == str(work)
    assert len(seen["processes"]) <= 3  # bwrap's pid 1, the code (and the listing's own): no host process


async def test_no_network_not_even_loopback(tmp_path, run):
    """A fault stand-in: a TCP server and an abstract unix socket on this machine's loopback that
    accept anyone who connects; the sandboxed code must reach neither."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = f"\0moot-test-{uuid.uuid4().hex}"
    abstract.bind(name)
    abstract.listen()
    accepted = []

    def serve(listener):
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return  # closed at the end of the test

    for listener in (server, abstract):
        threading.Thread(target=serve, args=(listener,), daemon=True).start()
    code = f"""
        import socket
        for family, address in ((socket.AF_INET, ("127.0.0.1", {port})), (socket.AF_UNIX, {name!r})):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(3)
            try:
                s.connect(address)
                print("connected", family.name)
            except OSError as exc:
                print("refused", family.name, type(exc).__name__)
        """
    try:
        # Control: the same code on the local executor reaches both.
        local = (await run(LocalExecutor(tmp_path / "local", limits=Limits(timeout_s=20)), code)).result
        assert local.output.count("connected") == 2, local.output
        reached = len(accepted)
        result = (await run(sandbox(tmp_path / "work"), code)).result
        assert result.output.count("refused") == 2 and "connected" not in result.output, result.output
        assert len(accepted) == reached
    finally:
        server.close()
        abstract.close()
        for conn in accepted:
            conn.close()


def _token_processes(token: str) -> list[int]:
    """Host pids whose command line holds `token`."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    if token.encode() in f.read():
                        found.append(int(entry.name))
            except OSError:
                pass
    return found


def _double_fork(token: str, then: str = "") -> str:
    """A block that leaves a `sleep`-like process behind: setsid, double fork, stdout kept open."""
    return f"""
        import os, sys, time
        child = os.fork()
        if child == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)", {token!r}])
            os._exit(0)
        os.waitpid(child, 0)
        while not any({token!r}.encode() in open(f"/proc/{{p}}/cmdline", "rb").read()
                      for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{{p}}/cmdline")):
            time.sleep(0.01)
        print("left one behind", flush=True)
        {then}
        """


def _executors(tmp_path: Path):
    return {"sandbox": sandbox(tmp_path / "work", timeout_s=5),
            "local": LocalExecutor(tmp_path / "work", limits=Limits(timeout_s=5))}


@pytest.mark.parametrize("kind", ["sandbox", "local"])
@pytest.mark.parametrize("ending", ["exit", "timeout"])
async def test_nothing_a_block_starts_outlives_it(kind, ending, tmp_path, run):
    token = f"moot-orphan-{uuid.uuid4().hex}"
    then = "time.sleep(60)" if ending == "timeout" else ""
    executor = _executors(tmp_path)[kind]
    try:
        result = (await run(executor, _double_fork(token, then))).result
        assert "left one behind" in result.output
        assert result.timed_out == (ending == "timeout")
        assert _token_processes(token) == []
    finally:
        for pid in _token_processes(token):
            os.kill(pid, signal.SIGKILL)


DRIVER = """
import asyncio, sys, time
from moot.executors import CodeBlock, Limits, LocalExecutor, OutputChunk, SandboxExecutor

async def main():
    kind, work, code = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
    cls = SandboxExecutor if kind == "sandbox" else LocalExecutor
    executor = cls(work, limits=Limits(timeout_s=120))
    async for item in executor.run(CodeBlock("python", code)):
        if isinstance(item, OutputChunk) and "left one behind" in item.text:
            print("running", flush=True)
            sys.stdin.readline()  # the test has seen what the block left
            if sys.argv[4] == "exit":
                sys.exit(0)  # moot exits while the block still runs
            time.sleep(300)  # waits here for its SIGKILL

asyncio.run(main())
"""


@pytest.mark.parametrize("kind,how", [("sandbox", "exit"), ("sandbox", "sigkill"), ("local", "exit")])
def test_nothing_outlives_moot(kind, how, tmp_path):
    """moot exiting (or killed: the sandbox dies with its parent) takes the block's processes with it."""
    token = f"moot-orphan-{uuid.uuid4().hex}"
    (tmp_path / "driver.py").write_text(DRIVER)
    (tmp_path / "block.py").write_text(textwrap.dedent(_double_fork(token, "time.sleep(300)")))
    process = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), kind, str(tmp_path / "work"),
                                str(tmp_path / "block.py"), how], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout.readline() == "running\n"
        assert _token_processes(token)
        process.stdin.write("go\n")
        process.stdin.flush()
        if how == "sigkill":
            process.kill()
        process.wait(timeout=30)
        deadline = time.monotonic() + 10  # the kernel takes the namespace down after the parent
        while _token_processes(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _token_processes(token) == []
    finally:
        process.kill()
        process.wait()
        for pid in _token_processes(token):
            os.kill(pid, signal.SIGKILL)


def test_what_a_killed_moot_left_is_killed_by_the_next_local_executor(tmp_path):
    """SIGKILL gives moot no chance to clean up after local code: the next local executor made
    (the next moot start's) kills what that code left, and says so."""
    token = f"moot-orphan-{uuid.uuid4().hex}"
    (tmp_path / "driver.py").write_text(DRIVER)
    (tmp_path / "block.py").write_text(textwrap.dedent(_double_fork(token, "time.sleep(300)")))
    process = subprocess.Popen([sys.executable, str(tmp_path / "driver.py"), "local", str(tmp_path / "work"),
                                str(tmp_path / "block.py"), "sigkill"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "running\n"
        process.kill()
        process.wait(timeout=30)
        assert _token_processes(token), "the orphan should still be there for this test"
        executor = LocalExecutor(tmp_path / "work")
        assert len(executor.notices) == 1 and f"earlier moot (pid {process.pid})" in executor.notices[0]
        deadline = time.monotonic() + 10
        while _token_processes(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _token_processes(token) == []
    finally:
        for pid in _token_processes(token):
            os.kill(pid, signal.SIGKILL)


async def test_timeout_kills_the_sandbox(tmp_path, run):
    result = (await run(sandbox(tmp_path / "work", timeout_s=1), "while True:\n    pass\n")).result
    assert result.timed_out and result.killed_reason == "timeout after 1 s"
    assert result.exit_code == 137


async def test_output_streams_while_the_code_runs(tmp_path):
    """The second line is printed only once the test has seen the first: it must have streamed."""
    work = tmp_path / "work"
    code = """
        import os, time
        print("first", flush=True)
        while not os.path.exists("go"):
            time.sleep(0.01)
        print("second")
        """
    executor = sandbox(work, timeout_s=20)
    seen = []
    try:
        async for item in executor.run(CodeBlock("python", textwrap.dedent(code))):
            if isinstance(item, ExecutionResult):
                result = item
                break
            seen.append(item.text)
            if "first" in "".join(seen):
                (work / "go").touch()
    finally:
        await executor.aclose()
    assert result.exit_code == 0 and result.output == "first\nsecond\n"
    assert "".join(seen) == "first\nsecond\n"


async def test_output_is_capped(tmp_path, run):
    executor = SandboxExecutor(tmp_path / "work", limits=Limits(timeout_s=20, output=1000))
    result = (await run(executor, "print('x' * 1_000_000)\n")).result
    assert result.truncated and len(result.output) < 2000


async def test_memory_limit(tmp_path, run):
    result = (await run(sandbox(tmp_path / "work", memory="200m"), "b = bytearray(1 << 30)\n")).result
    assert result.exit_code != 0 and "MemoryError" in result.output
    assert result.killed_reason == "out of memory (limit 200 MB)"


async def test_a_fork_bomb_stops_at_the_process_limit(tmp_path, run):
    """Processes and threads are capped per block (a pids cgroup of its own; CI runs as root, where
    RLIMIT_NPROC would not hold): a fork bomb gets no further, the block says which limit it hit,
    and the next block runs normally."""
    from moot.executors._cgroup import cgroup_base

    assert cgroup_base() is not None, "as root, moot must be able to make a pids cgroup per block"
    executor = SandboxExecutor(tmp_path / "work", limits=Limits(timeout_s=20, pids=16))
    result = (await run(executor, """
        import os, time
        children = 0
        try:
            for _ in range(200):
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                children += 1
        except OSError as exc:
            print("refused after", children, "children:", exc.strerror)
    """)).result
    assert "refused after" in result.output, result.output
    refused_at = int(result.output.split("refused after", 1)[1].split()[0])
    assert refused_at < 16
    assert result.killed_reason == "the block hit the process limit (16 processes)"
    leftovers = [p for p in cgroup_base().iterdir() if p.name.startswith(f"moot-{os.getpid()}-")]
    assert leftovers == []  # the block's cgroup is gone with it
    again = SandboxExecutor(tmp_path / "work", limits=Limits(timeout_s=20, pids=16))
    assert (await run(again, "print('fine')\n")).result.output.strip() == "fine"


async def test_scratch_folders_in_memory_are_capped(tmp_path, run):
    """/tmp, /run, /var/tmp and /dev/shm live in RAM: each stops at 64 MB instead of taking half the machine."""
    result = (await run(SandboxExecutor(tmp_path / "work", limits=Limits(timeout_s=30)), """
        import os
        for folder in ("/tmp", "/dev/shm", "/var/tmp", "/run"):
            st = os.statvfs(folder)
            print(folder, st.f_blocks * st.f_frsize // 2**20)
        try:
            with open("/dev/shm/big", "wb") as f:
                for _ in range(200):
                    f.write(b"x" * 2**20)
        except OSError as exc:
            print("full:", exc.strerror)
    """)).result
    sizes = dict(line.split() for line in result.output.splitlines() if line.startswith("/"))
    assert sizes == {"/tmp": "64", "/dev/shm": "64", "/var/tmp": "64", "/run": "64"}, result.output
    assert "full: No space left on device" in result.output


async def test_no_file_in_the_work_dir_outgrows_the_disk_limit(tmp_path, run):
    """The work dir is on the host's disk: a file the code writes stops at the disk limit."""
    work = tmp_path / "work"
    executor = SandboxExecutor(work, limits=Limits(timeout_s=30, disk=parse_memory("20m")))
    result = (await run(executor, """
        with open("big.bin", "wb") as f:
            for _ in range(100):
                f.write(b"x" * 2**20)
    """)).result
    assert result.exit_code != 0
    assert result.killed_reason == "the block hit the disk limit (a file of 20 MB)", (result.exit_code, result.output)
    assert (work / "big.bin").stat().st_size <= 20 * 2**20


async def test_no_setuid_program_is_left_on_the_host(tmp_path, run):
    """Run as root, sandboxed code keeps uid 0: a setuid file it leaves in the work dir would be a
    setuid-root program on the host. moot clears those bits before the block's result."""
    work = tmp_path / "work"
    result = (await run(SandboxExecutor(work, limits=Limits(timeout_s=20)), """
        import os, shutil
        shutil.copy("/bin/sh", "shell")
        os.chmod("shell", 0o6755)
        os.mkdir("d")
        os.chmod("d", 0o2755)
        print(oct(os.stat("shell").st_mode & 0o7777))
    """)).result
    assert result.exit_code == 0, result.output
    assert (work / "shell").stat().st_mode & 0o7777 == 0o755
    assert (work / "d").stat().st_mode & 0o7777 == 0o755
    assert "cleared the setuid/setgid bits of" in result.output


async def test_a_link_or_fifo_planted_for_the_next_script_is_refused(tmp_path, run_block):
    victim = tmp_path / "victim.txt"
    victim.write_text("host file\n")
    work = tmp_path / "work"
    executor = sandbox(work)
    try:
        planted = await run_block(executor, "python", f"import os\nos.symlink({str(victim)!r}, 'next.py')\n"
                                                      "os.mkfifo('fifo.py')\n")
        assert planted.result.exit_code == 0, planted.result.output
        for name in ("next.py", "fifo.py"):
            refused = await run_block(executor, "python", "print('overwritten')\n", name)
            assert refused.result.exit_code == 1 and "cannot be written safely" in refused.result.output
    finally:
        await executor.aclose()
    assert victim.read_text() == "host file\n"


def test_a_work_dir_holding_the_home_is_refused(home):
    with pytest.raises(ExecutorUnavailable, match="must not see"):
        SandboxExecutor(home.parent)


# -- the default order -----------------------------------------------------------------------------


@pytest.fixture
def no_docker(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")


@pytest.fixture
def no_bwrap(monkeypatch, tmp_path):
    """PATH without bwrap: the other tools stay (a folder of links to everything else in PATH)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if os.path.isdir(folder):
            for entry in os.scandir(folder):
                target = bin_dir / entry.name
                if entry.name != "bwrap" and not target.exists():
                    target.symlink_to(entry.path)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert shutil.which("bwrap") is None


async def test_no_docker_means_the_sandbox(no_docker, tmp_path, run):
    assert sandbox_available()
    executor = make_executor({"work_dir": str(tmp_path / "work"), "timeout": 10})
    assert isinstance(executor, SandboxExecutor) and executor.sandboxed
    assert planned_executor({"work_dir": "x"}) == "sandbox"
    result = (await run(executor, "print('in the sandbox')\n")).result
    assert result.output == "in the sandbox\n"


def test_neither_docker_nor_bwrap_says_how_to_get_them(no_docker, no_bwrap, tmp_path):
    assert not sandbox_available() and "not installed" in sandbox_problem()
    with pytest.raises(ExecutorUnavailable) as caught:
        make_executor({"work_dir": str(tmp_path / "work")})
    message = str(caught.value)
    assert "no Docker daemon answered" in message and "start Docker" in message
    assert "apt install bubblewrap" in message and "--executor local" in message
    assert planned_executor({"work_dir": "x"}, refresh=True).startswith("none: no Docker daemon answered")
    assert planned_executor({"executor": "local"}) == "local"  # local stays explicit
    with pytest.raises(ExecutorUnavailable, match="needs bubblewrap"):
        make_executor({"work_dir": str(tmp_path / "work"), "executor": "sandbox"})


def moot_run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`moot run coder` (the packaged team, which names no executor) on a scripted model."""
    replies = '["```python\\nprint(6 * 7)\\n```", "It printed 42. TERMINATE"]'
    (tmp_path / "models.toml").write_text(f'schema_version = 1\n[[models]]\nname = "bot"\nbackend = "scripted"\n'
                                          f"replies = {replies}\n")
    env = {**os.environ, "MOOT_HOME": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "moot", "run", "coder", "--task", "six times seven", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)


def test_a_team_without_docker_runs_in_the_sandbox(no_docker, tmp_path):
    result = moot_run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\n42\n" in result.stdout and "exitcode: 0 (execution succeeded)" in result.stdout
    explicit = moot_run(tmp_path, "--executor", "sandbox")
    assert explicit.returncode == 0 and "\n42\n" in explicit.stdout, explicit.stderr


def test_a_team_that_cannot_run_code_stops_before_the_first_model_call(no_docker, no_bwrap, tmp_path):
    result = moot_run(tmp_path)
    assert result.returncode == 1
    assert "[executor_unavailable]" in result.stderr and "bubblewrap" in result.stderr
    assert "--executor local" in result.stderr
    assert "6 * 7" not in result.stdout  # the model was never asked
