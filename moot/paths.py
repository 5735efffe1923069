"""Where moot keeps its files: the config dir, the data dir and the cache dir, in one place.

- config dir (models.toml, teams/, tui.toml, keymap.toml): ``$XDG_CONFIG_HOME/moot``, else
  platformdirs' user config dir (``~/.config/moot`` on Linux).
- data dir (sessions.db, memory/): ``$MOOT_HOME``, else ``$XDG_DATA_HOME/moot``, else platformdirs'
  user data dir (``~/.local/share/moot`` on Linux). Moving moot's history is copying this folder.
- cache dir (anything that can be rebuilt): ``$XDG_CACHE_HOME/moot``, else platformdirs' user cache
  dir (``~/.cache/moot`` on Linux).

An ``$XDG_*`` variable is honoured on every platform when it holds an absolute path (platformdirs
reads them only on Linux and the BSDs); an empty or relative one is ignored, as the XDG spec says.
Everything is read at call time, so a changed environment (a test's monkeypatch) takes effect.

Why here, in the ``moot`` package and not in one of its sub-packages: ``moot.backends``,
``moot.executors``, ``moot.memory``, ``moot.agents`` and ``moot.tui`` all need these paths, and the
lowest of them must not import a sibling to get them (``import moot.backends.x`` would run
``moot.backends/__init__`` and load pydantic and every backend into ``moot.memory``). This module
imports only the standard library and platformdirs, and ``moot/__init__`` loads nothing at import
time, so every package may import ``moot.paths`` without changing the dependency direction.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "moot"


def _xdg(variable: str) -> Path | None:
    value = os.environ.get(variable, "").strip()
    if value and Path(value).expanduser().is_absolute():
        return Path(value).expanduser() / APP
    return None


def config_dir() -> Path:
    """The user config dir: ``$XDG_CONFIG_HOME/moot``, else the platform's (not created here)."""
    return _xdg("XDG_CONFIG_HOME") or Path(platformdirs.user_config_dir(APP))


def data_dir(create: bool = True) -> Path:
    """The data dir: ``$MOOT_HOME``, else ``$XDG_DATA_HOME/moot``, else the platform's; created
    (private to this user, 0700: it holds every session) unless ``create=False``."""
    env = os.environ.get("MOOT_HOME", "").strip()
    path = Path(env).expanduser() if env else (_xdg("XDG_DATA_HOME") or Path(platformdirs.user_data_dir(APP)))
    if create and not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def cache_dir(create: bool = False) -> Path:
    """The cache dir: ``$XDG_CACHE_HOME/moot``, else the platform's; created when ``create=True``."""
    path = _xdg("XDG_CACHE_HOME") or Path(platformdirs.user_cache_dir(APP))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def user_teams_dir() -> Path:
    """Where the user's own team files live (the team editor saves here): ``config_dir()/teams``."""
    return config_dir() / "teams"


def user_models_file() -> Path:
    """The user's models.toml (one step of the lookup order): ``config_dir()/models.toml``."""
    return config_dir() / "models.toml"
