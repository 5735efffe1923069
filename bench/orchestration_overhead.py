"""Orchestration overhead: what moot's engine costs per message, next to AutoGen 0.4 and AG2.

Four agents in round-robin, scripted zero-latency replies of ~200 characters, 400 and 2000
messages: microseconds per message (best of three runs) and peak memory, each run in its own process. moot runs the
full reply path (its `scripted` model backend, each reply streamed as one delta, the event stream
consumed) and, when
``--store`` is available, with the session store recording too. The anchors run in the side venv
``make bench-anchors`` builds (AutoGen 0.4 API: RoundRobinGroupChat + ReplayChatCompletionClient;
AG2 0.14: GroupChat round_robin with register_reply, silent).

Targets: events on <= 0.5x AG2's per-message cost; with the store <= 1x AG2's; moot's cost per
message at 2000 messages <= 1.2x its cost at 400.

    make bench-anchors && .venv/bin/python bench/orchestration_overhead.py
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ROOT / ".venv-anchors" / "bin" / "python"
sys.path.insert(0, str(ROOT))


def _reply() -> str:
    # Loaded by path: with bench/ on sys.path, bench/memory.py would shadow the memory package.
    import importlib.util

    spec = importlib.util.spec_from_file_location("_anchor_workloads", ROOT / "bench" / "_anchor_workloads.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.REPLY


REPLY = _reply()
RUNS = 3  # each figure is the best of three runs, each in a fresh process

SIZES = (400, 2000)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_moot(n: int, mode: str) -> dict:
    from moot.agents import ConversableAgent, GroupChat, GroupChatManager, use_models
    from moot.backends import parse_models

    # One streamed piece per reply: the anchors do not stream at all (AG2's register_reply returns the
    # text, AutoGen's replay client is not streamed), so moot streams each reply as one delta.
    text = (f'schema_version = 1\n[[models]]\nname = "s"\nbackend = "scripted"\nreplies = [{json.dumps(REPLY)}]\n'
            f'options = {{ chunk_size = {len(REPLY)} }}\n')
    use_models(parse_models(text, "bench"))
    agents = [ConversableAgent(f"agent{i}", llm_config="s", human_input_mode="NEVER", max_consecutive_auto_reply=10**6)
              for i in range(4)]
    chat = GroupChat(agents, messages=[], max_round=n, speaker_selection_method="round_robin")
    manager = GroupChatManager(chat, llm_config=False)
    store = None
    if mode == "store":
        import os
        import tempfile

        from moot.memory import SessionStore

        os.environ["MOOT_HOME"] = tempfile.mkdtemp(prefix="moot-bench-")  # never the user's own sessions
        store = SessionStore.open_default()

    async def go() -> tuple[float, int]:
        started = time.perf_counter()
        stream = agents[0].run_stream(manager, message="Start.")
        recorder = store.recorder(title="bench") if store is not None else None
        count = 0
        async for event in stream:
            count += 1
            if recorder is not None:
                recorder(event)
        if recorder is not None:
            recorder.close()
        return time.perf_counter() - started, count

    before = rss_mb()
    wall, events = asyncio.run(go())
    return {"wall_s": wall, "messages": len(chat.messages), "events": events, "peak_rss_mb": rss_mb(), "rss_before_mb": before}


def measure(cmd: list[str]) -> dict:
    best = None
    for _ in range(RUNS):
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if best is None or result["wall_s"] < best["wall_s"]:
            best = result
    return best


def main() -> None:
    modes = ["events"]
    try:
        import moot.memory as memory

        if hasattr(memory, "SessionStore"):
            modes.append("store")
    except ImportError:
        pass
    rows: dict[tuple[str, int], dict] = {}
    for n in SIZES:
        for mode in modes:
            rows[(f"moot ({mode})", n)] = measure([sys.executable, __file__, "--child", mode, str(n)])
        if ANCHORS.exists():
            for anchor in ("ag2", "autogen"):
                rows[(anchor, n)] = measure([str(ANCHORS), str(ROOT / "bench" / "_anchor_workloads.py"), anchor, str(n)])
    print(f"{'':18}{'messages':>9}{'us/msg':>10}{'peak RSS MB':>13}")
    for (name, n), r in rows.items():
        print(f"{name:18}{r['messages']:>9}{1e6 * r['wall_s'] / r['messages']:>10.0f}{r['peak_rss_mb']:>13.0f}")
    per = {k: 1e6 * r["wall_s"] / r["messages"] for k, r in rows.items()}
    print()
    for mode in modes:
        name = f"moot ({mode})"
        print(f"{name}: cost at 2000 / cost at 400 = {per[(name, 2000)] / per[(name, 400)]:.2f} (target <= 1.2)")
        if ANCHORS.exists():
            target = 0.5 if mode == "events" else 1.0
            for n in SIZES:
                print(f"{name} / AG2 at {n}: {per[(name, n)] / per[('ag2', n)]:.2f} (target <= {target})")
    if not ANCHORS.exists():
        print("(no anchors: run `make bench-anchors` for the AutoGen 0.4 and AG2 figures)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(run_moot(int(sys.argv[3]), sys.argv[2])))
    else:
        main()
