"""``autogen.exception_utils``: the exceptions AutoGen 0.2 raises for mistakes in how agents and
chats are put together. Defined in the engine (``moot.agents._errors``), which raises them."""

from moot.agents._errors import (
    AgentNameConflict,
    InvalidCarryOverType,
    NoEligibleSpeaker,
    SenderRequired,
    UndefinedNextAgent,
)

__all__ = ["AgentNameConflict", "InvalidCarryOverType", "NoEligibleSpeaker", "SenderRequired", "UndefinedNextAgent"]
