"""``autogen.agentchat.contrib.capabilities``: capabilities added to an agent after it is made."""

from . import agent_capability, teachability, transform_messages, transforms

__all__ = ["agent_capability", "teachability", "transform_messages", "transforms"]
