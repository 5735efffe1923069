"""The Docker executor's scratch work dir and limits, attacked from inside the real private dockerd.

The container works in a tmpfs scratch seeded from the host work dir; moot copies back only
regular files and folders within the disk and files limits. Code that plants links, FIFOs or
hard links, fills the disk, makes 20,000 files or spins on every CPU must not reach the host;
containers carry their owner's pid and those of a dead moot are removed at the next start;
`moot run` killed with SIGTERM mid-block leaves no container behind."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from moot.executors import DockerExecutor, ExecutorError, Limits, make_executor, parse_memory
from moot.executors._docker import LABEL, OWNER_HOST, OWNER_PID, OWNER_STARTED


def _docker(private_docker, work: Path, **limits) -> DockerExecutor:
    settings = {"timeout_s": 30, "memory": parse_memory("128m"), "pids": 64, **limits}
    return DockerExecutor(work, client=private_docker.client, image=private_docker.image, limits=Limits(**settings))


def _size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*"))


async def test_files_the_code_writes_come_back_and_unchanged_ones_are_not_rewritten(private_docker, docker_containers,
                                                                                   tmp_path, run_block):
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.csv").write_text("a,b\n1,2\n")
    (work / "keep.bin").write_bytes(b"\x00" * 1000)
    os.utime(work / "keep.bin", (1_000_000_000, 1_000_000_000))
    executor = _docker(private_docker, work)
    code = ("import os\nprint(open('data.csv').read().strip())\nos.makedirs('out/deep', exist_ok=True)\n"
            "open('out/deep/result.txt', 'w').write('42\\n')\nopen('data.csv', 'a').write('3,4\\n')\n"
            "open('run.sh', 'w').write('echo hi\\n'); os.chmod('run.sh', 0o755)\n")
    result = (await run_block(executor, "python", code, "make.py")).result
    assert result.exit_code == 0, result.output
    assert "a,b" in result.output
    assert (work / "out" / "deep" / "result.txt").read_text() == "42\n"
    assert (work / "data.csv").read_text() == "a,b\n1,2\n3,4\n"
    assert (work / "make.py").read_text() == code  # the block's own file is kept, as before
    assert os.access(work / "run.sh", os.X_OK)
    assert (work / "keep.bin").stat().st_mtime == 1_000_000_000  # not copied back: it did not change
    again = (await run_block(executor, "sh", "cat out/deep/result.txt && ./run.sh\n")).result
    assert again.exit_code == 0 and "42" in again.output and "hi" in again.output
    await executor.aclose()


async def test_links_fifos_hard_links_and_devices_never_come_back(private_docker, docker_containers, tmp_path, run_block):
    work = tmp_path / "work"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    executor = _docker(private_docker, work)
    code = (
        "import os\n"
        f"os.symlink({str(victim)!r}, 'to_host.txt')\n"
        f"os.symlink({str(outside)!r}, 'folder_link')\n"
        "os.symlink('/etc/passwd', 'passwd')\n"
        "os.mkfifo('pipe')\n"
        "open('real.txt', 'w').write('real')\n"
        "os.link('real.txt', 'hard.txt')\n"
        "try:\n"
        "    os.mknod('dev', 0o600 | 0o020000, os.makedev(1, 3))\n"
        "    print('MADE A DEVICE')\n"
        "except OSError as e:\n"
        "    print('no device:', e.strerror)\n"
    )
    result = (await asyncio.wait_for(run_block(executor, "python", code), 60)).result
    assert result.exit_code == 0, result.output
    assert "MADE A DEVICE" not in result.output
    names = {p.name for p in work.iterdir()}
    for name in ("to_host.txt", "folder_link", "passwd", "pipe", "dev"):
        assert name not in names, f"{name} came back to the host"
    assert (work / "real.txt").read_text() == "real"
    for path in work.rglob("*"):
        info = path.lstat()
        assert stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode), path
        assert not stat.S_ISREG(info.st_mode) or info.st_nlink == 1, path
    assert victim.read_text() == "precious\n" and list(outside.iterdir()) == []

    # The next block reuses the names: in the scratch they are whatever the new block makes them.
    follow = ("open('to_host.txt', 'w').write('mine')\nimport os\nos.makedirs('folder_link', exist_ok=True)\n"
              "open('folder_link/x', 'w').write('x')\n")
    result = (await run_block(executor, "python", follow, "passwd")).result
    assert result.exit_code == 0, result.output
    assert (work / "to_host.txt").read_text() == "mine" and (work / "folder_link" / "x").read_text() == "x"
    assert victim.read_text() == "precious\n" and list(outside.iterdir()) == []
    await executor.aclose()


async def test_a_host_link_in_the_work_dir_is_never_written_through(private_docker, docker_containers, tmp_path,
                                                                    run_block):
    """A link already on the host (planted before, or the user's own) under a name the code writes:
    the copy-back skips that file, says so, and writes nothing through it."""
    work = tmp_path / "work"
    work.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (work / "out.txt").symlink_to(victim)
    (work / "sub").symlink_to(tmp_path)
    executor = _docker(private_docker, work)
    code = "import os\nos.makedirs('sub', exist_ok=True)\nopen('sub/new.txt', 'w').write('x')\nopen('out.txt', 'w').write('overwritten')\n"
    result = (await run_block(executor, "python", code)).result
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "new.txt").exists()
    assert "not copied back" in result.output and "out.txt" in result.output
    assert os.path.islink(work / "out.txt")  # left as it was
    await executor.aclose()


async def test_writing_2_gb_fails_at_the_disk_limit_and_the_host_stays_small(private_docker, docker_containers,
                                                                              tmp_path, run_block):
    work = tmp_path / "work"
    executor = _docker(private_docker, work, disk=parse_memory("64m"), timeout_s=60)
    code = ("chunk = b'x' * (1 << 20)\nwith open('big.bin', 'wb') as f:\n    for i in range(2048):\n"
            "        f.write(chunk)\nprint('WROTE 2 GB')\n")
    result = (await run_block(executor, "python", code)).result
    assert result.exit_code != 0
    assert "WROTE 2 GB" not in result.output
    assert "the block hit the disk limit (64 MB)" in result.killed_reason
    assert "No space left on device" in result.output
    assert _size(work) <= parse_memory("64m")

    # The default is 512 MB.
    default = DockerExecutor(tmp_path / "work2", client=private_docker.client, image=private_docker.image,
                             limits=Limits(timeout_s=60))
    assert default.limits.disk == parse_memory("512m") and default.limits.files == 10_000
    result = (await run_block(default, "python", code)).result
    assert result.exit_code != 0 and "the block hit the disk limit (512 MB)" in result.killed_reason
    assert _size(tmp_path / "work2") <= parse_memory("512m")
    await executor.aclose()
    await default.aclose()


async def test_20000_files_fail_at_the_files_limit(private_docker, docker_containers, tmp_path, run_block):
    work = tmp_path / "work"
    executor = _docker(private_docker, work, timeout_s=60)  # the default: 10,000 files
    code = "import os\nos.mkdir('many')\nfor i in range(20000):\n    open(f'many/{i}', 'w').close()\nprint('MADE 20000')\n"
    result = (await run_block(executor, "python", code)).result
    assert result.exit_code != 0
    assert "MADE 20000" not in result.output
    assert "the block hit the files limit (10,000 files and folders)" in result.killed_reason
    assert sum(1 for _ in work.rglob("*")) <= 10_000
    await executor.aclose()


async def test_the_work_dir_must_fit_the_limits_to_start(private_docker, docker_containers, tmp_path, run_block):
    work = tmp_path / "work"
    work.mkdir()
    (work / "big.bin").write_bytes(b"\x00" * (7 << 20))
    executor = _docker(private_docker, work, disk=parse_memory("6m"))
    result = (await run_block(executor, "python", "print('ran')\n")).result
    assert result.exit_code != 0 and "ran" not in result.output
    assert "more than the disk limit (6 MB)" in result.output
    await executor.aclose()


async def test_a_cpu_quota_is_set(private_docker, docker_containers, tmp_path, run_block):
    """The cgroup's CPU quota, read from inside while two threads spin: cpus=0.5 and the default 1."""
    code = (
        "import os, threading, time\n"
        "def spin():\n"
        "    end = time.time() + 0.5\n"
        "    while time.time() < end:\n"
        "        pass\n"
        "threads = [threading.Thread(target=spin) for _ in range(2)]\n"
        "[t.start() for t in threads]\n"
        "if os.path.exists('/sys/fs/cgroup/cpu.max'):\n"
        "    quota, period = open('/sys/fs/cgroup/cpu.max').read().split()\n"
        "else:\n"
        "    quota = open('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').read().strip()\n"
        "    period = open('/sys/fs/cgroup/cpu/cpu.cfs_period_us').read().strip()\n"
        "[t.join() for t in threads]\n"
        "print('cpus', int(quota) / int(period))\n"
    )
    half = _docker(private_docker, tmp_path / "half", cpus=0.5)
    result = (await run_block(half, "python", code)).result
    assert result.exit_code == 0, result.output
    assert "cpus 0.5" in result.output
    one = DockerExecutor(tmp_path / "one", client=private_docker.client, image=private_docker.image,
                         limits=Limits(timeout_s=30))
    result = (await run_block(one, "python", code)).result
    assert "cpus 1.0" in result.output, result.output
    await half.aclose()
    await one.aclose()


async def test_no_process_outlives_its_block(private_docker, docker_containers, tmp_path, run_block):
    executor = _docker(private_docker, tmp_path / "work")
    code = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        time.sleep(1)\n        open('late.txt', 'w').write('survived')\n        time.sleep(60)\n"
            "    os._exit(0)\nprint('parent done')\n")
    result = (await run_block(executor, "python", code)).result
    assert result.exit_code == 0 and "parent done" in result.output
    assert docker_containers.containers.list(all=True) == []
    await asyncio.sleep(1.5)
    assert not (tmp_path / "work" / "late.txt").exists()
    await executor.aclose()


