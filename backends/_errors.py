"""Typed backend errors, each with a message a user can act on."""

from __future__ import annotations


class BackendError(Exception):
    """A model call failed. ``transient`` errors are worth retrying; the others are not."""

    transient = False

    def __init__(self, message: str, *, model: str | None = None):
        super().__init__(message)
        self.model = model

    def __str__(self) -> str:
        text = super().__str__()
        return f"model {self.model!r}: {text}" if self.model else text


class BackendUnavailable(BackendError):
    """The server does not answer, or the model cannot be loaded."""

    transient = True


class BackendTimeout(BackendError):
    """The call took longer than the model's ``timeout_s``."""

    transient = True


class AuthError(BackendError):
    """The key is missing, unset or refused."""


class BadResponse(BackendError):
    """The backend answered with something that is not a usable reply."""


class ContextOverflow(BackendError):
    """The conversation does not fit the model's context window."""


class ConfigError(Exception):
    """models.toml (or a team file) is wrong. ``problems`` lists every mistake found, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
