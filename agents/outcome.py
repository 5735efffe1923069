"""How a run ended, in one word, from one table.

Every stop carries a *condition* (what fired: ``max_turns``, ``TextMention``, ``backend_error``...)
and a human-readable reason. The ``Outcome`` is what a person and a program act on:

- ``completed``: the chat reached an end its team asked for (a limit, a termination message, a
  termination condition, a speaker-selection end, the human typing ``exit``).
- ``failed``: something broke (a model, an executor, the engine). Resumable once the cause is
  gone: start Docker, then ``moot sessions resume ID``.
- ``cancelled``: the user stopped it (Esc/Ctrl+X in the app, Ctrl+C, ``ExternalStop``).
- ``interrupted``: it never said it stopped (the process died mid-run), or it is a fork waiting
  to go on.

The session store's status, ``resumable``, ``moot run``'s exit code and the app's colours all
read the outcome, never the condition.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Outcome", "exit_code", "outcome_of"]


class Outcome(str, Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:
        return self.value

    @property
    def resumable(self) -> bool:
        """Whether the run can go on from where it stopped without a new message."""
        return self is not Outcome.COMPLETED

    @property
    def store_status(self) -> str:
        """The session store's status column for a run that ended this way."""
        return _STATUS[self]


_STATUS = {Outcome.COMPLETED: "stopped", Outcome.CANCELLED: "stopped", Outcome.FAILED: "failed",
           Outcome.INTERRUPTED: "interrupted"}

# The one table: a stop condition -> its outcome. Conditions not listed are a team's own
# termination conditions (every TerminationCondition names itself), so they complete.
_TABLE: dict[str, Outcome] = {
    "error": Outcome.FAILED,
    "backend_error": Outcome.FAILED,
    "executor_unavailable": Outcome.FAILED,
    "approval_needed": Outcome.FAILED,  # an imported session's code, not run without approval: resumable
    "summary_error": Outcome.FAILED,
    "context_overflow": Outcome.FAILED,  # the system message, task and current turn alone overflow the window
    "cancelled": Outcome.CANCELLED,
    "ExternalStop": Outcome.CANCELLED,
    "interrupted": Outcome.INTERRUPTED,
    "fork": Outcome.INTERRUPTED,
}

_EXIT = {Outcome.COMPLETED: 0, Outcome.FAILED: 1, Outcome.CANCELLED: 130, Outcome.INTERRUPTED: 130}


def outcome_of(condition: str | None) -> Outcome:
    """The outcome of a stop condition; a composed one (``A & B``, ``A | B``) takes the gravest part."""
    if not condition:
        return Outcome.INTERRUPTED
    parts = [p.strip() for p in condition.replace("|", "&").split("&")] if ("&" in condition or "|" in condition) \
        else [condition]
    found = [_TABLE.get(p, Outcome.COMPLETED) for p in parts]
    for grave in (Outcome.FAILED, Outcome.INTERRUPTED, Outcome.CANCELLED):
        if grave in found:
            return grave
    return Outcome.COMPLETED


def exit_code(outcome: Outcome | str) -> int:
    """``moot run``'s exit status: 0 completed, 1 failed, 130 cancelled or interrupted."""
    return _EXIT[Outcome(outcome)]
