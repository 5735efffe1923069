"""BFCL on the REAL bundled model (SmolLM2-135M through llama.cpp): the bare team asks for a call
(``tool_choice = "required"``), so under moot's grammar every reply is a valid call; several calls
where the request asks for several; plain prompting is the same team with nothing forcing it."""

from __future__ import annotations

import pytest

from conftest import write_models
from moot.evals import run_eval

pytestmark = pytest.mark.model

SMOL = {"backend": "llama_cpp", "model_path": "bundled:smollm2", "context_length": 4096, "max_output_tokens": 128,
        "temperature": 0.0}


def bfcl(models, category: str, limit: int, mode: str):
    return run_eval(f"bfcl:{category}", "bare", models=str(models), model="smol", limit=limit, seed=0,
                    tool_call_mode=mode, timeout_s=300)


def test_constrained_calls_are_all_valid_on_the_bundled_model(tmp_path, bundled_model_path):
    models = write_models(tmp_path, ["unused"], name="unused", smol=SMOL)
    for category in ("simple", "multiple"):
        s = bfcl(models, category, 5, "grammar")
        assert s.n == 5 and all(r.outcome in ("completed", "failed") and r.kind != "error" for r in s.results)
        # every reply is a call (or several) naming an offered function, arguments a JSON object
        assert [r.metrics.get("valid") for r in s.results] == [True] * 5, [r.detail for r in s.results]
        assert s.metrics["valid"] == 1.0 and all(r.kind in ("", "wrong_call") for r in s.results)


def test_required_still_allows_several_calls(tmp_path, bundled_model_path):
    # parallel_0 asks for two calls of one function (two artists); the grammar lets the model make both
    models = write_models(tmp_path, ["unused"], name="unused", smol=SMOL)
    (r,) = bfcl(models, "parallel", 1, "grammar").results
    assert r.metrics["valid"] and r.metrics["calls"] >= 2, r.detail


def test_plain_prompting_is_the_same_team_with_nothing_forcing_a_call(tmp_path, bundled_model_path):
    models = write_models(tmp_path, ["unused"], name="unused", smol=SMOL)
    s = bfcl(models, "simple", 2, "text")
    assert s.n == 2 and all(r.outcome in ("completed", "failed") and r.kind != "error" for r in s.results)
    assert all(r.kind in ("", "no_call", "invalid_call", "wrong_call") for r in s.results)


async def test_a_constrained_call_cut_by_the_token_limit_is_made_once_more(tmp_path, bundled_model_path):
    # simple_python_71 sends the 135M model round a loop inside its call's list argument until the
    # 128-token limit: under the grammar nothing was shown yet, so the backend makes the call once
    # more with a repetition penalty and the reply is a whole call.
    from moot.backends import ChatMessage, ModelRegistry, ModelRequest, ToolSpec
    from moot.backends.config import load_models
    from moot.evals import load_suite
    from moot.evals._bfcl import BfclSuite, tool_schema

    models = write_models(tmp_path, ["unused"], name="unused", smol={**SMOL, "tool_call_mode": "grammar"})
    backend = ModelRegistry(load_models(str(models))).client("smol")
    task = next(t for t in load_suite("bfcl:simple").tasks() if t.id == "simple_python_71")
    tools = tuple(ToolSpec(**tool_schema(f)["function"]) for f in task.data["functions"])
    request = ModelRequest([ChatMessage("system", BfclSuite.bare_system), ChatMessage("user", task.prompt)], tools,
                           "required")
    plain = [item async for item in backend.primary._stream(request, 1.0)]  # a penalty given: no second try
    assert not plain[-1].tool_calls and plain[-1].finish_reason == "length"  # the loop, as the bench saw it
    completion = await backend.complete(request)
    assert completion.tool_calls and completion.tool_calls[0].name == "generate_DNA_sequence"
    # what both tries generated is counted
    assert completion.usage.completion_tokens > plain[-1].usage.completion_tokens
