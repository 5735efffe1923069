"""Quality on the bundled model (SmolLM2-135M, llama.cpp on CPU, temperature 0):

- HumanEval pass@1 on the first 40 problems: ``bare`` (the model alone, one shot) vs the
  ``coder`` team (the code runs in the sandbox and the coder sees the output);
- BFCL ``simple`` and ``multiple`` (first 100 each): valid-call rate and accuracy, moot's grammar
  (``tool_call_mode = "grammar"``) vs plain prompting (``"text"``). Targets: 100% valid calls
  with the grammar; constrained accuracy >= 2x plain. The bare team of the bfcl suite asks for
  a call (``tool_choice = "required"``, as a team file's member can): with the grammar the reply
  is one or more calls whose arguments match the functions' schemas; plain prompting gets the
  same prompt with nothing forcing it.

Slow on 2 shared cores (an hour or more): each part prints as it finishes and is appended to
``--out`` (JSON lines), so a part that did not finish still leaves the others.

    .venv/bin/python bench/eval_quality.py [--humaneval 40] [--bfcl 100] [--parallel 1] [--only bfcl]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

SMOL = {"backend": "llama_cpp", "model_path": "bundled:smollm2", "context_length": 4096, "max_output_tokens": 384,
        "temperature": 0.0}


def part(name: str, out: Path, **kwargs) -> dict:
    from moot.evals import run_eval

    started = time.perf_counter()
    s = run_eval(**kwargs)
    row = {"part": name, "run": s.run.id, "n": s.n, "pass_rate": round(s.pass_rate, 4),
           "interval": [round(x, 4) for x in s.interval], "valid": round(s.metrics.get("valid", 0.0), 4),
           "failures": dict(s.failures), "tokens": s.prompt_tokens + s.completion_tokens,
           "wall_s": round(time.perf_counter() - started, 1)}
    print(json.dumps(row), flush=True)
    with out.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--humaneval", type=int, default=40)
    parser.add_argument("--bfcl", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--only", choices=("bfcl", "humaneval"))
    parser.add_argument("--modes", default="grammar,text", help="bfcl: the tool_call_mode values to run")
    parser.add_argument("--out", default="bench/eval_quality.jsonl")
    args = parser.parse_args()
    from moot.backends.config import models_document, toml_document

    out = Path(args.out)
    threads = max(1, (os.cpu_count() or 2) // args.parallel)
    with tempfile.TemporaryDirectory(prefix="moot-bench-quality-") as tmp:
        os.environ.setdefault("MOOT_HOME", str(Path(tmp) / "home"))
        models = Path(tmp) / "models.toml"
        models.write_text(toml_document(models_document(
            {"smol": {**SMOL, "options": {"n_threads": threads}},
             # a call fits in 128 tokens; a reply that is no call stops there too
             "smol-call": {**SMOL, "max_output_tokens": 128, "options": {"n_threads": threads}}}, default="smol")))
        common = {"models": str(models), "parallel": args.parallel, "seed": 0, "timeout_s": 600}
        rows = {}
        if args.only in (None, "humaneval"):
            for team in ("bare", "coder"):
                rows[("humaneval", team)] = part(f"humaneval {team}", out, suite="humaneval", team=team,
                                                 limit=args.humaneval, executor="sandbox", **common)
        if args.only in (None, "bfcl"):
            for category in ("simple", "multiple"):
                for mode in args.modes.split(","):
                    rows[(category, mode)] = part(f"bfcl:{category} {mode}", out, suite=f"bfcl:{category}",
                                                  team="bare", limit=args.bfcl, tool_call_mode=mode, model="smol-call",
                                                  **common)
    print("\nsummary (SmolLM2-135M, temperature 0)")
    for (a, b), r in rows.items():
        extra = f", valid calls {r['valid']:.0%}" if a != "humaneval" else ""
        print(f"  {a:<9} {b:<8} pass {r['pass_rate']:.1%} of {r['n']}{extra}; {r['wall_s']:.0f} s")
    for category in ("simple", "multiple"):
        g, t = rows.get((category, "grammar")), rows.get((category, "text"))
        if g and t:
            ratio = g["pass_rate"] / t["pass_rate"] if t["pass_rate"] else float("inf")
            print(f"  bfcl {category}: constrained / plain accuracy = {ratio:.2f}x (target >= 2x); "
                  f"valid with the grammar {g['valid']:.0%} (target 100%)")


if __name__ == "__main__":
    main()
