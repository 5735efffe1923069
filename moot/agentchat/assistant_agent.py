"""``autogen.agentchat.assistant_agent``: re-exported from ``moot.agents``."""

from moot.agents import AssistantAgent

__all__ = ["AssistantAgent"]
