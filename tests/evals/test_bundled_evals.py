"""Suites on the REAL bundled model (SmolLM2-135M through llama.cpp): scores in range, every run
ends with an outcome, and BFCL constrained by moot's grammar gives valid JSON calls."""

from __future__ import annotations

import pytest

from conftest import write_models, write_suite
from moot.evals import run_eval

pytestmark = pytest.mark.model

SMOL = {"backend": "llama_cpp", "model_path": "bundled:smollm2", "context_length": 2048, "max_output_tokens": 160,
        "temperature": 0.0}


def test_bfcl_and_humaneval_on_the_bundled_model(tmp_path, bundled_model_path):
    models = write_models(tmp_path, ["unused"], name="unused", smol=SMOL)
    bfcl = run_eval("bfcl:simple", "bare", models=str(models), model="smol", limit=2, seed=1,
                    tool_call_mode="grammar", timeout_s=240)
    assert 0.0 <= bfcl.pass_rate <= 1.0 and bfcl.n == 2
    assert all(r.outcome in ("completed", "failed") and r.stop and r.kind != "error" for r in bfcl.results)
    assert all(r.prompt_tokens > 0 for r in bfcl.results)
    # a call made under the grammar is a JSON object naming an offered function
    assert all(r.metrics.get("valid") for r in bfcl.results if r.metrics.get("calls"))
    he = run_eval("humaneval", "bare", models=str(models), model="smol", limit=1, seed=1, executor="sandbox",
                  timeout_s=240)
    (r,) = he.results
    assert r.outcome == "completed" and r.kind in ("", "tests", "no_code", "timeout") and r.completion_tokens > 0


def test_micro_and_jsonl_suites_on_the_bundled_model(tmp_path, bundled_model_path):
    # moot's own suites and a user's JSONL suite, each on a small slice of the real model: every
    # run ends with an outcome and a score, none with a harness error
    models = write_models(tmp_path, ["unused"], name="unused", smol=SMOL)
    suite = write_suite(tmp_path, [{"id": "hello", "task": "Say hello.", "regex": r"(?i)hello|hi"},
                                   {"id": "sum", "task": "What is 2 + 2? Answer with a number.", "contains": "4"}])
    runs = {name: run_eval(name, "bare", models=str(models), model="smol", limit=limit, seed=1, timeout_s=240)
            for name, limit in (("selection", 2), ("stall", 2), ("memory", 1), (str(suite), 2))}
    for name, summary in runs.items():
        assert summary.n == len(summary.results) and summary.n > 0, name
        assert 0.0 <= summary.pass_rate <= 1.0, name
        for r in summary.results:
            assert r.kind != "error" and r.outcome in ("completed", "failed"), (name, r)
            assert r.stop, (name, r)
    # the selection suite asks the model itself for each speaker: the count shows it was asked
    assert all(r.metrics["selections"] > 0 for r in runs["selection"].results)
    assert all(r.prompt_tokens > 0 for summary in runs.values() for r in summary.results)
