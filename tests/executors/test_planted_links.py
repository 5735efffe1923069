"""Code that ran in the work dir may plant links, FIFOs and hard links where moot writes the next
block. moot (on the host, as root here) must never write through them, never block on them, and
never write outside the work dir. Attacks run inside the real private Docker daemon (the
container learns the host path of its work dir as an attacker would, from /proc/self/mountinfo)
and through the local executor."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat

import pytest

from moot.executors import DockerExecutor, Limits, LocalExecutor, parse_memory

def block(language: str, code: str, filename: str | None = None) -> tuple[str, str, str | None]:
    return language, code, filename


HOST_PATH = """
import os
work = os.getcwd()
host = next(line.split()[3] for line in open('/proc/self/mountinfo') if line.split()[4] == work)
"""


@pytest.fixture
def docker_executor(private_docker, docker_containers, tmp_path):
    return DockerExecutor(tmp_path / "work", client=private_docker.client, image=private_docker.image,
                          limits=Limits(timeout_s=20, memory=parse_memory("128m"), pids=64))


@pytest.fixture
def local_executor(tmp_path):
    return LocalExecutor(tmp_path / "work", limits=Limits(timeout_s=20))


async def test_a_planted_link_to_a_host_file_is_not_written_through(docker_executor, tmp_path, run_block):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    plant = HOST_PATH + f"os.symlink({str(victim)!r}, 'next.py')\nprint('planted', host)\n"
    first = await run_block(docker_executor, *block("python", plant))
    assert first.result.exit_code == 0, first.result.output
    # The container works in a scratch copy: the link never reaches the host work dir.
    assert not os.path.lexists(tmp_path / "work" / "next.py")
    second = await run_block(docker_executor, *block("python", "print('overwritten?')\n", "next.py"))
    assert second.result.exit_code == 0 and "overwritten?" in second.result.output
    assert not os.path.islink(tmp_path / "work" / "next.py")
    assert victim.read_text() == "precious\n"  # the host file is untouched
    await docker_executor.aclose()


async def test_a_planted_folder_link_creates_nothing_outside(docker_executor, tmp_path, run_block):
    outside = tmp_path / "outside"
    outside.mkdir()
    plant = f"import os\nos.symlink({str(outside)!r}, 'sub')\n"
    assert (await run_block(docker_executor, *block("python", plant))).result.exit_code == 0
    result = (await run_block(docker_executor, *block("python", "print(1)\n", "sub/new.py"))).result
    assert result.exit_code == 0  # the link stayed in the scratch; sub/ is a plain folder on the host
    assert (tmp_path / "work" / "sub" / "new.py").is_file() and not os.path.islink(tmp_path / "work" / "sub")
    assert list(outside.iterdir()) == []
    await docker_executor.aclose()


async def test_a_planted_fifo_does_not_hang_moot(docker_executor, tmp_path, run_block):
    plant = "import os\nos.mkfifo('fifo.py')\n"
    assert (await run_block(docker_executor, *block("python", plant))).result.exit_code == 0
    assert not os.path.lexists(tmp_path / "work" / "fifo.py")  # never copied back
    result = (await asyncio.wait_for(run_block(docker_executor, *block("python", "print(1)\n", "fifo.py")), 15)).result
    assert result.exit_code == 0
    await docker_executor.aclose()


async def test_unnamed_blocks_get_names_no_earlier_code_can_aim_at(docker_executor, tmp_path, run_block):
    """A link planted under the name a hash of the next block's code would give (as names were
    made before) is not used: the next block gets a name nobody could know."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    code = "print('fine')\n"
    foreseen = f"tmp_code_{hashlib.sha1(code.encode()).hexdigest()[:12]}.py"
    plant = f"import os\nos.symlink({str(victim)!r}, {foreseen!r})\n"
    assert (await run_block(docker_executor, *block("python", plant))).result.exit_code == 0
    result = (await run_block(docker_executor, *block("python", code))).result
    assert result.exit_code == 0 and "fine" in result.output
    assert victim.read_text() == "precious\n"
    await docker_executor.aclose()


