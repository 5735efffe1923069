"""``autogen.agentchat.groupchat``: re-exported from ``moot.agents``."""

from moot.agents import GroupChat, GroupChatManager

__all__ = ["GroupChat", "GroupChatManager"]
