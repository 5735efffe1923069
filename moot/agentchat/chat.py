"""``autogen.agentchat.chat``: re-exported from ``moot.agents``."""

from moot.agents import ChatResult, a_initiate_chats, initiate_chats
from moot.agents._chat import _carryover_text as _post_process_carryover_item  # AutoGen's name, which its tests import

__all__ = ["ChatResult", "a_initiate_chats", "initiate_chats"]
