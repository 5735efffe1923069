"""The eval runner on the scripted backend: exact scores, each task a recorded session, timeouts
(soft and hard) scored as failures while the eval goes on, repeats with their interval, and
record then replay giving the same scores with no model."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CODE_REPLIES, SUM_SUITE, write_models, write_suite
from moot.agents import Session
from moot.evals import EvalStore, SuiteError, load_suite, run_eval, wilson
from moot.memory import SessionStore


def scores(summary) -> dict[tuple[str, int], bool]:
    return {(r.task_id, r.repeat): r.passed for r in summary.results}


def test_a_jsonl_suite_gets_exact_scores_and_every_task_is_a_recorded_session(tmp_path, scripted):
    suite = write_suite(tmp_path, SUM_SUITE)
    summary = run_eval(str(suite), "coder", models=str(scripted), parallel=2, executor="sandbox", timeout_s=60)
    assert scores(summary) == {("sum", 0): True, ("wrong", 0): False, ("expr", 0): True, ("regex", 0): True}, [r.detail for r in summary.results]
    assert summary.pass_rate == 0.75 and summary.failures == {"check": 1}
    wrong = next(r for r in summary.results if r.task_id == "wrong")
    assert wrong.detail == "contains: '55' is not in the transcript"
    store = SessionStore.open_default()
    for r in summary.results:
        info = store.get(r.session)  # moot sessions show/resume can open it
        assert info.team_name == "coder" and info.outcome == "completed" and r.outcome == "completed"
        assert info.title == f"eval {summary.run.id}: {r.task_id} #1"
        assert r.prompt_tokens > 0 and r.completion_tokens > 0
    # the eval table holds the run and its results
    with EvalStore.open_default() as evals:
        assert evals.get(summary.run.id).suite == str(suite)
        assert len(evals.results(summary.run.id)) == 4 and evals.missing(summary.run.id) == []


def test_repeats_give_an_interval_and_seeds_per_repeat(tmp_path, scripted):
    suite = write_suite(tmp_path, SUM_SUITE[:2])
    summary = run_eval(str(suite), "coder", models=str(scripted), repeat=3, seed=7, executor="sandbox")
    assert summary.n == 6 and summary.passed == 3
    assert summary.interval == wilson(3, 6)
    lo, hi = summary.interval
    assert 0.18 < lo < 0.19 and 0.81 < hi < 0.82  # Wilson 95% for 3/6
    assert summary.per_task == {"sum": (3, 3), "wrong": (0, 3)}
    assert wilson(0, 0) == (0.0, 0.0) and wilson(5, 5)[1] == 1.0


@pytest.mark.parametrize("line, expected", [
    ('{"id": "a", "task": "x", "contains": "y"}\n{"id": "b", "task": "x", "contans": "y"}',
     ":2: field 'contans': unknown"),
    ('{"id": "a", "task": "x"}', ":1: no check: give at least one of contains, regex, exit_code, expr"),
    ('{"task": "x", "contains": "y"}', ":1: field 'id': missing"),
    ('{"id": "a", "task": "x", "exit_code": "0"}', ":1: field 'exit_code': must be an integer"),
    ('{"id": "a", "task": "x", "regex": "("}', ":1: field 'regex': not a regular expression"),
    ('{"id": "a", "task": "x", "expr": "1 +"}', ":1: field 'expr': not a Python expression"),
    ('\n\n{"id": "a", "task": "x", "contains": "y"\n', ":3: not JSON"),
    ('{"id": "a", "task": "x", "contains": "y"}\n{"id": "a", "task": "z", "contains": "y"}',
     ":2: field 'id': 'a' is already the id of line 1"),
    ('["a"]', ":1: a task is a JSON object"),
])
def test_a_malformed_line_names_the_file_the_line_and_the_field(tmp_path, line, expected):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite(str(path))
    assert str(info.value).startswith(str(path)) and expected in str(info.value)


def test_a_task_that_hangs_is_stopped_by_its_timeout_and_the_eval_goes_on(tmp_path):
    # The model streams one piece a minute: cancelled in its worker at the timeout, recorded as a stop.
    slow = write_models(tmp_path, ["a reply that takes forever"], name="slow", chunk_delay_s=60,
                        fast={"replies": CODE_REPLIES})
    suite = write_suite(tmp_path, [{"id": "hangs", "task": "x", "contains": "forever"}])
    summary = run_eval(str(suite), "coder", models=str(slow), timeout_s=2, executor="sandbox")
    (hung,) = summary.results
    assert not hung.passed and hung.kind == "timeout" and "2 s" in hung.detail
    assert SessionStore.open_default().get(hung.session).outcome in ("cancelled", "interrupted")
    # A check that never ends in native code (a catastrophic regex): the worker is killed, the next task runs.
    fine = write_models(tmp_path, ["a" * 40 + "!"])
    suite = write_suite(tmp_path, [{"id": "regex-bomb", "task": "x", "regex": "^(a+)+$"},
                                   {"id": "after", "task": "x", "contains": "aaa"}], "bomb.jsonl")
    summary = run_eval(str(suite), "bare", models=str(fine), timeout_s=1, parallel=1)
    assert scores(summary) == {("regex-bomb", 0): False, ("after", 0): True}
    bomb = next(r for r in summary.results if r.task_id == "regex-bomb")
    assert bomb.kind == "timeout" and "worker was killed" in bomb.detail
    assert bomb.session  # found by its title: the session the killed worker was running


def test_record_then_replay_gives_identical_scores_without_the_model(tmp_path, scripted):
    suite = write_suite(tmp_path, SUM_SUITE)
    first = run_eval(str(suite), "coder", models=str(scripted), record=True, executor="sandbox", parallel=2)
    scripted.unlink()  # no model left: the replay serves the recorded answers
    again = run_eval(str(suite), replay=first.run.id, parallel=2)
    assert scores(again) == scores(first) and again.run.options["replay_of"] == first.run.id
    assert {r.session for r in again.results}.isdisjoint({r.session for r in first.results})
    # the sessions gone from the store: the recording kept in the eval table is enough
    store = SessionStore.open_default()
    for r in first.results:
        store.delete(r.session)
    for r in again.results:
        store.delete(r.session)
    third = run_eval(str(suite), replay=first.run.id)
    assert scores(third) == scores(first)


def test_the_bare_team_is_one_model_reply(tmp_path):
    models = write_models(tmp_path, ["forty-two"])
    suite = write_suite(tmp_path, [{"id": "q", "task": "the answer?", "expr": "final == 'forty-two' and len(messages) == 2"}])
    summary = run_eval(str(suite), "bare", models=str(models))
    assert summary.pass_rate == 1.0
    info = SessionStore.open_default().get(summary.results[0].session)
    assert info.team_name == "bare"
    # the session reopens as any recorded session does
    session = Session.open(info.id)
    assert session.team.name == "bare"


def test_a_damaged_eval_table_is_reported_and_left_alone(tmp_path, monkeypatch):
    from moot.evals import EvalStoreError

    bad = tmp_path / "evals.db"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(EvalStoreError) as info:
        EvalStore(bad)
    assert str(bad) in str(info.value) and "will not overwrite" in str(info.value)
    assert bad.read_bytes() == b"not a database at all" * 100


def test_run_eval_from_a_script_that_is_no_file(tmp_path, scripted):
    """``python -`` (or -c): the spawned workers must not try to import a main script that is not there."""
    import subprocess
    import sys

    suite = write_suite(tmp_path, SUM_SUITE[:1])
    code = (f"from moot.evals import run_eval\n"
            f"print(run_eval({str(suite)!r}, 'coder', models={str(scripted)!r}, parallel=2, executor='sandbox').pass_rate)\n")
    r = subprocess.run([sys.executable, "-"], input=code, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "1.0", r.stderr[-2000:]


def test_record_then_replay_of_the_memory_suite_gives_identical_scores(tmp_path):
    """The learning call's answer is in no message: the replay rebuilds it from the memos the
    recording stored, so the new session recalls as the recorded one did."""
    import json

    from moot.backends.config import scripted_models
    from moot.memory.memos import MemoStore

    learn = json.dumps({"memos": [{"kind": "preference", "match": "the user's favourite colour",
                                   "recall": "The user's favourite colour is teal.", "replaces": None}]})
    models = write_models(tmp_path, [learn, "Your favourite colour is teal."])
    first = run_eval("memory", "bare", models=str(models), limit=3, record=True)
    full = {(r.task_id, r.repeat): (r.passed, r.kind, r.detail, r.metrics["recalled"], r.metrics["answered"])
            for r in first.results}
    assert full[("memory-1", 0)] == (True, "", "", True, True)  # taught, recalled, answered
    assert full[("memory-2", 0)][:2] == (False, "not_recalled")
    models.unlink()
    again = run_eval("memory", replay=first.run.id)
    assert {(r.task_id, r.repeat): (r.passed, r.kind, r.detail, r.metrics["recalled"], r.metrics["answered"])
            for r in again.results} == full
    store = SessionStore.open_default()
    taught = next(r for r in again.results if r.task_id == "memory-1").metrics["sessions"][0]
    assert [e["recall"] for e in store.events(taught) if e["type"] == "memory_stored"] == \
        ["The user's favourite colour is teal."]  # the replayed session learnt it again
    # nothing is left behind: not in the eval's collection, not in the user's own memos
    for collection in ("moot-eval", "memos"):
        config = scripted_models({"x": ["-"]})
        memos = MemoStore.from_config(config.memory.model_copy(update={"collection": collection}))
        assert memos.list(pending=None) == []
        memos.close()
