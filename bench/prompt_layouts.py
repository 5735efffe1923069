"""Role-following and KV reuse of each prompt layout, in moot's REAL GroupChat on the bundled model.

Four agents whose roles can be checked by reading their replies (a pirate says "arr", a counter
writes numbers, a shouter writes capitals, a poet writes about the moon) talk round robin. For
each layout of the llama_cpp backend (``options.prompt_layout``):

- as_given          : AutoGen's rendering: the agent's system prompt first, its own messages as
                      ``assistant`` and the others' as ``user``;
- shared_prefix     : the same roles, the system prompt moved after the transcript;
- shared_transcript : every message a named ``user`` turn under one neutral system message, the
                      agent's system prompt (and who it is) last: one prefix for every agent.

it reports how many replies keep their agent's role, how many copy an earlier message word for
word, and the prompt tokens evaluated (not reused from a KV state). Each layout runs in its own
process; the repetitions are interleaved (layout A, B, C, A, B, C, ...) with different seeds.

    .venv/bin/python bench/prompt_layouts.py [--rounds 24] [--reps 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROLES = {
    "pirate": ("You are pirate. You always talk like a pirate and say 'Arr' in every message.",
               lambda t: "arr" in t.lower()),
    "counter": ("You are counter. You reply only with numbers, counting up from 1.",
                lambda t: bool(re.search(r"\d", t)) and sum(c.isalpha() for c in t) <= len(t) * 0.3),
    "shouter": ("You are shouter. YOU WRITE EVERY MESSAGE IN CAPITAL LETTERS ONLY.",
                lambda t: sum(c.isupper() for c in t) >= 0.6 * max(1, sum(c.isalpha() for c in t))),
    "poet": ("You are poet. Every message you write is a short poem about the moon.",
             lambda t: "moon" in t.lower()),
}
LAYOUTS = ("as_given", "shared_prefix", "shared_transcript")
TASK = "Let us plan a trip to the coast together. Each of you, say something."


async def _one(layout: str, rounds: int, seed: int) -> dict:
    from moot.agents import ConversableAgent, GroupChat, GroupChatManager, use_models
    from moot.agents.events import MessagePosted, UsageReport
    from moot.backends.config import scripted_models

    use_models(scripted_models({"m": {"backend": "llama_cpp", "model_path": "bundled:smollm2",
                                      "context_length": 4096, "max_output_tokens": 40, "temperature": 0.7,
                                      "options": {"prompt_layout": layout, "seed": seed}}}, source="bench"))
    agents = [ConversableAgent(n, system_message=s, llm_config="m", human_input_mode="NEVER")
              for n, (s, _) in ROLES.items()]
    chat = GroupChat(agents, max_round=rounds + 1, speaker_selection_method="round_robin")
    stream = agents[0].run_stream(GroupChatManager(chat, llm_config=False), message=TASK)
    kept = copied = replies = evaluated = 0
    seen: list[str] = [TASK]
    async for e in stream:
        if isinstance(e, UsageReport):
            evaluated += e.prompt_tokens - e.cached_tokens
        elif isinstance(e, MessagePosted) and e.sender in ROLES and e.content is not None:
            text = e.content.strip()
            replies += 1
            kept += ROLES[e.sender][1](text)
            copied += text in seen
            seen.append(text)
    return {"layout": layout, "replies": replies, "kept": kept, "copied": copied, "evaluated": evaluated}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--one", nargs=2, metavar=("LAYOUT", "SEED"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(_one(args.one[0], args.rounds, int(args.one[1])))))
        return
    results: dict[str, list[dict]] = {name: [] for name in LAYOUTS}
    for rep in range(args.reps):
        for layout in LAYOUTS:  # interleaved: each repetition runs every layout once
            out = subprocess.run([sys.executable, __file__, "--rounds", str(args.rounds), "--one", layout,
                                  str(1000 + rep)], capture_output=True, text=True, check=True)
            results[layout].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.rounds} rounds, 4 agents, {args.reps} repetitions (seeds differ); min / median / max")
    print(f"{'layout':<18} {'role kept':>22} {'copied a message':>22} {'prompt tokens evaluated':>28}")

    def mmm(values: list[float], fmt: str) -> str:
        return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))

    for layout, runs in results.items():
        kept = [r["kept"] / r["replies"] for r in runs]
        copied = [r["copied"] / r["replies"] for r in runs]
        evaluated = [r["evaluated"] for r in runs]
        print(f"{layout:<18} {mmm(kept, '{:.0%}'):>22} {mmm(copied, '{:.0%}'):>22} {mmm(evaluated, '{:.0f}'):>28}")


if __name__ == "__main__":
    main()
