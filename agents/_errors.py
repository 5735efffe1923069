"""The exceptions AutoGen 0.2 raises for mistakes in how agents and chats are put together
(``moot.exception_utils`` re-exports them under AutoGen's module path). A leaf module."""

from __future__ import annotations

from typing import Any

__all__ = ["AgentNameConflict", "InvalidCarryOverType", "NoEligibleSpeaker", "SenderRequired", "UndefinedNextAgent",
           "ToolsNeedModel", "UsageError"]


class UsageError(ValueError, AssertionError):
    """An API called the wrong way. AutoGen 0.2 checks these with ``assert``, so this is an
    ``AssertionError`` for scripts that catch that, and a ``ValueError`` as moot raised before."""


class ToolsNeedModel(RuntimeError, AssertionError):
    """A tool was offered to the model of an agent that has none (``llm_config=False``); an
    ``AssertionError`` as in AutoGen 0.2."""


class AgentNameConflict(Exception):
    """Two agents of one group share a name, so a name cannot say which one is meant."""

    def __init__(self, msg: str = "Found multiple agents with the same name.", *args: Any, **kwargs: Any):
        super().__init__(msg, *args, **kwargs)


class NoEligibleSpeaker(Exception):
    """No agent may speak next (the group chat ends)."""

    def __init__(self, message: str = "No eligible speakers."):
        self.message = message
        super().__init__(message)


class SenderRequired(Exception):
    """A reply was asked for without saying who it answers."""

    def __init__(self, message: str = "Sender is required but not provided."):
        self.message = message
        super().__init__(message)


class InvalidCarryOverType(Exception):
    """A chat's ``carryover`` is neither a string nor a list."""

    def __init__(self, message: str = "Carryover should be a string or a list of strings. Not adding carryover to the message."):
        self.message = message
        super().__init__(message)


class UndefinedNextAgent(Exception):
    """The agents named as next speakers are not in the group."""

    def __init__(self, message: str = "The provided agents list does not overlap with agents in the group."):
        self.message = message
        super().__init__(message)
