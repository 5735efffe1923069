"""``autogen.agentchat.utils``: the tokens a set of agents used, in AutoGen's usage-summary shape,
and the HTML-style tags (``<img URL>``) in a message's content."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from moot.agents._chat import cost_of  # the engine's one maker of AutoGen's cost shape

__all__ = ["gather_usage_summary", "parse_tags_from_content"]

# key='value' or key="value"; a value ends at its quote followed by the next such pair or the end.
_ATTRIBUTE = re.compile(r"""(?:^|\s)([\w-]+)=(['"])(.*?)\2(?=\s+[\w-]+=['"]|\s*$)""", re.S)


def gather_usage_summary(agents: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """The tokens ``agents`` used over their lifetimes, per model, summed:
    ``{"usage_including_cached_inference": {"total_cost": 0.0, MODEL: {"cost", "prompt_tokens",
    "completion_tokens", "total_tokens"}}, "usage_excluding_cached_inference": {...}}`` (the second
    without prompt tokens a backend served from its cache). moot prices no call: costs are 0.0."""
    merged: dict[str, Any] = {}
    for agent in agents:
        for model, usage in (getattr(agent, "usage", None) or {}).items():
            merged[model] = usage if model not in merged else merged[model] + usage
    return cost_of(merged)


def _attributes(inside: str) -> dict[str, str]:
    attrs = {m.group(1): m.group(3) for m in _ATTRIBUTE.finditer(inside)}
    rest = " ".join(_ATTRIBUTE.sub(" ", inside).split())
    return {"src": rest, **attrs} if rest else attrs


def parse_tags_from_content(tag: str, content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each ``<TAG ...>`` in ``content`` (a string, or the text parts of a multimodal list), as
    ``{"tag": TAG, "attr": {...}, "match": re.Match}``: quoted ``key='value'`` pairs are
    attributes, and the unquoted rest (``<img http://x/a.png>``) is ``"src"``."""
    if isinstance(content, str):
        texts = [content]
    elif isinstance(content, list):
        texts = [part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"]
    else:
        raise ValueError(f"content must be a string or a list of content parts, not {type(content).__name__}")
    pattern = re.compile(f"<{re.escape(tag)} (.*?)>")
    return [{"tag": tag, "attr": _attributes(m.group(1).strip()), "match": m} for text in texts for m in pattern.finditer(text)]
