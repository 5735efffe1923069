"""Where a chat's session sits in its fork tree: the session it was forked from (at which
message) and the forks made from it, one line under the chat's title (hidden when it has
neither)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static


def fork_number(events: list[dict[str, Any]], message_id: str | None) -> int | None:
    """The number (1 = first) of message ``message_id`` among a session's recorded messages."""
    if not message_id:
        return None
    numbers = (i for i, e in enumerate((e for e in events if e["type"] == "message"), 1)
               if e.get("message_id") == message_id)
    return next(numbers, None)


def _named(info: Any) -> Text:
    return Text.assemble((f"“{info.title or info.task or info.id}”", "bold"), (f" ({info.id})", "dim"))


def lineage_line(store: Any, session_id: str) -> Text | None:
    """"fork of “T” (id) at message N · 2 forks: “A” (id), “B” (id)"; None when the session
    is neither a fork nor forked."""
    info = store.get(session_id)
    parts: list[Text] = []
    if info.parent_id:
        try:
            parent: Text = _named(store.get(info.parent_id))
        except Exception:  # deleted since: its id is all there is
            parent = Text(f"{info.parent_id} (deleted)", style="dim")
        number = fork_number(store.events(info.id), info.fork_message_id)
        parts.append(Text.assemble(("fork of ", "dim"), parent, (f" at message {number}" if number else "", "dim")))
    forks = [s for s in store.list() if s.parent_id == info.id]
    if forks:
        shown = Text(", ").join([_named(s) for s in forks[:3]])
        more = f" and {len(forks) - 3} more" if len(forks) > 3 else ""
        parts.append(Text.assemble((f"{len(forks)} fork{'s' if len(forks) > 1 else ''}: ", "dim"), shown, more))
    return Text.assemble(("⑂ ", "bold"), Text(" · ").join(parts)) if parts else None


class LineageBar(Static):
    """The lineage line of the chat's session (``show``); hidden while there is none."""

    DEFAULT_CSS = """
    LineageBar { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.line: Text | None = None
        self.display = False

    def show(self, store: Any, session_id: str | None) -> None:
        """Draw the lineage of ``session_id`` afresh (a store that fails leaves it hidden)."""
        try:
            self.line = lineage_line(store, session_id) if store is not None and session_id else None
        except Exception:  # the lineage is a nicety: never a reason for the chat to fail
            self.line = None
        self.update(self.line or "")
        self.display = self.line is not None
