"""What the eval harness costs: 50 scripted runs (the coder team, its code run in the sandbox)
with --parallel 2 vs --parallel 1 (target: >= 1.7x faster), and the Ray runner's overhead per
run over the local runner (target: <= 0.3 s). Each figure is the whole ``run_eval`` call, worker
start-up included. Each round runs every variant once, one after the other; the figures are
min / median / max over the rounds, and the ratios are taken per round.

    .venv/bin/python bench/eval_harness.py [--runs 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

RUNS = 50


def setup(folder: Path, runs: int) -> tuple[Path, Path]:
    from moot.backends.config import models_document, toml_document

    models = folder / "models.toml"
    models.write_text(toml_document(models_document(
        {"s": {"replies": ["Here:\n\n```python\nprint(sum(range(10)))\n```", "It printed 45. TERMINATE"]}},
        default="s")))
    suite = folder / "suite.jsonl"
    suite.write_text("".join(json.dumps({"id": f"t{i}", "task": f"task {i}", "contains": "45", "exit_code": 0}) + "\n"
                             for i in range(runs)))
    return models, suite


def timed(**kwargs) -> tuple[float, float]:
    from moot.evals import run_eval

    started = time.perf_counter()
    summary = run_eval(team="coder", **kwargs)
    assert summary.pass_rate == 1.0, summary.failures
    return time.perf_counter() - started, summary.wall_s


def line(name: str, values: list[float], runs: int) -> str:
    return (f"{name:<26} min {min(values):6.2f} s  median {statistics.median(values):6.2f} s  max {max(values):6.2f} s"
            f"  ({statistics.median(values) / runs * 1000:5.0f} ms a run)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--executor", default="sandbox", help="where the coder team's code runs (default sandbox; "
                        "local: no namespaces or cgroup per block)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="moot-bench-eval-") as tmp:
        os.environ["MOOT_HOME"] = str(Path(tmp) / "home")
        models, suite = setup(Path(tmp), args.runs)
        common = {"suite": str(suite), "models": str(models), "executor": args.executor}
        timed(**common, limit=2)  # warm the disk cache and the sandbox probe
        ray = None
        if not args.no_ray:
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            timed(**common, limit=2, runner="ray")  # Ray's workers start once, as on a cluster already up
        one, two, remote = [], [], []
        for _ in range(args.rounds):
            one.append(timed(**common, parallel=1)[0])
            two.append(timed(**common, parallel=2)[0])
            if ray is not None:
                remote.append(timed(**common, runner="ray")[0])
        if ray is not None:
            ray.shutdown()
    print(f"eval harness, {args.runs} scripted runs (coder team, code run by the {args.executor} executor), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(line("local --parallel 1", one, args.runs))
    print(line("local --parallel 2", two, args.runs))
    ratios = [a / b for a, b in zip(one, two)]  # per round: the two ran side by side
    print(f"speed-up --parallel 2 over 1, per round: min {min(ratios):.2f}x  median {statistics.median(ratios):.2f}x  "
          f"max {max(ratios):.2f}x (target >= 1.7x)")
    if remote:
        print(line("ray (2 CPUs, started)", remote, args.runs))
        extra = [1000 * (r - t) / args.runs for r, t in zip(remote, two)]
        print(f"ray overhead per run over local --parallel 2, per round: min {min(extra):+.0f} ms  median "
              f"{statistics.median(extra):+.0f} ms  max {max(extra):+.0f} ms (target <= 300 ms)")


if __name__ == "__main__":
    main()
