"""``moot eval SUITE --team T``: run a suite (each task a recorded session), with a progress bar
and a final table; ``moot eval list``, ``moot eval show RUN``, ``moot eval compare RUN_A RUN_B``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from .cli_output import Column, print_json, print_table

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
ACTIONS = ("list", "show", "compare")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def print_summary(s: Any, console: Console) -> None:
    """The final table: pass rate with its interval, tokens, wall, stop outcomes, failures by kind."""
    lo, hi = s.interval
    rows = [["pass rate", f"{_pct(s.pass_rate)} ({s.passed}/{s.n}) · 95% interval {_pct(lo)}–{_pct(hi)}"],
            ["tokens", f"{s.prompt_tokens + s.completion_tokens} ({s.prompt_tokens} prompt + {s.completion_tokens} "
                       f"completion; {(s.prompt_tokens + s.completion_tokens) / max(1, s.n):.0f} a task)"],
            ["wall", f"{s.wall_s:.1f} s in tasks ({s.wall_s / max(1, s.n):.2f} s a task)"],
            ["stop outcomes", ", ".join(f"{k} {v}" for k, v in s.outcomes.most_common()) or "-"],
            ["failures", ", ".join(f"{k} {v}" for k, v in s.failures.most_common()) or "none"]]
    rows += [[name, _pct(rate)] for name, rate in s.metrics.items()]
    if s.missing:
        rows.append(["missing", Text(f"{s.missing} task(s) not run yet: moot eval --resume {s.run.id}", style="yellow")])
    print_table(console, f"eval {s.run.id}: {s.run.suite} · team {s.run.team} · model {s.run.model or 'default'}",
                [Column("figure", no_wrap=True), Column("value")], rows)
    failed = [r for r in s.results if not r.passed]
    if failed:
        print_table(console, "failed tasks", [Column("task", no_wrap=True), Column("kind", no_wrap=True),
                                              Column("session", no_wrap=True), Column("detail")],
                    [[f"{r.task_id} #{r.repeat + 1}", r.kind, r.session or "-", r.detail] for r in failed[:50]])


def _store():
    from moot.evals import EvalStore

    return EvalStore.open_default()


def cmd_eval(args: argparse.Namespace) -> int:
    from moot.backends import ConfigError
    from moot.evals import EvalStoreError, SuiteError, run_eval

    words = args.words
    if not words and not (args.resume or args.replay):
        err.print("moot eval: name a suite (humaneval, bfcl, selection, stall, memory or a JSONL file), or list, show RUN, "
                  "compare A B", markup=False)
        return EXIT_CONFIG
    if words and words[0] in ACTIONS and not Path(words[0]).is_file():
        return {"list": cmd_list, "show": cmd_show, "compare": cmd_compare}[words[0]](args, words[1:])
    if len(words) > 1:
        err.print(f"moot eval: one suite at a time (got {' '.join(words)})", markup=False)
        return EXIT_CONFIG
    if not (args.team or args.replay or args.resume):
        err.print("moot eval: --team is needed (a team name or file; bare: the model alone)", markup=False)
        return EXIT_CONFIG
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("passed {task.fields[passed]}"), TimeElapsedColumn(), console=err,
                        transient=True, disable=args.json or not err.is_terminal)
    bar: dict[str, Any] = {}

    def started(run_id: str, total: int) -> None:
        err.print(Text(f"eval {run_id} (moot eval show {run_id})", style="dim"))
        bar["run"] = run_id
        bar["id"] = progress.add_task(run_id, total=total, passed=0, completed=0)
        bar["passed"] = 0

    def finished(result: Any, done: int, total: int) -> None:
        bar["passed"] += result.passed
        progress.update(bar["id"], completed=done, passed=bar["passed"])
        if not err.is_terminal and not args.json:
            mark = "pass" if result.passed else f"FAIL {result.kind}"
            err.print(f"[{done}/{total}] {result.task_id} #{result.repeat + 1}: {mark}", markup=False)

    try:
        with progress:
            summary = run_eval(words[0] if words else "", args.team, models=args.models, model=args.model, limit=args.limit,
                               repeat=args.repeat, parallel=args.parallel, runner=args.runner,
                               ray_address=args.ray_address, seed=args.seed, record=args.record, replay=args.replay,
                               resume=args.resume, timeout_s=args.timeout, executor=args.executor,
                               tool_call_mode=args.tool_call_mode, otel_file=args.otel_file,
                               otel_content=args.otel_content, on_start=started, on_result=finished)
    except ConfigError:
        raise
    except KeyboardInterrupt:
        run_id = bar.get("run", "RUN")
        err.print(Text(f"moot eval: interrupted; finish it with `moot eval --resume {run_id}`", style="yellow"))
        return EXIT_INTERRUPTED
    except (SuiteError, EvalStoreError, ValueError, ImportError) as exc:
        err.print(Text(f"moot eval: {exc}", style="bold red"))
        return EXIT_CONFIG
    if args.html:
        from moot.evals import html_report

        Path(args.html).write_text(html_report(summary), encoding="utf-8")
    if args.json:
        print_json(out, summary.to_dict())
    else:
        print_summary(summary, out)
        if args.html:
            out.print(f"report: {args.html}", markup=False)
    return EXIT_OK


def cmd_list(args: argparse.Namespace, rest: list[str]) -> int:
    from moot.evals import summarise

    store = _store()
    runs = store.list(limit=args.limit)
    summaries = [summarise(r, store.results(r.id)) for r in runs]
    if args.json:
        print_json(out, {"runs": [{k: v for k, v in s.to_dict().items() if k != "tasks"} for s in summaries]})
        return EXIT_OK
    if not runs:
        out.print("no eval runs yet (moot eval SUITE --team TEAM runs one)")
        return EXIT_OK
    import time

    rows = [[s.run.id, time.strftime("%Y-%m-%d %H:%M", time.localtime(s.run.created)), s.run.suite, s.run.team,
             s.run.model or "default", f"{_pct(s.pass_rate)} ({s.passed}/{s.n})",
             Text(f"{s.missing} missing", style="yellow") if s.missing else "done"] for s in summaries]
    print_table(out, "eval runs", [Column("run", no_wrap=True), Column("when", no_wrap=True), Column("suite"),
                                   Column("team"), Column("model"), Column("pass rate", no_wrap=True),
                                   Column("status", no_wrap=True)], rows)
    return EXIT_OK


def _summary(run_id: str) -> Any:
    from moot.evals import summarise

    store = _store()
    run = store.get(run_id)
    return summarise(run, store.results(run.id))


def cmd_show(args: argparse.Namespace, rest: list[str]) -> int:
    from moot.evals import EvalStoreError, html_report

    if len(rest) != 1:
        err.print("moot eval show RUN: name one run (moot eval list shows them)", markup=False)
        return EXIT_CONFIG
    try:
        s = _summary(rest[0])
    except EvalStoreError as exc:
        err.print(Text(f"moot eval: {exc}", style="bold red"))
        return EXIT_CONFIG
    if args.html:
        Path(args.html).write_text(html_report(s), encoding="utf-8")
    if args.json:
        print_json(out, s.to_dict())
        return EXIT_OK
    print_summary(s, out)
    rows = [[f"{r.task_id} #{r.repeat + 1}", Text("pass", style="green") if r.passed else Text(r.kind, style="red"),
             str(r.tokens), f"{r.wall_s:.2f}", r.outcome or "-", r.session or "-"] for r in s.results]
    print_table(out, "tasks", [Column("task", no_wrap=True), Column("result", no_wrap=True), Column("tokens"),
                               Column("wall s"), Column("outcome"), Column("session", no_wrap=True)], rows)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace, rest: list[str]) -> int:
    from moot.evals import EvalStoreError, compare

    if len(rest) != 2:
        err.print("moot eval compare RUN_A RUN_B: name two runs", markup=False)
        return EXIT_CONFIG
    try:
        c = compare(_summary(rest[0]), _summary(rest[1]))
    except EvalStoreError as exc:
        err.print(Text(f"moot eval: {exc}", style="bold red"))
        return EXIT_CONFIG
    if args.json:
        print_json(out, c.to_dict())
        return EXIT_OK
    sign = "+" if c.delta >= 0 else ""
    out.print(f"pass rate {_pct(c.a.pass_rate)} ({c.a.run.id}) -> {_pct(c.b.pass_rate)} ({c.b.run.id}): "
              f"{sign}{100 * c.delta:.1f} points", markup=False)
    for title, items, style in (("regressed", c.regressed, "red"), ("improved", c.improved, "green")):
        rows = [[Text(t, style=style), _pct(a), _pct(b)] for t, a, b in items]
        print_table(out, f"{title}: {len(items)}", [Column("task"), Column("A"), Column("B")], rows)
    return EXIT_OK


def add_eval_commands(sub: Any) -> None:
    p = sub.add_parser("eval", help="measure a team on a suite (each task a recorded session); list, show, compare runs",
                       description="moot eval SUITE --team TEAM [options] | moot eval list | moot eval show RUN | "
                                   "moot eval compare RUN_A RUN_B. SUITE: humaneval, bfcl (bfcl:simple, "
                                   "bfcl:multiple, bfcl:parallel), selection, stall, memory, or a JSONL file of tasks.")
    p.add_argument("words", nargs="*", metavar="SUITE|list|show|compare", help="a suite, or list / show RUN / compare A B")
    p.add_argument("--team", help="a team name or file; bare: the model alone, one shot")
    p.add_argument("--model", help="the models.toml model every member without its own uses")
    p.add_argument("--limit", type=int, help="the first N tasks (list: the last N runs; --resume: only the missing "
                   "among the run's first N, default the run's own)")
    p.add_argument("--repeat", type=int, help="run each task K times (the interval is over all runs; default 1; "
                   "--resume: only the missing among the first K repeats, default the run's own)")
    p.add_argument("--parallel", type=int, help="tasks at once (local: worker processes, default 1; ray: default the "
                   "cluster's CPUs)")
    p.add_argument("--runner", choices=("local", "ray"), help="local process pool (the default; --resume: the run's) or Ray "
                   "(moot[ray])")
    p.add_argument("--ray-address", help="a Ray cluster to join (default: start a local one)")
    p.add_argument("--seed", type=int, help="the models' seed (repeat r uses SEED + r)")
    p.add_argument("--timeout", type=float, help="seconds a task may take (default 600)")
    p.add_argument("--executor", choices=("docker", "sandbox", "local"), help="where code runs (overrides the team)")
    p.add_argument("--tool-call-mode", choices=("native", "grammar", "text"),
                   help="how tool calls come back (grammar: moot's constrained decoding; text: plain prompting)")
    p.add_argument("--json", action="store_true", help='print {"run", "pass_rate", "tasks": [...]} as JSON')
    p.add_argument("--record", action="store_true", help="keep every model answer, so --replay needs no model")
    p.add_argument("--replay", metavar="RUN", help="run RUN's tasks again from its recorded answers (no model)")
    p.add_argument("--resume", metavar="RUN", help="finish the tasks of RUN that have no result (with its settings; "
                   "--limit/--repeat narrow it)")
    p.add_argument("--html", metavar="FILE", help="write a one-file HTML report")
    p.add_argument("--otel-file", metavar="FILE", help="OpenTelemetry spans as JSON lines (off by default)")
    p.add_argument("--otel-content", action="store_true", help="put message contents in the spans (off by default)")
    p.set_defaults(func=cmd_eval)
