"""``autogen.agentchat.agent``: re-exported from ``moot.agents``."""

from moot.agents import Agent

__all__ = ["Agent"]