def test_limits_are_checked_with_the_field_named(tmp_path):
    base = {"executor": "docker", "work_dir": str(tmp_path), "docker_host": "unix:///nonexistent.sock"}
    for extra, words in (({"cpus": "lots"}, "cpus must be a number"), ({"cpus": 0}, "cpus must be a number"),
                         ({"disk": "huge"}, "disk 'huge' is not a size"), ({"disk": None}, "no unlimited disk"),
                         ({"files": 3}, "files must be a whole number"), ({"limits": {"files": True}}, "files must"),
                         ({"limits": {"disk": "1k"}}, "disk '1k' is too small")):
        with pytest.raises(ExecutorError, match=words):
            make_executor({**base, **extra})


def test_team_file_limits_are_checked_and_passed_on(tmp_path):
    from moot.agents._teamfile import read_team
    from moot.backends import ConfigError

    team = ('schema_version = 1\n[[members]]\nname = "coder"\n[[members]]\nname = "runner"\nrole = "user_proxy"\n'
            '[members.code_execution]\nexecutor = "docker"\n')
    spec = read_team(team + 'cpus = 2\ndisk = "1g"\nfiles = 500\n', "team.toml")
    ce = spec.members[1].code_execution
    assert (ce.cpus, ce.disk, ce.files) == (2, "1g", 500)
    for bad, field in (('cpus = 0', "cpus"), ('disk = "lots"', "disk"), ('files = 2', "files")):
        with pytest.raises(ConfigError) as caught:
            read_team(team + bad + "\n", "team.toml")
        assert "team.toml" in str(caught.value) and field in str(caught.value)


