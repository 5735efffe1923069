"""Each shipped suite on a small slice with the scripted backend (exact scores), and the BFCL
checker on BFCL's documented rules."""

from __future__ import annotations

import pytest

from conftest import write_models
from moot.evals import load_suite, run_eval
from moot.evals._bfcl import check_calls, tool_schema
from moot.memory import SessionStore

SOLUTION = '''from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for j, b in enumerate(numbers) if i != j)
'''


def results(summary) -> dict[str, tuple[bool, str]]:
    return {r.task_id: (r.passed, r.kind) for r in summary.results}


def test_humaneval_bare_and_coder_score_the_completed_function_by_its_tests(tmp_path):
    assert len(load_suite("humaneval").tasks()) == 164
    models = write_models(tmp_path, [f"```python\n{SOLUTION}```"])
    bare = run_eval("humaneval", "bare", models=str(models), limit=2, executor="sandbox")
    # problem 0 is solved; problem 1 gets problem 0's function, so its tests fail
    assert results(bare) == {"HumanEval/0": (True, ""), "HumanEval/1": (False, "tests")}
    info = SessionStore.open_default().get(bare.results[0].session)
    assert info.team_name == "bare" and info.messages == 2  # one shot: the prompt and one reply
    # the coder team: the block runs in the executor, then the coder ends it
    models = write_models(tmp_path, [f"```python\n{SOLUTION}print('ok')\n```", "Done. TERMINATE"])
    coder = run_eval("humaneval", "coder", models=str(models), limit=2, executor="sandbox")
    assert results(coder) == results(bare)
    assert SessionStore.open_default().get(coder.results[0].session).messages == 4


def test_humaneval_a_reply_that_is_only_the_body_and_a_reply_with_no_code(tmp_path):
    body = "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n"
    models = write_models(tmp_path, [f"```python\n{body}```"])
    assert results(run_eval("humaneval", "bare", models=str(models), limit=1, executor="sandbox")) == \
        {"HumanEval/0": (True, "")}
    models = write_models(tmp_path, ["while True: pass"])  # a body that never ends: the tests' timeout
    r = run_eval("humaneval", "bare", models=str(models), limit=1, executor="sandbox").results[0]
    assert (r.passed, r.kind) == (False, "timeout")


