"""Helpers for the memo and teachability tests (imported by the test files; not a conftest.py,
which the session-store tests own): scripted models (built in Python, or written as a models.toml
for a child process), a spy on what a scripted model is sent, a real Chroma server, and running
Python in a fresh process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from moot.backends.config import models_document, scripted_models, toml_document

ROOT = Path(__file__).resolve().parents[2]


def _replies(models: dict[str, list[Any]]) -> dict[str, list[str]]:
    """Dict replies become their JSON text, as a learning model answers."""
    return {name: [r if isinstance(r, str) else json.dumps(r) for r in replies] for name, replies in models.items()}


def models_toml(memory: dict[str, Any] | None = None, **models: list[Any]) -> str:
    """The text of a models.toml with these scripted models and [memory] table, for a child process."""
    return toml_document(models_document(_replies(models), **({"memory": memory} if memory else {})))


def install(memory: dict[str, Any] | None = None, **models: list[Any]):
    """Make these scripted models (and [memory] table) the ones agents use; returns the registry."""
    from moot.agents import use_models

    return use_models(scripted_models(_replies(models), source="test", **({"memory": memory} if memory else {})))


def learnt(*memos: dict[str, Any]) -> dict[str, Any]:
    """A learning reply: ``learnt(memo(...), ...)``."""
    return {"memos": list(memos)}


def memo(kind: str, match: str, recall: str, replaces: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "match": match, "recall": recall, "replaces": replaces}


class Spy:
    """Records what a (real, scripted) backend is sent, call by call, and passes it on."""

    def __init__(self, backend: Any):
        self.calls: list[list[tuple[str, str | None]]] = []
        self.schemas: list[Any] = []
        original = backend._stream

        def _stream(request):
            self.calls.append([(m.role, m.content) for m in request.messages])
            self.schemas.append(request.schema)
            return original(request)

        backend._stream = _stream


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 180) -> dict[str, Any]:
    """Run ``code`` in a new Python process (the repo on its path); it prints one JSON line last."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def chroma_server(tmp_path):
    """A real Chroma server on loopback (``chroma run``); yields its URL, killed at the end."""
    from tests.conftest import free_port

    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    log = (tmp_path / "chroma.log").open("w")
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "chroma-data"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"chroma run exited with {proc.returncode}: {(tmp_path / 'chroma.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("chroma run did not answer its heartbeat within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
