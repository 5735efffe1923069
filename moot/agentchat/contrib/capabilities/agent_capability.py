"""``AgentCapability``: what a capability added to an agent after it is made implements."""

from __future__ import annotations

from typing import Any

__all__ = ["AgentCapability"]


class AgentCapability:
    """A capability (teachability, a message transform, ...) that ``add_to_agent`` installs on an
    agent, usually as reply steps or hooks."""

    def add_to_agent(self, agent: Any) -> None:
        """Install this capability on ``agent``."""
        raise NotImplementedError
