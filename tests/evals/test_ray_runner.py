"""The Ray runner on a real local Ray cluster started by the test (2 CPUs): the same suite on the
scripted backend gives the same scores as the local runner, each task a recorded session."""

from __future__ import annotations

import pytest

from conftest import SUM_SUITE, write_models, write_suite
from moot.evals import run_eval
from moot.memory import SessionStore

ray = pytest.importorskip("ray", reason="the Ray runner needs the ray extra (the Makefile installs it)")


@pytest.fixture
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_and_local_give_the_same_scores(tmp_path, scripted, cluster):
    suite = write_suite(tmp_path, SUM_SUITE)
    local = run_eval(str(suite), "coder", models=str(scripted), parallel=2, executor="sandbox", repeat=2)
    remote = run_eval(str(suite), "coder", models=str(scripted), runner="ray", executor="sandbox", repeat=2)
    scores = lambda s: {(r.task_id, r.repeat): (r.passed, r.kind, r.detail) for r in s.results}  # noqa: E731
    assert scores(remote) == scores(local) and remote.pass_rate == 0.75
    store = SessionStore.open_default()
    assert all(store.get(r.session).outcome == "completed" for r in remote.results)
    assert remote.run.options["runner"] == "ray"
    # stall and bfcl too, with no model but the scripted one
    models = write_models(tmp_path, ["again and again"])
    assert run_eval("stall", "bare", models=str(models), limit=2, runner="ray").pass_rate == \
        run_eval("stall", "bare", models=str(models), limit=2).pass_rate == 1.0


SMOL = {"backend": "llama_cpp", "model_path": "bundled:smollm2", "context_length": 1024, "max_output_tokens": 24,
        "temperature": 0.0}


@pytest.mark.model
def test_a_llama_cpp_model_is_one_ray_actor_serving_every_task(tmp_path, cluster, bundled_model_path):
    models = write_models(tmp_path, ["unused"], name="unused", smol=SMOL)
    suite = write_suite(tmp_path, [{"id": f"q{i}", "task": f"Say the number {i}.", "regex": "."} for i in range(4)])
    summary = run_eval(str(suite), "bare", models=str(models), model="smol", runner="ray", parallel=2, timeout_s=240)
    assert summary.n == 4 and not summary.missing
    store = SessionStore.open_default()
    calls = 0
    for r in summary.results:
        assert r.kind != "error" and r.outcome in ("completed", "failed") and r.stop, (r.kind, r.detail)
        assert r.completion_tokens > 0  # the actor's usage came back with its reply
        assert store.get(r.session).outcome == r.outcome
        calls += sum(1 for e in store.events(r.session) if e["type"] == "usage")
    served = [r.metrics["ray_models"]["smol"] for r in summary.results]
    # one actor served them all, and loaded the model once
    assert len({s["actor"] for s in served}) == 1 and all(s["loads"] == 1 for s in served)
    # every call of every session went to it (and the last task to finish saw them all served)
    assert sum(s["calls"] for s in served) == calls == max(s["served"] for s in served) >= 4
    # the run's actor ended with it
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
    assert not [n for n in names if n.startswith(f"moot-eval-{summary.run.id}")], names
