"""What the app remembers between runs, under the user config dir (``moot.paths.config_dir``):
the theme, whether local code needs approval, and the user's keymap (``keymap.toml``: binding
id = keys).

No Textual here: the CLI and tests read these files too.
"""

from __future__ import annotations

import json
import tomllib
import unicodedata
from pathlib import Path
from typing import Any

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
    # Flat values only (strings and booleans): JSON's spelling of them is TOML's. (No config-file
    # machinery here: the app imports this module before its first frame.)
    lines = ["# moot's terminal app remembers these; edit freely."] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- key bindings ---------------------------------------------------------------------------
# Every screen declares its bindings through ``declare`` (``BINDINGS = declare("chat", [...])``), so
# the keymap check knows each id and where it applies, and ``key_label`` names a binding's live keys
# in hints and help text (the user's keymap over the default).

MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
DECLARED: dict[str, tuple[str, str, str]] = {}  # binding id -> (where it applies, its default keys, what it does)
GLOBAL_SCOPE = "everywhere"
_live: dict[str, str] = {}  # the user's keymap as applied (binding id -> keys)


def declare(where: str, bindings: list[Any]) -> list[Any]:
    """Record bindings (Textual ``Binding``s) with ids: ``where`` they apply ("everywhere" for the
    app's own); returns the list, for ``BINDINGS = declare(...)``."""
    for b in bindings:
        if getattr(b, "id", None):
            DECLARED[b.id] = (where, b.key, b.description)
    return bindings


def use_keymap(keymap: dict[str, str]) -> None:
    """The keymap the app applied (what ``key_label`` reads)."""
    _live.clear()
    _live.update(keymap)


def keys_of(binding_id: str) -> str:
    """The live keys of a binding (comma-separated), "" for an id nobody declared."""
    return _live.get(binding_id) or DECLARED.get(binding_id, ("", "", ""))[1]


def key_display(keys: str) -> str:
    """"ctrl+x" -> "Ctrl+X", "escape" -> "Esc", "f3,ctrl+b" -> "F3" (the first key is named)."""
    key = keys.split(",")[0].strip()
    *mods, name = key.split("+") if key != "+" else ["+"]
    name = {"escape": "Esc", "enter": "Enter", "space": "Space", "tab": "Tab", "backspace": "Backspace",
            "delete": "Del", "pageup": "PgUp", "pagedown": "PgDn", "slash": "/", "home": "Home", "end": "End",
            "up": "Up", "down": "Down", "left": "Left", "right": "Right"}.get(name, name)
    if (len(name) == 1 and mods) or (name[:1] == "f" and name[1:].isdigit()):
        name = name.upper()  # "Ctrl+X", "F3"; a plain letter stays as typed ("e")
    if "_" in name:
        try:
            name = unicodedata.lookup(name.replace("_", " ").upper())  # "question_mark" -> "?"
        except KeyError:
            pass
    return "+".join([*(m.capitalize() for m in mods), name])


def key_label(binding_id: str) -> str:
    """How hints name a binding's keys now: "Ctrl+X" (or the user's own keys from keymap.toml)."""
    return key_display(keys_of(binding_id)) or "?"


def key_problem(key: str) -> str | None:
    """What is wrong with one key of a keymap value ("ctrl+x"), None if Textual can bind it."""
    from textual.keys import Keys  # Textual's own key names (only the app calls this)

    *mods, name = key.split("+") if key != "+" else ["+"]
    bad = [m for m in mods if m not in MODIFIERS]
    if bad:
        return f"{key!r}: unknown modifier {bad[0]!r} (modifiers: {', '.join(MODIFIERS)})"
    if not name:
        return f"{key!r}: no key after the modifiers"
    if len(name) == 1 or name in {k.value for k in Keys}:
        return None
    try:
        unicodedata.lookup(name.replace("_", " ").upper())  # Textual's names for characters: "question_mark"
        return None
    except KeyError:
        return f"{key!r}: no key named {name!r} (e.g. \"ctrl+k\", \"f5\", \"escape\", \"question_mark\")"


def _lines(text: str) -> dict[str, int]:
    """The line of each key in keymap.toml (1-based), for the problems' sake."""
    found: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        try:
            parsed = tomllib.loads(line)
        except tomllib.TOMLDecodeError:
            continue
        for key, value in parsed.items():
            found.setdefault(key, number)
    return found


def load_keymap() -> tuple[dict[str, str], list[str]]:
    """``(keymap, problems)`` from keymap.toml: ``"chat.stop" = "ctrl+x"`` lines, or under a
    ``[keymap]`` table. Each problem names the file and line; an entry with a problem is left
    out (its binding keeps its default). The ids and clashes are checked by ``keymap_problems``
    once every screen has declared its bindings."""
    path = keymap_path()
    if not path.is_file():
        use_keymap({})
        return {}, []
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        use_keymap({})
        return {}, [f"{path}: {exc}"]
    table = raw.get("keymap", raw)
    lines = _lines(text)
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for key, value in table.items():
        where = f"{path}:{lines[key]}" if key in lines else str(path)
        if isinstance(value, dict):
            problems.append(f"{where}: {key!r} is read as a table: write the binding id in quotes "
                            f"(\"{key}.…\" = \"ctrl+k\")")
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: {key!r}: expected keys as a string like \"ctrl+x\", got {value!r}")
            continue
        bad = [p for k in value.split(",") if (p := key_problem(k.strip()))]
        if bad:
            problems.append(f"{where}: {key!r}: {bad[0]}")
            continue
        keymap[key] = value
    use_keymap(keymap)
    return keymap, problems


def keymap_problems(keymap: dict[str, str] | None = None) -> list[str]:
    """Unknown binding ids and clashes in the keymap: two bindings on the same key where both
    apply (one screen's, or a screen's and the app's), each naming keymap.toml's line. Call it
    once the screens are imported (``DECLARED`` complete)."""
    keymap = dict(_live if keymap is None else keymap)
    path = keymap_path()
    try:
        lines = _lines(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        lines = {}

    def where(binding_id: str) -> str:
        return f"{path}:{lines[binding_id]}" if binding_id in lines else str(path)

    problems = [f"{where(i)}: no binding with id {i!r} (the ids are listed in the help screen, {key_label('app.help')})"
                for i in keymap if i not in DECLARED]
    owners: dict[tuple[str, str], list[str]] = {}
    for binding_id, (scope, default, _what) in DECLARED.items():
        for key in (keymap.get(binding_id) or default).split(","):
            owners.setdefault((scope, key.strip()), []).append(binding_id)
    for (scope, key), ids in owners.items():
        clash = ids + ([] if scope == GLOBAL_SCOPE else owners.get((GLOBAL_SCOPE, key), []))
        cause = next((i for i in clash if i in keymap), None)
        if len(clash) > 1 and cause is not None:
            problems.append(f"{where(cause)}: {cause!r} = {keymap[cause]!r}: {key!r} is also "
                            f"{', '.join(repr(i) for i in clash if i != cause)} ({scope}); only one of them works")
    return problems
