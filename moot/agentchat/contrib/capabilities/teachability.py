"""``autogen.agentchat.contrib.capabilities.teachability``: moot's ``Teachability``
(``moot.agents``), which remembers what users teach across chats."""

from moot.agents import Teachability

__all__ = ["Teachability"]
