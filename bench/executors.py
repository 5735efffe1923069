"""Executor overhead: what running one code block costs, per executor, from `run()` to its result.

Two blocks, each `print('hello')`: one in an empty work dir, one in a work dir holding 10 MB
(100 files of 100 KB: what an executor that copies the work dir in and out pays for). Every
executor is made the way a team makes it (`make_executor`): docker (a private dockerd started
here, as the tests do; skipped with a line saying so when that cannot be done), sandbox
(bubblewrap) and local. One warm-up run each (Docker builds its image), then 20 repetitions,
interleaved: each repetition runs every executor on both blocks once, in a shuffled order.
Reported: min / median / max wall seconds per block, with the interpreter's own start-up (a bare
`python -c pass` subprocess) beside it for scale.

Targets (issue 9), medians: sandbox <= 0.1 s, docker <= 0.5 s (copying in and out included),
local <= 0.05 s.

    .venv/bin/python bench/executors.py [--reps 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from moot.executors import CodeBlock, ExecutionResult, docker_client, ensure_image, make_executor

TARGETS = {"docker": 0.5, "sandbox": 0.1, "local": 0.05}
HELLO = CodeBlock("python", "print('hello')\n")


def start_dockerd(root: Path) -> tuple[subprocess.Popen | None, str]:
    """A private dockerd (FACTS.md: Docker) in `root`; (process, host), or (None, why not)."""
    dockerd = shutil.which("dockerd")
    if os.geteuid() != 0 or dockerd is None:
        return None, "not root" if os.geteuid() != 0 else "no dockerd installed (Debian: docker.io)"
    host = f"unix://{root}/sock"
    process = subprocess.Popen(
        [dockerd, "--data-root", f"{root}/data", "--exec-root", f"{root}/exec", "--pidfile", f"{root}/pid",
         "--host", host, "--iptables=false", "--ip6tables=false", "--bridge=none"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True)
    for _ in range(300):
        if process.poll() is not None:
            return None, f"dockerd exited with {process.returncode}"
        try:
            client = docker_client(host)
        except Exception:
            time.sleep(0.1)
            continue
        ensure_image(client)
        client.close()
        return process, host
    process.kill()
    return None, "dockerd did not answer within 30 s"


def stop_dockerd(process: subprocess.Popen, root: Path) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for line in reversed(Path("/proc/mounts").read_text().splitlines()):
        if line.split()[1].startswith(str(root)):
            subprocess.run(["umount", "-l", line.split()[1]], capture_output=True)


def fill(work: Path, megabytes: int = 10) -> None:
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    for i in range(megabytes * 10):
        (work / f"data_{i:03}.bin").write_bytes(os.urandom(100 * 1024))


async def one_block(executor) -> float:
    started = time.perf_counter()
    result = None
    async for item in executor.run(HELLO):
        if isinstance(item, ExecutionResult):
            result = item
    elapsed = time.perf_counter() - started
    if result is None or result.exit_code != 0 or result.output != "hello\n":
        raise SystemExit(f"{executor.name}: the block failed: {result}")
    return elapsed


def interpreter_start(reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return times


async def bench(reps: int, root: Path, docker_host: str | None) -> dict[tuple[str, str], list[float]]:
    kinds = ["sandbox", "local"] + (["docker"] if docker_host else [])
    executors = {}
    for kind in kinds:
        for load in ("hello", "10 MB work dir"):
            work = root / f"{kind}-{load.split()[0]}"
            if load != "hello":
                fill(work)
            config = {"executor": kind, "work_dir": str(work), "timeout": 60}
            if kind == "docker":
                config["docker_host"] = docker_host
            executors[kind, load] = make_executor(config)
    try:
        for executor in executors.values():
            await one_block(executor)  # warm-up: images, caches, the first probe
        times: dict[tuple[str, str], list[float]] = {key: [] for key in executors}
        order = list(executors)
        for _ in range(reps):
            random.shuffle(order)
            for key in order:
                times[key].append(await one_block(executors[key]))
        return times
    finally:
        for executor in executors.values():
            await executor.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {args.reps} repetitions, interleaved",
          flush=True)
    root = Path(tempfile.mkdtemp(prefix="moot-bench-exec-"))
    dockerd, host = start_dockerd(root / "docker")
    if dockerd is None:
        print(f"docker: skipped ({host}): no private daemon can be started here")
    try:
        times = asyncio.run(bench(args.reps, root, host if dockerd else None))
    finally:
        if dockerd is not None:
            stop_dockerd(dockerd, root / "docker")
        shutil.rmtree(root, ignore_errors=True)
    start = interpreter_start(args.reps)
    print(f"{'executor':<8} {'block':<15} {'min':>7} {'median':>7} {'max':>7}   target (median)")
    for (kind, load), values in sorted(times.items()):
        median = statistics.median(values)
        verdict = "ok" if median <= TARGETS[kind] else "OVER"
        print(f"{kind:<8} {load:<15} {min(values):7.3f} {median:7.3f} {max(values):7.3f}   <= {TARGETS[kind]} s {verdict}")
    print(f"(for scale: `python -c pass` as a subprocess: min {min(start):.3f} median {statistics.median(start):.3f} "
          f"max {max(start):.3f} s)")


if __name__ == "__main__":
    main()
