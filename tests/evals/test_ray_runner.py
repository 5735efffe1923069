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
