"""Teachable memory: embedding rate, add throughput, recall latency at 1k and 10k memos, and model
calls per user message while learning.

    .venv/bin/python bench/memory.py [--sizes 1000,10000] [--queries 200] [--keep DIR]

Real parts throughout: the bundled MiniLM (onnxruntime), an embedded Chroma store in a temporary
data dir, ``Teachability.recall`` (what an agent runs on every message it receives), and for
learning a scripted 20-message teaching conversation on the scripted backend.
Recall is measured twice at the largest size: memos under three labels (coder, writer, shared:
two thirds of them pass the coder's filter) and memos of 10 agents each holding its own (a tenth
pass), where the agent filter decides the cost.
CPU per recall is this process's CPU time (every thread: the embedder uses every core), steadier
than the latencies when other work shares the cores.
Targets (issues 4, 8): recall p95 <= 50 ms at 10k memos, in both cases; >= 150 embeddings/s; <= 1
model call per user message (AutoGen 0.2's Teachability makes up to about ten).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SUBJECTS = ["the billing service", "the user's laptop", "the staging cluster", "the nightly build", "the API gateway",
            "the mobile app", "the data pipeline", "the search index", "the auth module", "the release notes",
            "the user's cat", "the team's standup", "the CI runners", "the database backups", "the design system"]
FACTS = ["runs on Python 3.11", "must be deployed on Fridays only", "uses Postgres 16 with logical replication",
         "is owned by the platform team", "should be tested with make test before a merge",
         "prefers tabs over spaces", "needs a review from two people", "is hosted in Frankfurt",
         "is written in Rust since last spring", "keeps its secrets in the vault, never in the repo",
         "is called Miso and likes tuna", "starts at half past nine", "has a 90 minute timeout",
         "are encrypted and kept for 30 days", "uses an eight pixel grid"]
QUESTIONS = ["How should I deploy the billing service?", "Which Python version does the build use?",
             "Where are the database backups kept?", "What is the cat called?", "How long can a CI job run?",
             "Who owns the API gateway?", "Can you review my change to the auth module?",
             "What grid does the design system use?", "When is the standup?", "Where is staging hosted?"]


def sentences(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(FACTS)} (note {i})." for i in range(n)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def bench_embeddings() -> tuple[float, float]:
    """Sentences per second of wall time, and per second of this process's CPU time (the second
    says what the embedder costs when other work shares the cores)."""
    from moot.memory.embeddings import MiniLMEmbedding

    ef = MiniLMEmbedding()
    ef.embed(sentences(64, seed=1))  # warm-up: load the model, first runs
    texts = sentences(1024, seed=2)
    started, cpu = time.perf_counter(), time.process_time()
    ef.embed(texts)
    return len(texts) / (time.perf_counter() - started), len(texts) / (time.process_time() - cpu)


def bench_store(sizes: list[int], queries: int, root: Path) -> list[dict[str, float]]:
    from moot.agents import Teachability
    from moot.memory.memos import Memo, MemoStore, new_memo_id

    rows = []
    store = MemoStore(root / "store")
    have = 0
    rng = random.Random(3)
    for size in sizes:
        texts = sentences(size - have, seed=size)
        now = time.time()
        memos = [Memo(id=new_memo_id(), match=t, recall=t, kind="fact",
                      agent=rng.choice(["coder", "writer", "shared"]), created=now, updated=now) for t in texts]
        started = time.perf_counter()
        for i in range(0, len(memos), 256):
            store.put(memos[i:i + 256])
        add_rate = len(memos) / (time.perf_counter() - started)
        have = size
        singles, single_ids = [], []
        for t in sentences(20, seed=size + 1):
            started = time.perf_counter()
            single_ids.append(store.add(t, agent="coder").id)
            singles.append(time.perf_counter() - started)
        for memo_id in single_ids:
            store.delete(memo_id)
        single_add_ms = statistics.median(singles) * 1000
        teach = Teachability(store, policy="off", k=3, distance_threshold=0.65)
        for q in QUESTIONS:  # warm-up
            teach.recall(q, "coder")
        latencies, cpu = [], time.process_time()
        for i in range(queries):
            q = QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" ({i})")
            started = time.perf_counter()
            teach.recall(q, "coder")
            latencies.append((time.perf_counter() - started) * 1000)
        rows.append({"memos": store.count(), "add_per_s": add_rate, "single_add_ms": single_add_ms,
                     "recall_p50_ms": statistics.median(latencies), "recall_p95_ms": pct(latencies, 95),
                     "recall_cpu_ms": (time.process_time() - cpu) * 1000 / queries})
    return rows


def bench_agents(size: int, agents: int, queries: int, root: Path) -> dict[str, float]:
    """Recall when every memo belongs to one of ``agents`` agents (none shared): each recall keeps
    only about 1/agents of the nearest memos, so the agent filter decides the cost."""
    from moot.agents import Teachability
    from moot.memory.memos import Memo, MemoStore, new_memo_id

    store = MemoStore(root / f"agents{agents}")
    now = time.time()
    names = [f"agent{i}" for i in range(agents)]
    memos = [Memo(id=new_memo_id(), match=t, recall=t, kind="fact", agent=names[i % agents], created=now, updated=now)
             for i, t in enumerate(sentences(size, seed=size + 17))]
    for i in range(0, len(memos), 256):
        store.put(memos[i:i + 256])
    teach = Teachability(store, policy="off", k=3, distance_threshold=0.65)
    for i, q in enumerate(QUESTIONS):  # warm-up
        teach.recall(q, names[i % agents])
    latencies, foreign, cpu = [], 0, time.process_time()
    for i in range(queries):
        q = QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" ({i})")
        agent = names[i % agents]
        started = time.perf_counter()
        found = teach.recall(q, agent)
        latencies.append((time.perf_counter() - started) * 1000)
        foreign += sum(1 for memo, _ in found if memo.agent != agent)
    if foreign:
        raise SystemExit(f"bench/memory.py: filtered recall returned {foreign} memos of other agents")
    return {"memos": store.count(), "agents": agents, "recall_p50_ms": statistics.median(latencies),
            "recall_p95_ms": pct(latencies, 95), "recall_cpu_ms": (time.process_time() - cpu) * 1000 / queries}


CONVERSATION = [
    ("Remember: I always want my Python code indented with tabs.", True),
    ("ok", False),
    ("My name is Ada and I work on the billing service.", True),
    ("Can you write a function that sums a list?", False),
    ("thanks!", False),
    ("We deploy the billing service on Fridays only.", True),
    ("What is 17 * 23?", False),
    ("From now on, write commit messages in the imperative mood.", True),
    ("exitcode: 0 (execution succeeded)\nCode output: 391", False),
    ("Our staging cluster is hosted in Frankfurt.", True),
    ("great", False),
    ("Never put secrets in the repository; we keep them in the vault.", True),
    ("How do I reverse a string in Python?", False),
    ("Actually, I changed my mind: indent Python with 4 spaces.", True),
    ("continue", False),
    ("My cat is called Miso, remember that.", True),
    ("Which is faster, a list or a tuple?", False),
    ("Always run make test before you say a change is done.", True),
    ("looks good", False),
    ("I prefer short answers with one code block at most.", True),
]


def bench_learning(root: Path) -> dict[str, float]:
    from moot.agents import AssistantAgent, Teachability, UserProxyAgent, use_models
    from moot.backends import parse_models
    from moot.memory.memos import MemoStore

    reply = json.dumps({"memos": [{"kind": "fact", "match": "something the user taught", "recall": "a memo", "replaces": None}]})
    toml = ("schema_version = 1\n[[models]]\nname = \"bot\"\nbackend = \"scripted\"\nreplies = [\"Sure.\"]\n"
            f"[[models]]\nname = \"learner\"\nbackend = \"scripted\"\nreplies = [{json.dumps(reply)}]\n")
    registry = use_models(parse_models(toml, "bench"))
    store = MemoStore(root / "learn")
    teach = Teachability(store, learn_model="learner")
    bot = AssistantAgent("bot", llm_config="bot")
    teach.add_to_agent(bot)
    answers = [text for text, _ in CONVERSATION[1:]]

    async def human(prompt: str) -> str:
        return answers.pop(0) if answers else "exit"

    user = UserProxyAgent("user", human_input_mode="ALWAYS", code_execution_config=False)
    user.a_get_human_input = human

    async def run() -> None:
        async for _ in user.run_stream(bot, message=CONVERSATION[0][0], max_turns=len(CONVERSATION)):
            pass

    started = time.perf_counter()
    asyncio.run(run())
    elapsed = time.perf_counter() - started
    received = [m for m in bot.chat_messages[user] if m["role"] == "user"]
    calls = registry.backend("learner").calls
    return {"user_messages": len(received), "learn_calls": calls, "calls_per_message": calls / max(1, len(received)),
            "teachings": sum(1 for _, t in CONVERSATION if t), "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--agents", type=int, default=10, help="agents in the filtered-recall case (default 10)")
    parser.add_argument("--keep", help="build the stores in this folder instead of a temporary one")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        rate, cpu_rate = bench_embeddings()
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
        print(f"embedding (bundled MiniLM int8, batches of 32): {rate:.0f} sentences/s wall, {cpu_rate:.0f} per CPU-second"
              f"   (target >= 150)", flush=True)
        for row in bench_store(sizes, args.queries, root):
            print(f"{row['memos']:>6} memos: add {row['add_per_s']:.0f} memos/s in batches (one add(): median {row['single_add_ms']:.0f} ms); "
                  f"recall p50 {row['recall_p50_ms']:.1f} ms, p95 {row['recall_p95_ms']:.1f} ms, "
                  f"CPU {row['recall_cpu_ms']:.1f} ms a recall   (target p95 <= 50 ms at 10k)",
                  flush=True)
        row = bench_agents(max(sizes), args.agents, args.queries, root)
        print(f"{row['memos']:>6} memos, {row['agents']} agents each holding its own (recall filtered by agent): "
              f"p50 {row['recall_p50_ms']:.1f} ms, p95 {row['recall_p95_ms']:.1f} ms, CPU {row['recall_cpu_ms']:.1f} ms a recall"
              f"   (target p95 <= 50 ms)", flush=True)
        learn = bench_learning(root)
        print(f"learning, scripted 20-message teaching conversation: {learn['learn_calls']} model calls for "
              f"{learn['user_messages']} user messages ({learn['teachings']} teach something) = "
              f"{learn['calls_per_message']:.2f} calls per user message   (target <= 1; AutoGen 0.2: up to ~10)")


if __name__ == "__main__":
    main()
