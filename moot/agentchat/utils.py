"""``autogen.agentchat.utils``: the tokens a set of agents used, in AutoGen's usage-summary shape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from moot.agents._chat import cost_of  # the engine's one maker of AutoGen's cost shape

__all__ = ["gather_usage_summary"]


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