async def test_the_local_executor_refuses_links_fifos_and_hard_links(local_executor, tmp_path, run_block):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    plant = (f"import os\nos.symlink({str(victim)!r}, 'a.py')\nos.mkfifo('b.py')\n"
             f"os.link({str(victim)!r}, 'c.py')\nos.symlink({str(tmp_path)!r}, 'd')\n")
    assert (await run_block(local_executor, *block("python", plant))).result.exit_code == 0
    for name, why in (("a.py", "cannot be written safely"), ("b.py", "cannot be written safely"),
                      ("c.py", "hard link"), ("d/e.py", "not a plain folder")):
        result = (await asyncio.wait_for(run_block(local_executor, *block("python", "print(1)\n", name)), 15)).result
        assert result.exit_code != 0 and why in result.output, (name, result.output)
    assert victim.read_text() == "precious\n" and not (tmp_path / "e.py").exists()
    # a plain file by the same name is rewritten as before
    ok = (await run_block(local_executor, *block("python", "print('again')\n", "plain.py"))).result
    ok = (await run_block(local_executor, *block("python", "print('twice')\n", "plain.py"))).result
    assert ok.exit_code == 0 and "twice" in ok.output
    await local_executor.aclose()


async def test_a_fresh_work_dir_is_private_and_a_users_folder_keeps_its_mode(tmp_path, run_block):
    fresh = LocalExecutor(tmp_path / "fresh" / "work", limits=Limits(timeout_s=10))
    assert (await run_block(fresh, *block("python", "print(1)\n"))).result.exit_code == 0
    assert stat.S_IMODE((tmp_path / "fresh" / "work").stat().st_mode) == 0o700
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o750)
    os.chmod(mine, 0o750)
    kept = LocalExecutor(mine, limits=Limits(timeout_s=10))
    assert (await run_block(kept, *block("python", "print(1)\n"))).result.exit_code == 0
    assert stat.S_IMODE(mine.stat().st_mode) == 0o750
    await fresh.aclose()
    await kept.aclose()


@pytest.mark.skipif(os.geteuid() != 0, reason="the ownership rules below are those of moot run as root (CI runs as root)")
async def test_docker_as_root_never_opens_a_work_dir(private_docker, docker_containers, tmp_path, run_block):
    """A fresh work dir is 0700 and the code runs as nobody; an existing folder keeps its mode and
    the code runs as its owner; root's own private folder is used as it is (the container only
    ever sees a scratch copy), never opened."""
    def docker(path):
        return DockerExecutor(path, client=private_docker.client, image=private_docker.image,
                              limits=Limits(timeout_s=20, memory=parse_memory("128m"), pids=64))

    fresh = docker(tmp_path / "fresh")
    result = (await run_block(fresh, *block("python", "import os\nopen('made.txt', 'w').write('x')\nprint(os.getuid())\n"))).result
    assert result.exit_code == 0 and "65534" in result.output
    info = (tmp_path / "fresh").stat()
    assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == 0
    await fresh.aclose()

    users = tmp_path / "users"
    users.mkdir()
    os.chmod(users, 0o750)
    os.chown(users, 1234, 1234)
    theirs = docker(users)
    result = (await run_block(theirs, *block("python", "import os\nopen('made.txt', 'w').write('x')\nprint(os.getuid())\n"))).result
    assert result.exit_code == 0 and "1234" in result.output
    assert stat.S_IMODE(users.stat().st_mode) == 0o750 and (users / "made.txt").stat().st_uid == 1234
    await theirs.aclose()

    private = tmp_path / "roots"
    private.mkdir()
    os.chmod(private, 0o700)
    roots = docker(private)
    result = (await run_block(roots, *block("python", "import os\nopen('made.txt', 'w').write('x')\nprint(os.getuid())\n"))).result
    assert result.exit_code == 0 and "65534" in result.output
    assert stat.S_IMODE(private.stat().st_mode) == 0o700 and (private / "made.txt").read_text() == "x"
    await roots.aclose()
