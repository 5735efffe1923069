"""Suites on the REAL bundled model (SmolLM2-135M through llama.cpp): scores in range, every run
ends with an outcome, and BFCL constrained by moot's grammar gives valid JSON calls."""

from __future__ import annotations

import pytest

from conftest import write_models
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
