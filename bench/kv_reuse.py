"""KV-cache reuse in a local group chat: four agents, different system prompts, one growing
transcript, twelve turns, all on ONE loaded model.

Variants, each in its own process (so peak memory is its own):
- moot     : moot's llama_cpp backend (shared-prefix layout + kept per-agent KV states).
- states   : moot's backend with the prompt as given (system first): kept states only.
- plain    : one plain shared ``Llama`` doing the same calls, system prompt first. This is what
             AutoGen 0.4 does when agents share a client: each agent's own system prompt breaks
             llama.cpp's prefix match, so the whole transcript is re-read every turn.
- per-agent: one ``Llama`` per agent (the other way to get reuse): its memory is the point.

Every variant sees the same inputs: after each turn a fixed reply text is appended to the
transcript (what the agent generated is timed but not kept), and generation is greedy with the
same max_tokens. Targets: moot evaluates >= 4x fewer prompt tokens and takes >= 2x less wall time
than plain, with one model in memory.

    .venv/bin/python bench/kv_reuse.py
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AGENTS = {
    "planner": "You are the planner. Break the work into small, ordered steps and name who does each.",
    "coder": "You are the coder. You write small, correct Python functions with type hints.",
    "reviewer": "You are the reviewer. You point out bugs, missing tests and unclear names.",
    "tester": "You are the tester. You propose concrete test cases with inputs and expected outputs.",
}
TASK = (
    "Task: write a Python module that parses dates written in many formats (ISO 8601, '3 March 2024', "
    "'03/04/24' with a day-first option, 'yesterday', 'next friday'), returns datetime.date objects, "
    "raises a clear ValueError naming the input when it cannot parse, and comes with tests. "
    "Constraints: standard library only, no regular expressions longer than one line, and every public "
    "function documented. The module will be used by a command-line tool that reads dates from users "
    "in many countries, so ambiguous dates must follow the day-first option. "
) * 2
REPLY = "I agree with the plan so far. Next I will handle the relative dates and add two tests for them."
TURNS = 12
MAX_TOKENS = 24
CONFIG = """
schema_version = 1
[[models]]
name = "m"
backend = "llama_cpp"
model_path = "bundled:smollm2"
context_length = 4096
options = {{ prompt_layout = "{layout}" }}
"""


def turns():
    """(agent, transcript) for each turn; the transcript grows by one fixed reply a turn."""
    names = list(AGENTS)
    transcript = [("user", TASK)]
    for t in range(TURNS):
        agent = names[t % len(names)]
        yield agent, list(transcript)
        transcript.append(("user", f"{agent}: {REPLY}"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_path() -> str:
    from moot.backends import parse_models

    return str(parse_models(CONFIG.format(layout="as_given"), "bench").get("m").resolved_model_path())


async def run_moot(layout: str) -> dict:
    from moot.backends import ChatMessage, ModelRegistry, parse_models

    registry = ModelRegistry(parse_models(CONFIG.format(layout=layout), "bench"))
    backend = registry.backend("m")
    await backend.load()
    evaluated = prompt = 0
    started = time.perf_counter()
    for agent, transcript in turns():
        messages = [ChatMessage("system", AGENTS[agent])] + [ChatMessage(r, c) for r, c in transcript]
        done = await backend.complete(messages, max_tokens=MAX_TOKENS, temperature=0.0)
        evaluated += done.usage.evaluated_prompt_tokens
        prompt += done.usage.prompt_tokens
    return {"evaluated": evaluated, "prompt": prompt, "wall_s": time.perf_counter() - started, "models_loaded": 1}


def _plain_llama(path: str):
    from llama_cpp import Llama

    llm = Llama(model_path=path, n_ctx=4096, n_threads=os.cpu_count(), verbose=False, seed=1)
    counter = {"evaluated": 0}
    original = llm.eval

    def counting_eval(tokens):
        counter["evaluated"] += len(tokens)
        return original(tokens)

    llm.eval = counting_eval
    return llm, counter


def run_plain(per_agent: bool) -> dict:
    path = model_path()
    instances = {}
    if per_agent:
        for agent in AGENTS:
            instances[agent] = _plain_llama(path)
    else:
        shared = _plain_llama(path)
        instances = {agent: shared for agent in AGENTS}
    generated = 0
    started = time.perf_counter()
    for agent, transcript in turns():
        llm, _ = instances[agent]
        messages = [{"role": "system", "content": AGENTS[agent]}] + [{"role": r, "content": c} for r, c in transcript]
        out = llm.create_chat_completion(messages=messages, max_tokens=MAX_TOKENS, temperature=0.0)
        generated += out["usage"]["completion_tokens"]
    wall = time.perf_counter() - started
    # Every token fed to eval(), less the generated ones (each is evaluated once to sample the next).
    counters = {id(c): c for _, c in instances.values()}
    evaluated = sum(c["evaluated"] for c in counters.values()) - generated
    return {"evaluated": evaluated, "wall_s": wall, "models_loaded": len(counters)}


def child(variant: str) -> None:
    if variant in ("moot", "states"):
        result = asyncio.run(run_moot("shared_prefix" if variant == "moot" else "as_given"))
    else:
        result = run_plain(per_agent=variant == "per-agent")
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def main() -> None:
    results = {}
    for variant in ("plain", "moot", "states", "per-agent"):
        proc = subprocess.run([sys.executable, __file__, "--child", variant], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            sys.exit(f"{variant} failed:\n{proc.stderr}")
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
        r = results[variant]
        print(f"{variant:9}: {r['evaluated']:6d} prompt tokens evaluated · {r['wall_s']:6.1f} s · "
              f"peak RSS {r['peak_rss_mb']:6.0f} MB · {r['models_loaded']} model(s) loaded", flush=True)
    plain, moot = results["plain"], results["moot"]
    print(f"\nprompt tokens evaluated, plain / moot : {plain['evaluated'] / moot['evaluated']:.1f}x fewer  (target >= 4x)")
    print(f"wall time, plain / moot              : {plain['wall_s'] / moot['wall_s']:.1f}x less   (target >= 2x)")
    print(f"peak memory, moot vs plain            : {moot['peak_rss_mb']:.0f} MB vs {plain['peak_rss_mb']:.0f} MB; "
          f"one instance per agent: {results['per-agent']['peak_rss_mb']:.0f} MB")
    states = results["states"]
    print(f"kept states alone (system first)      : {plain['evaluated'] / states['evaluated']:.1f}x fewer tokens, "
          f"{plain['wall_s'] / states['wall_s']:.1f}x less time")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