TRIANGLE = {"content": "", "tool_calls": [{"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 5}}]}


def test_bfcl_offers_the_functions_as_tools_and_scores_the_calls(tmp_path):
    suite = load_suite("bfcl")
    assert {t.data["category"] for t in suite.tasks()[:3]} == {"simple", "multiple", "parallel"}
    assert len(load_suite("bfcl:simple").tasks()) == 400 and len(load_suite("bfcl:parallel").tasks()) == 200
    models = write_models(tmp_path, [TRIANGLE])
    summary = run_eval("bfcl:simple", "bare", models=str(models), limit=2)
    # task 0 asks for exactly this call; task 1 offers math.factorial only, so the scripted call to an
    # unknown tool is a bad response: no call at all
    assert results(summary) == {"simple_python_0": (True, ""), "simple_python_1": (False, "no_call")}
    assert summary.metrics == {"valid": 0.5}
    wrong = write_models(tmp_path, [{"content": "", "tool_calls": [
        {"name": "calculate_triangle_area", "arguments": {"base": 10, "height": 6}}]}])
    (r,) = run_eval("bfcl:simple", "bare", models=str(wrong), limit=1).results
    assert (r.passed, r.kind, r.metrics["valid"]) == (False, "wrong_call", True)
    assert "'height' = 6 is not among [5]" in r.detail
    text = write_models(tmp_path, ["I would compute 0.5 * 10 * 5 = 25."])
    (r,) = run_eval("bfcl:simple", "bare", models=str(text), limit=1).results
    assert (r.passed, r.kind, r.metrics["valid"]) == (False, "no_call", False)


def test_the_bfcl_checker_follows_the_documented_rules():
    fn = {"name": "f", "parameters": {"type": "dict", "properties": {
        "x": {"type": "float"}, "city": {"type": "string"}, "unit": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["x", "city"]}}
    functions = {"f": fn}
    want = [{"f": {"x": [2.0], "city": ["New York, NY"], "unit": ["celsius", ""], "tags": [["a", "b"], ""]}}]
    assert check_calls([("f", {"x": 2, "city": "new york ny"})], want, functions) == ""  # int for float, strings
    assert "missing" in check_calls([("f", {"x": 2.0})], want, functions)
    assert "'unit'" in check_calls([("f", {"x": 2.0, "city": "New York, NY", "unit": "kelvin"})], want, functions)
    assert "not a parameter" in check_calls([("f", {"x": 2.0, "city": "New York, NY", "y": 1})], want, functions)
    assert check_calls([("f", {"x": 2.0, "city": "New York, NY", "tags": ["A", "b"]})], want, functions) == ""
    assert "expected 'f'" in check_calls([("g", {"x": 2.0, "city": "New York, NY"})], want, functions)
    two = [{"f": {"x": [1.0], "city": ["a"]}}, {"f": {"x": [2.0], "city": ["b"]}}]
    assert check_calls([("f", {"x": 2.0, "city": "b"}), ("f", {"x": 1.0, "city": "a"})], two, functions) == ""  # any order
    assert check_calls([("f", {"x": 2.0, "city": "b"})], two, functions) == "1 call(s), expected 2"
    assert check_calls([("f", {"x": 2.0, "city": "b"}), ("f", {"x": 2.0, "city": "b"})], two, functions) != ""
    schema = tool_schema({"name": "math.hypot", "description": "d", "parameters": fn["parameters"]})
    assert schema["function"]["name"] == "math_hypot" and schema["function"]["parameters"]["type"] == "object"
    assert schema["function"]["parameters"]["properties"]["x"]["type"] == "number"


def test_selection_and_stall_micro_suites(tmp_path):
    models = write_models(tmp_path, ["coder", "reviewer", "planner"], junk={"replies": ["someone should speak"]},
                          echo={"replies": ["again and again"]})
    ok = run_eval("selection", "bare", models=str(models), limit=3)
    assert ok.pass_rate == 1.0 and all(r.metrics == {"selections": 7, "invalid": 0} for r in ok.results)
    junk = run_eval("selection", "bare", models=str(models), model="junk", limit=2)
    assert junk.pass_rate == 0.0 and junk.failures == {"invalid_speaker": 2}
    stall = run_eval("stall", "bare", models=str(models), model="echo", limit=3)
    assert stall.pass_rate == 1.0 and all(r.stop.startswith("Stall") for r in stall.results)
    assert all(r.outcome == "completed" for r in stall.results)


@pytest.mark.parametrize("name", ["selection", "stall"])
def test_micro_suites_have_ten_tasks(name):
    assert len(load_suite(name).tasks()) == 10


LEARNT = '{"memos": [{"kind": "preference", "match": "the user\'s favourite colour", "recall": "The user\'s favourite colour is teal.", "replaces": null}]}'


def test_memory_teaches_in_one_session_and_recalls_in_a_new_one(tmp_path):
    # each session: the learning call (this memo), then the assistant's reply
    models = write_models(tmp_path, [LEARNT, "Your favourite colour is teal."])
    summary = run_eval("memory", "bare", models=str(models), limit=2)
    # task 1 asks about the colour it taught; task 2 taught about a dog but the learning reply was the colour
    assert results(summary) == {"memory-1": (True, ""), "memory-2": (False, "not_recalled")}
    first = summary.results[0] if summary.results[0].task_id == "memory-1" else summary.results[1]
    teach, ask = first.metrics["sessions"]
    store = SessionStore.open_default()
    assert [e["type"] for e in store.events(ask) if e["type"].startswith("memory_")][0] == "memory_recalled"
    assert store.get(teach).task.startswith("Please remember this")
    # the memos went to the eval's own collection and were deleted after scoring
    from moot.backends import load_models
    from moot.memory.memos import MemoStore

    config = load_models(str(models))
    for collection in ("memos", "moot-eval"):
        memos = MemoStore.from_config(config.memory.model_copy(update={"collection": collection}))
        assert memos.list(pending=None) == []
        memos.close()
