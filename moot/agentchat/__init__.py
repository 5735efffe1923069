"""``autogen.agentchat`` for ported scripts: AutoGen's agent module paths, re-exporting
moot's engine (``moot.agents``)."""

from moot.agents import (
    Agent,
    AssistantAgent,
    ChatResult,
    ConversableAgent,
    GroupChat,
    GroupChatManager,
    UserProxyAgent,
    initiate_chats,
    register_function,
)

from .utils import gather_usage_summary

__all__ = (
    "Agent",
    "AssistantAgent",
    "ChatResult",
    "ConversableAgent",
    "GroupChat",
    "GroupChatManager",
    "UserProxyAgent",
    "gather_usage_summary",
    "initiate_chats",
    "register_function",
)
