"""``autogen.agentchat.groupchat``: re-exported from ``moot.agents`` (with the exceptions AutoGen's
module imports, so ``from autogen.agentchat.groupchat import NoEligibleSpeaker`` ports too)."""

from moot.agents import GroupChat, GroupChatManager
from moot.exception_utils import AgentNameConflict, NoEligibleSpeaker, UndefinedNextAgent

__all__ = ["AgentNameConflict", "GroupChat", "GroupChatManager", "NoEligibleSpeaker", "UndefinedNextAgent"]
