"""``DockerCommandLineCodeExecutor`` on a real Docker daemon (the executor tests' private dockerd)."""

from __future__ import annotations

from pathlib import Path

from moot.coding import CodeBlock, DockerCommandLineCodeExecutor
from tests.executors.conftest import private_docker  # noqa: F401  (the session's private dockerd)


def test_blocks_run_in_containers_and_their_files_come_back(private_docker, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("DOCKER_HOST", private_docker.host)
    with DockerCommandLineCodeExecutor(work_dir=tmp_path, timeout=20) as executor:
        assert executor.image == private_docker.image and executor.restart() is None
        result = executor.execute_code_blocks([
            CodeBlock(code="# filename: make.py\nopen('out.txt', 'w').write('made in docker')\nprint('python ran')",
                      language="python"),
            CodeBlock(code="cat out.txt", language="sh"),
        ])
    assert result.exit_code == 0, result.output
    assert "python ran" in result.output and "made in docker" in result.output
    assert Path(result.code_file) == (tmp_path / "make.py").resolve()
    assert (tmp_path / "out.txt").read_text() == "made in docker"


def test_a_container_past_its_timeout_ends_the_run_with_124(private_docker, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("DOCKER_HOST", private_docker.host)
    with DockerCommandLineCodeExecutor(work_dir=tmp_path, timeout=2) as executor:
        result = executor.execute_code_blocks([CodeBlock(code="import time; time.sleep(60)", language="python")])
    assert result.exit_code == 124 and "Timeout" in result.output
