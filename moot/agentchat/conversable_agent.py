"""``autogen.agentchat.conversable_agent``: re-exported from ``moot.agents``."""

from moot.agents import ConversableAgent, register_function

__all__ = ["ConversableAgent", "register_function"]
