"""What an eval run amounts to: pass rate with its 95% interval, tokens, wall time, how the
sessions stopped, failures by kind, per-task rates; two runs compared; a one-file HTML report."""

from __future__ import annotations

import html
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from ._store import EvalRun, TaskResult

__all__ = ["Comparison", "Summary", "compare", "html_report", "summarise", "wilson"]


def wilson(passed: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of ``passed`` out of ``n`` (95% by default); (0, 0) for n = 0."""
    if n == 0:
        return 0.0, 0.0
    p = passed / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return max(0.0, (centre - margin) / denominator), min(1.0, (centre + margin) / denominator)


@dataclass
class Summary:
    run: EvalRun
    results: list[TaskResult]
    passed: int = 0
    n: int = 0
    interval: tuple[float, float] = (0.0, 0.0)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    per_task: dict[str, tuple[int, int]] = field(default_factory=dict)  # task -> (passed, runs)
    metrics: dict[str, float] = field(default_factory=dict)  # suite metrics as rates (bfcl: valid)
    missing: int = 0

    @property
    def pass_rate(self) -> float:
        return self.passed / self.n if self.n else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.run.to_dict(), "pass_rate": self.pass_rate, "passed": self.passed, "runs": self.n,
                "interval": list(self.interval), "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "wall_s": round(self.wall_s, 3),
                "outcomes": dict(self.outcomes), "failures": dict(self.failures), "metrics": self.metrics,
                "missing": self.missing, "tasks": [r.to_dict() for r in self.results]}


def summarise(run: EvalRun, results: list[TaskResult]) -> Summary:
    s = Summary(run, results)
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    flags: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in results:
        s.n += 1
        s.passed += r.passed
        s.prompt_tokens += r.prompt_tokens
        s.completion_tokens += r.completion_tokens
        s.wall_s += r.wall_s
        s.outcomes[r.outcome or "none"] += 1
        if not r.passed:
            s.failures[r.kind or "failed"] += 1
        per[r.task_id][0] += r.passed
        per[r.task_id][1] += 1
        for key, value in r.metrics.items():
            if isinstance(value, bool):
                flags[key][0] += value
                flags[key][1] += 1
    s.interval = wilson(s.passed, s.n)
    s.per_task = {t: (p, n) for t, (p, n) in per.items()}
    s.metrics = {k: p / n for k, (p, n) in flags.items() if n}
    s.missing = len(run.planned) - len({(r.task_id, r.repeat) for r in results})
    return s


@dataclass
class Comparison:
    a: Summary
    b: Summary
    regressed: list[tuple[str, float, float]]  # task, rate in A, rate in B
    improved: list[tuple[str, float, float]]

    @property
    def delta(self) -> float:
        return self.b.pass_rate - self.a.pass_rate

    def to_dict(self) -> dict[str, Any]:
        row = lambda t: {"id": t[0], "a": t[1], "b": t[2]}  # noqa: E731
        return {"a": self.a.run.id, "b": self.b.run.id, "pass_rate_a": self.a.pass_rate,
                "pass_rate_b": self.b.pass_rate, "delta": self.delta,
                "regressed": [row(t) for t in self.regressed], "improved": [row(t) for t in self.improved]}


def compare(a: Summary, b: Summary) -> Comparison:
    """The tasks both runs ran whose pass rate fell (regressed) or rose (improved) from A to B."""
    regressed, improved = [], []
    for task, (pa, na) in a.per_task.items():
        if task not in b.per_task:
            continue
        pb, nb = b.per_task[task]
        ra, rb = pa / na, pb / nb
        if rb < ra:
            regressed.append((task, ra, rb))
        elif rb > ra:
            improved.append((task, ra, rb))
    return Comparison(a, b, regressed, improved)


def html_report(s: Summary) -> str:
    """One self-contained HTML file: the run's figures and a chart of pass rate and tokens per task."""
    tokens: dict[str, int] = defaultdict(int)
    for r in s.results:
        tokens[r.task_id] += r.tokens
    tasks = list(s.per_task)
    most = max(tokens.values(), default=0) or 1
    bar_h, width = 18, 300
    rows = []
    for i, task in enumerate(tasks):
        p, n = s.per_task[task]
        y = i * (bar_h + 6)
        rate = p / n
        t = tokens[task] / n
        rows.append(
            f'<text x="0" y="{y + 13}" font-size="12">{html.escape(task)}</text>'
            f'<rect x="220" y="{y}" width="{width * rate:.1f}" height="{bar_h / 2 - 1}" fill="#2e7d32"/>'
            f'<text x="{224 + width * rate:.1f}" y="{y + 8}" font-size="10">{rate:.0%}</text>'
            f'<rect x="220" y="{y + bar_h / 2}" width="{width * t / most:.1f}" height="{bar_h / 2 - 1}" fill="#1565c0"/>'
            f'<text x="{224 + width * t / most:.1f}" y="{y + bar_h}" font-size="10">{t:.0f} tok</text>')
    svg_h = max(1, len(tasks)) * (bar_h + 6)
    lo, hi = s.interval
    facts = [("run", s.run.id), ("suite", s.run.suite), ("team", s.run.team), ("model", s.run.model or "default"),
             ("pass rate", f"{s.pass_rate:.1%} ({s.passed}/{s.n}; 95% interval {lo:.1%}–{hi:.1%})"),
             ("tokens", f"{s.prompt_tokens} prompt + {s.completion_tokens} completion"),
             ("wall", f"{s.wall_s:.1f} s over all tasks"),
             ("stop outcomes", ", ".join(f"{k} {v}" for k, v in s.outcomes.most_common()) or "-"),
             ("failures", ", ".join(f"{k} {v}" for k, v in s.failures.most_common()) or "none")]
    facts += [(k, f"{v:.1%}") for k, v in s.metrics.items()]
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
    failed = "".join(f"<tr><td>{html.escape(r.task_id)} #{r.repeat + 1}</td><td>{html.escape(r.kind)}</td>"
                     f"<td>{html.escape(r.detail)}</td><td>{html.escape(r.session)}</td></tr>"
                     for r in s.results if not r.passed)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>moot eval {html.escape(s.run.id)}</title>
<style>body{{font-family:sans-serif;margin:2em}}th{{text-align:left;padding-right:1em}}
td{{padding-right:1em;vertical-align:top}}</style></head><body>
<h1>moot eval {html.escape(s.run.id)}</h1>
<table>{table}</table>
<h2>Pass rate (green) and tokens (blue) per task</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="{260 + width + 80}" height="{svg_h}">{''.join(rows)}</svg>
<h2>Failures</h2>
<table><tr><th>task</th><th>kind</th><th>detail</th><th>session</th></tr>{failed}</table>
</body></html>
"""
