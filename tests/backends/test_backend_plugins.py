"""A backend installed by another distribution (entry point group "moot.backends") is found by
name; the entry points are read once a process, so the test clears that cache around itself."""

from __future__ import annotations

import sys
import textwrap

import pytest

from moot.backends import ConfigError
from moot.backends import _registry
from moot.backends._registry import backend_class
from moot.backends.scripted import ScriptedBackend


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """A distribution on sys.path whose entry point names a backend class in its own module."""
    (tmp_path / "moot_echo_plugin.py").write_text(textwrap.dedent("""
        from moot.backends.scripted import ScriptedBackend

        class EchoBackend(ScriptedBackend):
            '''The scripted backend under another name, from another distribution.'''
    """))
    info = tmp_path / "moot_echo_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: moot-echo-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[moot.backends]\necho = moot_echo_plugin:EchoBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _registry._plugins.cache_clear()
    yield
    _registry._plugins.cache_clear()
    sys.modules.pop("moot_echo_plugin", None)


def test_a_plugin_backend_is_found_by_its_entry_point(plugin_dist):
    cls = backend_class("echo")
    assert cls.__name__ == "EchoBackend" and issubclass(cls, ScriptedBackend)
    assert backend_class("scripted") is ScriptedBackend  # the built-ins still answer


def test_an_unknown_backend_names_the_known_ones(plugin_dist):
    with pytest.raises(ConfigError) as caught:
        backend_class("nope")
    assert "no backend named 'nope'" in str(caught.value) and "scripted" in str(caught.value)
