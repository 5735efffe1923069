"""moot.paths: one place for the config, data and cache dirs; $MOOT_HOME and $XDG_* respected,
and every part of moot asks it (models.toml, teams, the app's settings, sessions, memos)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import platformdirs

from moot import paths
from moot.agents._teamfile import team_dirs
from moot.backends import find_models_file
from moot.memory import SessionStore
from moot.tui.settings import keymap_path, settings_path


def test_xdg_variables_and_moot_home_choose_the_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "k"))
    monkeypatch.delenv("MOOT_HOME")
    assert paths.config_dir() == tmp_path / "c" / "moot"
    assert paths.data_dir() == tmp_path / "d" / "moot" and (tmp_path / "d" / "moot").is_dir()
    assert paths.cache_dir() == tmp_path / "k" / "moot" and not (tmp_path / "k" / "moot").exists()
    assert paths.cache_dir(create=True).is_dir()
    assert paths.user_teams_dir() == tmp_path / "c" / "moot" / "teams"
    assert paths.user_models_file() == tmp_path / "c" / "moot" / "models.toml"
    # $MOOT_HOME wins for the data dir (and only for it)
    monkeypatch.setenv("MOOT_HOME", str(tmp_path / "home"))
    assert paths.data_dir(create=False) == tmp_path / "home" and not (tmp_path / "home").exists()
    assert paths.config_dir() == tmp_path / "c" / "moot"


def test_unset_empty_or_relative_xdg_variables_fall_back_to_the_platform(monkeypatch):
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "MOOT_HOME"):
        monkeypatch.delenv(var, raising=False)
    expected = (Path(platformdirs.user_config_dir("moot")), Path(platformdirs.user_data_dir("moot")),
                Path(platformdirs.user_cache_dir("moot")))
    assert (paths.config_dir(), paths.data_dir(create=False), paths.cache_dir()) == expected
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # the XDG spec: ignore a relative path
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert (paths.config_dir(), paths.cache_dir()) == (expected[0], expected[2])


def test_every_user_of_a_path_asks_moot_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("MOOT_HOME", str(tmp_path / "data"))
    config = tmp_path / "cfg" / "moot"
    assert settings_path() == config / "tui.toml" and keymap_path() == config / "keymap.toml"
    assert team_dirs()[1] == config / "teams"
    config.mkdir(parents=True)
    (config / "models.toml").write_text('schema_version = 1\n[[models]]\nname = "m"\nbackend = "scripted"\nreplies = ["x"]\n')
    assert find_models_file() == (config / "models.toml", "user config dir")
    store = SessionStore.open_default()
    try:
        assert store.path == tmp_path / "data" / "sessions.db" and store.path.is_file()
    finally:
        store.close()


def test_importing_the_paths_module_loads_no_other_part_of_moot():
    code = "import sys, moot.paths; print(sorted(m for m in sys.modules if m.startswith('moot')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['moot', 'moot.paths']"
