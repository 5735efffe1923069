"""Fixtures for the conversation engine tests."""

from __future__ import annotations

import pytest

import moot.agents._models as models_module
from agent_test_helpers import install_models


@pytest.fixture(autouse=True)
def _fresh_registry():
    saved = models_module._registry
    yield
    models_module._registry = saved


@pytest.fixture
def models():
    """``models(a=[...], b=[...])`` installs scripted models for the agents created after it."""
    return install_models
