"""Orchestration overhead: what moot's engine costs per message, next to AG2 and AutoGen 0.4.

The same workload everywhere (bench/_anchor_workloads.py): four agents in round-robin, scripted
zero-latency replies of ~200 characters, the task "Start.", 400 and 2000 messages.

- moot (events): the real GroupChat through its public API, each reply from the `scripted` model
  backend streamed as one delta (the anchors do not stream at all), every event consumed.
- moot (store): the same, every event also appended by the real SessionStore recorder (in a
  temporary data dir, never the user's sessions).
- AG2 0.14: GroupChat round_robin, replies via register_reply, silent as its users run it:
  ``GroupChatManager(..., silent=True)`` and ``initiate_chat(silent=True)``.
- AutoGen 0.4 API (autogen-agentchat 0.7.5): RoundRobinGroupChat + ReplayChatCompletionClient,
  ``team.run`` (prints nothing).

Fair by construction: every measurement is one run in a fresh process (imports and set-up outside
the timer, the chat itself inside); a run that prints more than one line besides its result fails
the bench (AG2 prints a single "TERMINATING RUN" line at the end, whatever its silent flags say);
repetitions are interleaved (each repetition runs every mode at every size once, in a shuffled
order), and the ratios are taken per repetition, then reported as min / median / max. Each run
reports the chat's wall time and its process's CPU time: with other work on the cores the CPU
time is the steadier figure; the wall time also counts what the store waits for (SQLite's syncs).

Targets (issue 8): moot (events) <= 0.5x AG2 per message, moot (store) <= 1x, moot's cost per
message at 2000 messages <= 1.2x its cost at 400.

    make bench-anchors && .venv/bin/python bench/orchestration_overhead.py [--reps 5]
    .venv/bin/python bench/orchestration_overhead.py --profile [--mode events] [--messages 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ROOT / ".venv-anchors" / "bin" / "python"
ANCHOR_SCRIPT = ROOT / "bench" / "_anchor_workloads.py"


def _workloads():
    # Loaded by path: with bench/ on sys.path, bench/memory.py would shadow a `memory` import.
    spec = importlib.util.spec_from_file_location("_anchor_workloads", ANCHOR_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


WORKLOAD = _workloads()
SIZES = (400, 2000)
TARGETS = {"moot (events)": 0.5, "moot (store)": 1.0}
GROWTH_TARGET = 1.2


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the moot workload (runs in a child process) ------------------------------------------------

def build_moot(n: int, mode: str):
    """The chat and a coroutine running it once; returns (go, chat)."""
    from moot import ConversableAgent, GroupChat, GroupChatManager, use_models
    from moot.backends import parse_models

    text = (f'schema_version = 1\n[[models]]\nname = "s"\nbackend = "scripted"\nreplies = [{json.dumps(WORKLOAD.REPLY)}]\n'
            f'options = {{ chunk_size = {len(WORKLOAD.REPLY)} }}\n')  # one streamed piece per reply
    use_models(parse_models(text, "bench"))
    agents = [ConversableAgent(f"agent{i}", llm_config="s", human_input_mode="NEVER", max_consecutive_auto_reply=10**6)
              for i in range(WORKLOAD.AGENTS)]
    chat = GroupChat(agents, messages=[], max_round=n, speaker_selection_method="round_robin")
    manager = GroupChatManager(chat, llm_config=False)
    store = None
    if mode == "store":
        from moot.memory import SessionStore

        os.environ["MOOT_HOME"] = tempfile.mkdtemp(prefix="moot-bench-")  # never the user's own sessions
        store = SessionStore.open_default()

    async def go() -> int:
        recorder = store.recorder(title="bench") if store is not None else None
        count = 0
        async for event in agents[0].run_stream(manager, message=WORKLOAD.TASK):
            count += 1
            if recorder is not None:
                recorder(event)
        if recorder is not None:
            recorder.close()
        return count

    return go, chat


def run_moot(n: int, mode: str) -> dict:
    go, chat = build_moot(n, mode)
    before = rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    events = asyncio.run(go())
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"wall_s": wall, "cpu_s": cpu, "messages": len(chat.messages), "events": events, "peak_rss_mb": rss_mb(),
            "rss_before_mb": before}


def profile_moot(n: int, mode: str, top: int) -> None:
    import cProfile
    import pstats

    go, chat = build_moot(n, mode)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    asyncio.run(go())
    profiler.disable()
    wall = time.perf_counter() - started
    print(f"moot ({mode}), {len(chat.messages)} messages under cProfile: {wall:.2f} s "
          f"({1e6 * wall / len(chat.messages):.0f} us/msg with the profiler's own cost)")
    for order in ("cumulative", "tottime"):
        print(f"\n== top {top} by {order}")
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.strip_dirs().sort_stats(order).print_stats(top)


# -- the driver -----------------------------------------------------------------------------

def command(mode: str, n: int) -> list[str]:
    if mode.startswith("moot"):
        return [sys.executable, __file__, "--child", mode.split("(")[1].rstrip(")"), str(n)]
    return [str(ANCHORS), str(ANCHOR_SCRIPT), "ag2" if mode == "AG2" else "autogen", str(n)]


def measure(mode: str, n: int) -> dict:
    cmd = command(mode, n)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} at {n} messages failed ({' '.join(cmd)}):\n{proc.stderr[-2000:]}")
    lines = proc.stdout.strip().splitlines()
    printed = lines[:-1]
    if len(printed) > 1 or proc.stderr.strip():
        raise SystemExit(f"{mode} at {n} messages is not silent: it printed {len(proc.stdout)} bytes on stdout and "
                         f"{len(proc.stderr)} on stderr besides its result, first: {(proc.stdout + proc.stderr)[:300]!r}")
    result = json.loads(lines[-1])
    if result["messages"] != n:
        raise SystemExit(f"{mode} at {n} messages: the chat held {result['messages']} messages, not {n}")
    result["wall"] = 1e6 * result["wall_s"] / result["messages"]  # microseconds per message
    result["cpu"] = 1e6 * result["cpu_s"] / result["messages"]
    return result


def spread(values: list[float], fmt: str = ".2f") -> str:
    return f"{min(values):{fmt}} / {statistics.median(values):{fmt}} / {max(values):{fmt}}"


def main(reps: int, sizes: tuple[int, ...]) -> None:
    modes = ["moot (events)", "moot (store)"]
    if ANCHORS.exists():
        modes += ["AG2", "AutoGen 0.4"]
    else:
        print("(no anchors: run `make bench-anchors` for the AG2 and AutoGen 0.4 figures and the ratios)")
    runs: dict[tuple[str, int], list[dict]] = {(m, n): [] for m in modes for n in sizes}
    started = time.perf_counter()
    for rep in range(reps):
        order = [(m, n) for n in sizes for m in modes]
        random.Random(rep).shuffle(order)
        for mode, n in order:
            runs[(mode, n)].append(measure(mode, n))
        print(f"repetition {rep + 1}/{reps} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {reps} interleaved repetitions, "
          f"each run in a fresh process. us/msg: microseconds per message, of CPU time (this process's, steady "
          f"on a shared machine) and of wall time")
    print(f"\n{'':16}{'messages':>9}   {'CPU us/msg min / med / max':>27}   {'wall us/msg min / med / max':>28}"
          f"   {'peak RSS MB':>11}")
    for (mode, n), rs in runs.items():
        print(f"{mode:16}{n:>9}   {spread([r['cpu'] for r in rs], '.0f'):>27}   {spread([r['wall'] for r in rs], '.0f'):>28}"
              f"   {statistics.median(r['peak_rss_mb'] for r in rs):>11.0f}")
    for clock in ("cpu", "wall"):
        print(f"\nper-repetition ratios of {'CPU' if clock == 'cpu' else 'wall'} time per message, min / median / max")
        for mode in ("moot (events)", "moot (store)"):
            if "AG2" in modes:
                for n in sizes:
                    ratios = [a[clock] / b[clock] for a, b in zip(runs[(mode, n)], runs[("AG2", n)])]
                    print(f"  {mode} / AG2 at {n:>4} messages: {spread(ratios)}   {_verdict(ratios, TARGETS[mode])}")
            if len(sizes) >= 2:
                small, large = min(sizes), max(sizes)
                growth = [b[clock] / a[clock] for a, b in zip(runs[(mode, small)], runs[(mode, large)])]
                print(f"  {mode} growth {small} -> {large}: {spread(growth)}   {_verdict(growth, GROWTH_TARGET)}")
        if "AutoGen 0.4" in modes:
            for n in sizes:
                ratios = [a[clock] / b[clock] for a, b in zip(runs[("moot (events)", n)], runs[("AutoGen 0.4", n)])]
                print(f"  moot (events) / AutoGen 0.4 at {n:>4} messages: {spread(ratios)}   (no target)")


def _verdict(values: list[float], target: float) -> str:
    met = sum(v <= target for v in values)
    return (f"(target <= {target}: {'met' if statistics.median(values) <= target else 'MISSED'} by the median, "
            f"{met}/{len(values)} repetitions under it)")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions (default 5)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="message counts (default 400,2000)")
    parser.add_argument("--profile", action="store_true", help="cProfile one moot run instead of the bench")
    parser.add_argument("--mode", choices=("events", "store"), default="events", help="with --profile (default events)")
    parser.add_argument("--messages", type=int, default=2000, help="with --profile (default 2000)")
    parser.add_argument("--top", type=int, default=15, help="with --profile: functions per table (default 15)")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_moot(int(args.child[1]), args.child[0])))
    elif args.profile:
        profile_moot(args.messages, args.mode, args.top)
    else:
        main(args.reps, tuple(int(s) for s in args.sizes.split(",")))
