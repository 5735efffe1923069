"""``autogen.agentchat.user_proxy_agent``: re-exported from ``moot.agents``."""

from moot.agents import UserProxyAgent

__all__ = ["UserProxyAgent"]
