"""``moot eval`` as a user runs it: --json's fields, the table, list/show/compare, --html and
--otel-file, clear errors (never a traceback), and an eval killed mid-way finished by --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import CODE_REPLIES, SUM_SUITE, moot, write_models, write_suite
from moot.evals import EvalStore


def test_json_table_list_show_compare_html_and_spans(tmp_path, scripted):
    suite = write_suite(tmp_path, SUM_SUITE)
    r = moot("--models", str(scripted), "eval", str(suite), "--team", "coder", "--executor", "sandbox", "--json",
             "--parallel", "2", "--otel-file", str(tmp_path / "spans.jsonl"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["pass_rate"] == 0.75 and data["run"]
    assert {t["id"]: t["passed"] for t in data["tasks"]} == {"sum": True, "wrong": False, "expr": True, "regex": True}
    assert all(t["session"] and t["outcome"] == "completed" for t in data["tasks"])
    # the sessions open as any other
    show = moot("sessions", "show", data["tasks"][0]["session"], cwd=tmp_path)
    assert show.returncode == 0 and "print(sum(range(10)))" in show.stdout
    # spans: one session span per task, turns and model calls beneath, tokens on them, no contents
    spans = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    roots = [s for s in spans if s["parent_id"] is None]
    assert len(roots) == 4 and {s["attributes"]["gen_ai.conversation.id"] for s in roots} == \
        {t["session"] for t in data["tasks"]}
    chats = [s for s in spans if s["name"] == "chat s"]
    assert chats and all(s["attributes"]["gen_ai.usage.input_tokens"] > 0 for s in chats)
    assert any(s["name"] == "execute_tool python" for s in spans)
    assert not any("gen_ai.output.messages" in s["attributes"] for s in spans)

    table = moot("--models", str(scripted), "eval", str(suite), "--team", "coder", "--executor", "sandbox",
                 "--limit", "2", "--html", str(tmp_path / "report.html"), cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "pass rate      50.0% (1/2)" in table.stdout and "failures       check 1" in table.stdout
    assert "<svg" in (tmp_path / "report.html").read_text()
    second = EvalStore.open_default().list()[0].id

    listed = json.loads(moot("eval", "list", "--json", cwd=tmp_path).stdout)["runs"]
    assert [run["run"] for run in listed] == [second, data["run"]]
    shown = moot("eval", "show", data["run"], cwd=tmp_path)
    assert shown.returncode == 0 and "wrong #1" in shown.stdout and "check" in shown.stdout
    compared = json.loads(moot("eval", "compare", data["run"], second, "--json", cwd=tmp_path).stdout)
    assert compared["delta"] == -0.25 and compared["regressed"] == [] and compared["improved"] == []


def test_errors_are_clear_and_never_a_traceback(tmp_path, scripted):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "task": "x", "contains": "y"}\n{"id": "b", "task": "x", "contans": "y"}\n')
    for argv, text in (
            (["eval", str(bad), "--team", "coder"], f"{bad}:2: field 'contans': unknown"),
            (["eval", "nosuch", "--team", "coder"], "no suite named 'nosuch' (suites: humaneval, bfcl"),
            (["eval", "stall"], "--team is needed"),
            (["--models", str(scripted), "eval", "stall", "--team", "nosuchteam"], "nosuchteam"),
            (["eval", "show", "nope"], "no eval run 'nope'"),
            (["--models", str(scripted), "eval", "stall", "--team", "bare", "--model", "gpt9"], "no model named 'gpt9'")):
        r = moot(*argv, cwd=tmp_path)
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        assert text in " ".join(r.stderr.split()) and "Traceback" not in r.stderr, r.stderr


def test_killing_an_eval_midway_then_resume_finishes_only_the_missing_tasks(tmp_path):
    slow = write_models(tmp_path, CODE_REPLIES, chunk_delay_s=0.15)
    tasks = [{"id": f"t{i}", "task": f"task {i}", "contains": "45"} for i in range(3)]
    suite = write_suite(tmp_path, tasks)
    argv = [sys.executable, "-m", "moot", "--models", str(slow), "eval", str(suite), "--team", "coder",
            "--executor", "sandbox", "--repeat", "2"]
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        done = []
        while time.monotonic() < deadline:
            runs = EvalStore.open_default().list()
            if runs:
                done = EvalStore.open_default().results(runs[0].id)
                if len(done) >= 2:
                    break
            time.sleep(0.1)
        assert len(done) >= 2 and proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)  # the eval and its worker, as a power cut would
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    store = EvalStore.open_default()
    run = store.list()[0]
    planned = [(t, r) for r in range(2) for t in ("t0", "t1", "t2")]
    assert run.planned == planned and run.options["repeat"] == 2 and run.options["limit"] is None
    before = {(r.task_id, r.repeat): r.session for r in store.results(run.id)}
    missing = store.missing(run.id)
    assert 2 <= len(before) < 6 and missing == [k for k in planned if k not in before]

    def resume(*more: str) -> dict:
        r = moot("eval", "--resume", run.id, "--json", *more, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert data["run"] == run.id and all(t["passed"] for t in data["tasks"])
        return {(t["id"], t["repeat"]): t["session"] for t in data["tasks"]}

    # --repeat 1: only the missing tasks of the first repeat
    first = resume("--repeat", "1")
    assert set(first) == set(before) | {k for k in missing if k[1] == 0}
    # --limit 2: only the missing among the first two tasks (both repeats)
    second = resume("--limit", "2")
    assert set(second) == set(first) | {k for k in missing if k[0] in ("t0", "t1")}
    assert EvalStore.open_default().get(run.id).finished is None  # (t2, 1) is still to run
    # no limit: the run's own plan, so what is left of it
    after = resume()
    assert set(after) == set(planned) and EvalStore.open_default().get(run.id).finished
    assert all(after[k] == v for k, v in {**before, **first, **second}.items())  # nothing done was run again
    assert len(set(after.values())) == 6


def test_ctrl_c_stops_the_eval_and_says_how_to_resume(tmp_path):
    slow = write_models(tmp_path, CODE_REPLIES, chunk_delay_s=0.2)
    suite = write_suite(tmp_path, [{"id": f"t{i}", "task": "x", "contains": "45"} for i in range(4)])
    proc = subprocess.Popen([sys.executable, "-m", "moot", "--models", str(slow), "eval", str(suite), "--team", "coder",
                             "--executor", "sandbox", "--parallel", "2"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not EvalStore.open_default().list():
            time.sleep(0.1)
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)  # as the terminal sends it: to the eval and its workers
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    run = EvalStore.open_default().list()[0]
    assert proc.returncode == 130 and f"moot eval --resume {run.id}" in err and "Traceback" not in err, err
    finished = moot("eval", "--resume", run.id, "--json", cwd=tmp_path)
    assert json.loads(finished.stdout)["missing"] == 0
