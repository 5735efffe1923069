"""Generation tokens/s streaming through moot's llama_cpp backend vs raw llama-cpp-python.

Same model file, same prompt, same settings (greedy, same max_tokens), alternating in one run, so
the ratio is measured under the same machine load. Generation rate is timed from the first token
to the last, which leaves prompt processing out. Target: moot / raw >= 0.95.

    .venv/bin/python bench/backend_throughput.py [--rounds 6] [--max-tokens 160]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from moot.backends import ChatMessage, Completion, Delta, ModelRegistry, parse_models  # noqa: E402

PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm. Do not stop early."
CONFIG = """
schema_version = 1
[[models]]
name = "m"
backend = "llama_cpp"
model_path = "bundled:smollm2"
context_length = 2048
"""


def raw_round(llm, max_tokens: int) -> tuple[int, float]:
    first = None
    n = 0
    for chunk in llm.create_chat_completion(
        messages=[{"role": "user", "content": PROMPT}], stream=True, max_tokens=max_tokens, temperature=0.0
    ):
        if chunk["choices"][0]["delta"].get("content"):
            n += 1
            if first is None:
                first = time.perf_counter()
    return n, time.perf_counter() - (first or time.perf_counter())


async def moot_round(backend, max_tokens: int) -> tuple[int, float, int]:
    first = None
    n = 0
    tokens = 0
    async for item in backend.stream([ChatMessage("user", PROMPT)], max_tokens=max_tokens, temperature=0.0):
        if isinstance(item, Delta):
            n += 1
            if first is None:
                first = time.perf_counter()
        elif isinstance(item, Completion):
            tokens = item.usage.completion_tokens
    return n, time.perf_counter() - (first or time.perf_counter()), tokens


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--max-tokens", type=int, default=160)
    args = parser.parse_args()

    config = parse_models(CONFIG, "bench")
    registry = ModelRegistry(config)
    backend = registry.backend("m")
    await backend.load()

    from llama_cpp import Llama

    # The raw side gets the same treatment moot gives itself: one dedicated thread for every call.
    raw_thread = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    loop = asyncio.get_running_loop()
    path = str(config.get("m").resolved_model_path())
    llm = await loop.run_in_executor(
        raw_thread, lambda: Llama(model_path=path, n_ctx=2048, n_threads=os.cpu_count(), verbose=False, seed=1)
    )

    raw_rates, moot_rates = [], []
    await moot_round(backend, 8)  # warm-up, both sides
    await loop.run_in_executor(raw_thread, raw_round, llm, 8)
    for r in range(args.rounds):
        order = ("moot", "raw") if r % 2 == 0 else ("raw", "moot")
        for side in order:
            if side == "moot":
                chunks, secs, tokens = await moot_round(backend, args.max_tokens)
                moot_rates.append((chunks - 1) / secs)  # streamed pieces, counted as on the raw side
            else:
                chunks, secs = await loop.run_in_executor(raw_thread, raw_round, llm, args.max_tokens)
                raw_rates.append((chunks - 1) / secs)
            print(f"round {r + 1} {side:4}: {(moot_rates if side == 'moot' else raw_rates)[-1]:6.1f} tok/s", flush=True)
    raw_med, moot_med = statistics.median(raw_rates), statistics.median(moot_rates)
    print(f"\nraw llama-cpp-python : {raw_med:6.1f} tok/s (median of {len(raw_rates)})")
    print(f"moot llama_cpp       : {moot_med:6.1f} tok/s (median of {len(moot_rates)})")
    print(f"ratio moot/raw       : {moot_med / raw_med:.3f}  (target >= 0.95)")
    raw_thread.shutdown()
    await registry.aclose()


if __name__ == "__main__":
    asyncio.run(main())