def _labelled(private_docker, pid: int, started: str = "") -> str:
    import socket

    client = private_docker.client
    container = client.api.create_container(private_docker.image, ["sleep", "600"], name=f"moot-exec-orphan{pid}",
                                            labels={LABEL: "docker", OWNER_PID: str(pid), OWNER_STARTED: started,
                                                    OWNER_HOST: socket.gethostname()})
    client.api.start(container["Id"])
    return container["Id"]


def test_containers_of_a_dead_moot_are_removed_at_the_next_start(private_docker, docker_containers, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = _labelled(private_docker, dead.pid)
    alive = _labelled(private_docker, os.getpid(), "")  # this process: start time differs, but pid is ours
    executor = _docker(private_docker, tmp_path / "work")
    ids = {c.id for c in docker_containers.containers.list(all=True)}
    assert orphan not in ids and alive in ids
    assert len(executor.notices) == 1
    assert f"moot-exec-orphan{dead.pid}" in executor.notices[0] and f"process {dead.pid}" in executor.notices[0]
    docker_containers.api.remove_container(alive, force=True)


MODELS = """
schema_version = 1
[[models]]
name = "coderbot"
backend = "scripted"
replies = ["```python\\nimport time\\nprint('working', flush=True)\\ntime.sleep(120)\\n```", "DONE"]
"""
TEAM = """
schema_version = 1
[[members]]
name = "runner"
role = "user_proxy"
human_input_mode = "NEVER"
[members.code_execution]
executor = "docker"
timeout = 100
work_dir = "work"
[[members]]
name = "coder"
model = "coderbot"
[chat]
max_turns = 3
"""


def test_moot_run_killed_with_sigterm_mid_block_leaves_no_container(tmp_path, private_docker, docker_containers):
    (tmp_path / "models.toml").write_text(MODELS)
    (tmp_path / "team.toml").write_text(TEAM)
    process = subprocess.Popen([sys.executable, "-m", "moot", "run", "team.toml", "--task", "work"], cwd=tmp_path,
                               env={**os.environ, "DOCKER_HOST": private_docker.host}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 120
        while not docker_containers.containers.list() and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        assert docker_containers.containers.list(), "the block never started"
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "cancelled by SIGTERM" in err
    assert docker_containers.containers.list(all=True) == []


KILLED = """
import asyncio, sys
from moot.executors import CodeBlock, DockerExecutor, Limits, docker_client

async def main():
    executor = DockerExecutor(sys.argv[1], client=docker_client(sys.argv[2]), image=sys.argv[3], limits=Limits(timeout_s=100))
    async for item in executor.run(CodeBlock("python", "import time\\nprint('up', flush=True)\\ntime.sleep(100)\\n")):
        print(item, flush=True)

asyncio.run(main())
"""


def test_a_moot_killed_with_sigkill_leaves_a_stopped_container_the_next_start_removes(tmp_path, private_docker,
                                                                                       docker_containers):
    process = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path / "work"), private_docker.host,
                                private_docker.image], stdout=subprocess.PIPE, text=True)
    try:
        assert "up" in process.stdout.readline()
        process.kill()  # no clean-up at all
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    # The runner sees its stdin end and stops everything in the container...
    deadline = time.monotonic() + 30
    while docker_containers.containers.list() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert docker_containers.containers.list() == []
    assert len(docker_containers.containers.list(all=True)) == 1
    # ... and the next moot removes the stopped container, saying so.
    executor = _docker(private_docker, tmp_path / "work")
    assert docker_containers.containers.list(all=True) == []
    assert len(executor.notices) == 1 and f"moot process {process.pid}, which is gone" in executor.notices[0]
