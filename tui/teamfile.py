"""Write a team file from plain data (what the team editor holds), validated before it is saved.

The editor keeps a team as a dict shaped like the TOML (``members``, ``chat``, ``termination``);
``team_toml`` renders it and ``save_team`` checks it with the engine's own ``parse_team`` (the same
errors ``moot run`` would give) before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .settings import toml_scalar

MEMBER_KEYS = ("name", "role", "description", "model", "temperature", "tools", "human_input_mode",
               "max_consecutive_auto_reply", "default_auto_reply", "termination_text", "system_message")


def _clean(table: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in table.items() if v is not None and v != "" and v != [] and v != {}}


def team_toml(data: dict[str, Any]) -> str:
    """TOML text for a team dict (keys as in a team file)."""
    lines = ["# Written by moot's team editor.", "schema_version = 1"]
    for key in ("name", "description"):
        if data.get(key):
            lines.append(f"{key} = {toml_scalar(data[key])}")
    for member in data.get("members", []):
        lines += ["", "[[members]]"]
        m = _clean(dict(member))
        code = m.pop("code_execution", None)
        for key in MEMBER_KEYS:
            if key in m:
                lines.append(f"{key} = {toml_scalar(m[key])}")
        if code is False:
            lines.append("code_execution = false")
        elif isinstance(code, dict):
            lines.append("[members.code_execution]")
            for key, value in _clean(code).items():
                lines.append(f"{key} = {toml_scalar(value)}")
    chat = _clean(dict(data.get("chat", {})))
    transitions = chat.pop("transitions", None)
    if chat or transitions:
        lines += ["", "[chat]"]
        for key, value in chat.items():
            lines.append(f"{key} = {toml_scalar(value)}")
        if transitions:
            lines.append("[chat.transitions]")
            for src, dests in transitions.items():
                lines.append(f"{toml_scalar(src)} = {toml_scalar(list(dests))}")
    term = {k: v for k, v in dict(data.get("termination", {})).items() if v is not None and v != ""}
    if term:
        lines += ["", "[termination]"]
        for key, value in term.items():
            lines.append(f"{key} = {toml_scalar(value)}")
    return "\n".join(lines) + "\n"


def team_data(team: Any) -> dict[str, Any]:
    """The editor's dict for a loaded ``agents.Team`` (defaults left out)."""
    spec = team.spec
    data = spec.model_dump(exclude_defaults=True)
    data["name"] = spec.name or team.name
    data.setdefault("description", spec.description)
    for member, m in zip(data.get("members", []), spec.members):
        if m.code_execution:
            member["code_execution"] = m.code_execution.model_dump(exclude_defaults=True) or {"timeout": m.code_execution.timeout}
    return data


def parse_transitions(text: str) -> dict[str, list[str]] | None:
    """``"a: b c; b: a"`` -> ``{"a": ["b", "c"], "b": ["a"]}`` (empty text: no transitions)."""
    out: dict[str, list[str]] = {}
    for part in text.replace("\n", ";").split(";"):
        if not part.strip():
            continue
        src, _, dests = part.partition(":")
        out[src.strip()] = [d for d in dests.replace(",", " ").split() if d]
    return out or None


def format_transitions(transitions: dict[str, list[str]] | None) -> str:
    return "; ".join(f"{src}: {' '.join(dests)}" for src, dests in (transitions or {}).items())


def save_team(data: dict[str, Any], path: Path, models: Any = None) -> Path:
    """Validate the team (raising ``ConfigError`` with every problem) and write it to ``path``."""
    from moot.agents import parse_team

    text = team_toml(data)
    parse_team(text, str(path), models)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
