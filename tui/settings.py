"""What the app remembers between runs, under the user config dir (``moot.paths.config_dir``):
the theme, whether local code needs approval, and the user's keymap (``keymap.toml``: binding
id = keys).

No Textual here: the CLI and tests read these files too.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from moot.backends.config import toml_document
from moot.paths import config_dir

DEFAULTS: dict[str, Any] = {"theme": "textual-dark", "approve_local_code": True, "approve_all_code": False}


def settings_path() -> Path:
    return config_dir() / "tui.toml"


def keymap_path() -> Path:
    return config_dir() / "keymap.toml"


def load_settings() -> dict[str, Any]:
    """The saved settings over the defaults; a broken file counts as absent (the app must start)."""
    settings = dict(DEFAULTS)
    try:
        raw = tomllib.loads(settings_path().read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return settings
    for key, default in DEFAULTS.items():
        if isinstance(raw.get(key), type(default)):
            settings[key] = raw[key]
    return settings


def save_settings(settings: dict[str, Any]) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    values = {key: settings[key] for key in DEFAULTS if key in settings}
    path.write_text(toml_document(values, header="moot's terminal app remembers these; edit freely."), encoding="utf-8")


def load_keymap() -> tuple[dict[str, str], list[str]]:
    """``(keymap, problems)`` from keymap.toml: ``"chat.stop" = "ctrl+x"`` lines, or under a
    ``[keymap]`` table. Problems are reported by the app as a notification."""
    path = keymap_path()
    if not path.is_file():
        return {}, []
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return {}, [f"{path}: {exc}"]
    table = raw.get("keymap", raw)
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for key, value in table.items():
        if isinstance(value, str) and value.strip():
            keymap[key] = value
        else:
            problems.append(f"{path}: {key!r}: expected keys as a string like \"ctrl+x\", got {value!r}")
    return keymap, problems
