"""``autogen.agentchat.chat``: re-exported from ``moot.agents``."""

from moot.agents import ChatResult, a_initiate_chats, initiate_chats

__all__ = ["ChatResult", "a_initiate_chats", "initiate_chats"]
