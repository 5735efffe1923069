"""A recorded session as JSON (its facts and raw events) that imports back as is.

The Markdown transcript is drawn from events by the engine: ``moot.agents.transcript.to_markdown``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FORMAT = "moot-session"
FORMAT_VERSION = 1


def to_json(info: Any, events: list[dict[str, Any]]) -> str:
    meta = info.to_dict()
    meta.pop("messages", None)
    meta.pop("pid", None)
    meta.pop("host", None)
    return json.dumps({"format": FORMAT, "version": FORMAT_VERSION, "session": meta, "events": events},
                      ensure_ascii=False, indent=1)


def from_json(text: str, where: Path | str = "") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from .sessions import SessionStoreError

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SessionStoreError(f"not a moot session export: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionStoreError("not a moot session export: no \"format\": \"moot-session\" at the top")
    if not isinstance(data.get("version"), int) or data["version"] > FORMAT_VERSION:
        raise SessionStoreError(f"this export has format version {data.get('version')!r}; this moot reads up to "
                                f"{FORMAT_VERSION}: upgrade moot to import it")
    events = data.get("events")
    if not isinstance(events, list) or not all(isinstance(e, dict) and "type" in e for e in events):
        raise SessionStoreError("not a moot session export: \"events\" must be a list of events")
    return data.get("session") or {}, events
