"""A long group chat inside a small window: three agents round robin, 60 rounds on the bundled
model with ``context_length = 2048`` and replies capped at 48 tokens, all on one loaded model,
through moot's REAL GroupChat (context budget, compaction, KV reuse), against the same calls on a
plain shared ``llama_cpp.Llama`` that is sent the whole history each turn (what a chat without a
context handler does; it fails once the history outgrows the window, and the bench says where).

Run in lockstep, call by call, each side in its own process (bench/_lockstep.py). Targets (issue
11): 0 context-overflow errors for moot; prompt tokens evaluated per turn around round 50 <= 1.5x
around round 10 (medians of rounds 48-52 and 8-12: a cut re-reads a block now and then); >= 3x
fewer prompt tokens evaluated in total than the plain baseline; peak RSS of one model instance.

    .venv/bin/python bench/long_chat.py [--reps 1] [--rounds 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lockstep import lockstep  # noqa: E402

AGENTS = {
    "writer": "You are the writer. You add one sentence to the story.",
    "editor": "You are the editor. You suggest one change to the last sentence.",
    "critic": "You are the critic. You say in one sentence what the story needs next.",
}
TASK = "Together, write a short story about a lighthouse keeper who finds a message in a bottle."


def mmm(values: list[float], fmt: str = "{:.2f}") -> str:
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    spec = {"agents": AGENTS, "task": TASK, "rounds": args.rounds, "whole": True,
            "model": {"context_length": 2048, "max_output_tokens": 48, "temperature": 0.0}}
    totals, growth, rss = [], [], []
    for rep in range(args.reps):
        run = lockstep(spec)
        moot, plain, end = run["moot"], run["plain"], run["moot_end"]
        overflow = "context_overflow" in end["stop"] or "exceed" in end["stop"]
        failed_at = next((i + 1 for i, c in enumerate(plain) if c["error"]), None)
        per_turn = [c["evaluated"] for c in moot]
        early = statistics.median(per_turn[7:12]) if len(per_turn) >= 12 else float("nan")
        late = statistics.median(per_turn[47:52]) if len(per_turn) >= 52 else float("nan")
        m_total = sum(per_turn)
        p_total = sum(c["evaluated"] for c in plain)
        # Where the plain side fails, its calls evaluate nothing: compare the calls both made.
        upto = (failed_at - 1) if failed_at else len(plain)
        totals.append(sum(c["evaluated"] for c in plain[:upto]) / max(1, sum(per_turn[:upto])))
        growth.append(late / max(1, early))
        rss.append(end["rss_mb"] / run["plain_end"]["rss_mb"])
        print(f"rep {rep + 1}: moot {len(moot)} calls, stopped {end['stop'][:60]!r}, overflow errors: "
              f"{int(overflow)}, compactions: {len(end['compacted'])} ({', '.join(sorted(set(end['compacted'])))}), "
              f"KV states kept {end['kv_states']} ({end['kv_state_mb']:.0f} MB)")
        print(f"  prompt tokens evaluated: moot {m_total} in all, per turn median {early:.0f} around round 10 and "
              f"{late:.0f} around round 50; largest prompt {max(c['prompt'] for c in moot)} of 2048")
        print(f"  plain (whole history each turn): {p_total} evaluated; "
              + (f"fails from call {failed_at} on ({plain[failed_at - 1]['error'][:70]}), "
                 f"{sum(1 for c in plain if c['error'])} of {len(plain)} calls failed" if failed_at else "never failed"))
        print(f"  peak RSS: moot {end['rss_mb']:.0f} MB, plain {run['plain_end']['rss_mb']:.0f} MB")
    print("ratios, min / median / max:")
    print(f"  fewer prompt tokens evaluated (plain / moot), over the calls plain could make: {mmm(totals)}   "
          f"target >= 3")
    print(f"  per-turn cost around round 50 / around round 10:       {mmm(growth)}   target <= 1.5")
    print(f"  peak RSS (moot / plain):                               {mmm(rss)}   target ~1 (one instance)")


if __name__ == "__main__":
    main()
