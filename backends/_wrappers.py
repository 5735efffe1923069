"""Backends made of backends: retries, fallbacks and request defaults.

Each wrapper is a ``Backend``. Nested wrappers flatten into one plan of steps (a backend that is no
wrapper, its retry delays, its request defaults), and ONE loop runs the plan: however deep the
nesting, a call passes through a single generator between the caller and the backend's ``_stream``.

- A transient failure (unavailable, timeout) before any text arrived is retried after each delay
  of the step's ``RetryPolicy``, with a ``Notice`` (kind "retry") before each wait.
- A step that keeps failing, or fails for good, hands over to the next step with a ``Notice``
  (kind "fallback"); once text has arrived the error goes to the caller, as it would mid-reply.
- When every step failed, the last error goes to the caller, typed as the backend raised it.

Wrappers do not own what they wrap: ``aclose()`` closes nothing (close the backends, or the
``ModelRegistry`` that made them).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ._base import Backend
from ._errors import BackendError, ConfigError
from ._types import (REQUEST_DEFAULTS, BackendStatus, Capabilities, ChatMessage, Completion, Delta, ModelRequest, Notice,
                     StreamItem, ToolSpec)

RETRY_DELAYS = (0.5, 1.5)  # seconds before the 2nd and 3rd try of a transient failure


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a transient failure before any text is retried: one more try after each delay."""

    delays: tuple[float, ...] = RETRY_DELAYS

    def __post_init__(self) -> None:
        if any(d < 0 for d in self.delays):
            raise ValueError(f"retry delays must not be negative: {self.delays}")


NO_RETRY = RetryPolicy(())


@dataclass(frozen=True, slots=True)
class Step:
    """One backend of a wrapper's plan, with what the wrappers around it asked for."""

    backend: Backend  # never a wrapper
    delays: tuple[float, ...] | None = None  # None: no wrapper set a policy (no retries)
    defaults: Mapping[str, Any] | None = None  # request fields to fill when the caller left them unset
    label: str = ""  # said when falling back to this step, e.g. "config_list"


def steps_of(backend: Backend) -> tuple[Step, ...]:
    """The plan a backend runs: a wrapper's steps, or the backend alone."""
    return backend.steps if isinstance(backend, Wrapper) else (Step(backend),)


def _reason(backend: Backend, exc: Exception) -> str:
    """The error's text without the "model 'x': " prefix when it names the model already named
    (a config problem keeps its file: "models.toml: field 'api_key_env': ...")."""
    if isinstance(exc, BackendError) and exc.model == backend.name and exc.args:
        return str(exc.args[0])
    if isinstance(exc, ConfigError):
        return "; ".join(p.replace(f"model {backend.name!r}: ", "", 1) for p in exc.problems)
    return str(exc)


class Wrapper(Backend):
    """What the wrappers share: a plan of steps and the one loop that runs it.

    Everything but the call itself (``capabilities``, ``load()``, ``status()``, ``count_tokens()``)
    is the primary's: the first step's backend.
    """

    def __init__(self, steps: Iterable[Step]):  # no super().__init__: config and name are the primary's
        self.steps: tuple[Step, ...] = tuple(steps)
        if not self.steps:
            raise ValueError(f"{type(self).__name__} needs at least one backend")
        self.config = self.steps[0].backend.config
        self.name = self.steps[0].backend.name
        only = self.steps[0] if len(self.steps) == 1 else None
        # One step with no defaults, and nothing to retry: the plan's loop would only pass items on.
        self._direct = (only.backend if only is not None and only.defaults is None
                        and (not only.delays or not only.backend.transient_failures) else None)

    @property
    def primary(self) -> Backend:
        return self.steps[0].backend

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]  # the primary's, probed or not
        return self.primary.capabilities

    @property
    def backends(self) -> list[Backend]:
        """The backends tried, in order (a backend appears once per step that uses it)."""
        return [s.backend for s in self.steps]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(s.backend.name for s in self.steps)})"

    async def _serve(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        steps = self.steps
        last: Exception | None = None
        for index, step in enumerate(steps):
            backend = step.backend
            req = request if step.defaults is None else request.with_defaults(step.defaults)
            delays = step.delays or ()
            attempt = 0
            while True:
                started = False
                agen = backend._stream(req)
                done = False
                try:
                    async for item in agen:
                        kind = type(item)
                        if kind is Delta:
                            started = True
                        elif kind is Completion:
                            backend._finish(item, req)
                        yield item
                    done = True  # ran to its end: nothing to close
                    return
                except (BackendError, ConfigError) as exc:
                    if started:
                        raise
                    last = exc
                    if not (isinstance(exc, BackendError) and exc.transient and attempt < len(delays)):
                        break
                    delay = delays[attempt]
                    attempt += 1
                    yield Notice(f"model {backend.name!r}: {_reason(backend, exc)}; retrying in {delay:g} s", "retry")
                    await asyncio.sleep(delay)
                finally:
                    if not done:
                        await agen.aclose()
            if index + 1 < len(steps):
                following = steps[index + 1]
                verb = "cannot be used" if isinstance(last, ConfigError) else "failed"
                reason = _reason(backend, last)
                label = f" ({following.label})" if following.label else ""
                yield Notice(f"model {backend.name!r} {verb} ({reason}); falling back to "
                             f"{following.backend.name!r}{label}", "fallback")
        assert last is not None
        raise last

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        """The plan's stream, already finished (``stream()`` does not go through here)."""
        async for item in self._serve(request):
            yield item

    def count_tokens(self, messages: Sequence[ChatMessage] | str) -> int:
        return self.primary.count_tokens(messages)

    def context_window(self) -> int | None:
        return self.primary.context_window()

    def token_counter(self) -> Any:
        return self.primary.token_counter()

    def chars_per_token(self) -> float:
        return self.primary.chars_per_token()

    def observe_prompt(self, chars: int, tokens: int) -> None:
        self.primary.observe_prompt(chars, tokens)

    def request_overhead(self, head: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()) -> int:
        return self.primary.request_overhead(head, tools)

    async def discover_window(self) -> int | None:
        return await self.primary.discover_window()

    async def load(self) -> None:
        await self.primary.load()

    def status(self) -> BackendStatus:
        return self.primary.status()


class RetryingBackend(Wrapper):
    """``inner`` with its transient failures retried by ``policy`` (steps that already have a
    policy from a wrapper inside keep it)."""

    def __init__(self, inner: Backend, policy: RetryPolicy = RetryPolicy()):
        self.policy = policy
        super().__init__(s if s.delays is not None else replace(s, delays=policy.delays) for s in steps_of(inner))


class FallbackBackend(Wrapper):
    """The first of ``backends`` that answers; each one failing before any text hands over to the
    next with a notice. ``label`` is said with each hand-over (e.g. "config_list")."""

    def __init__(self, backends: Sequence[Backend], *, label: str = ""):
        if not backends:
            raise ValueError("FallbackBackend needs at least one backend")
        steps: list[Step] = []
        for i, backend in enumerate(backends):
            inner = steps_of(backend)
            if i:
                inner = (replace(inner[0], label=label), *inner[1:])
            steps.extend(inner)
        super().__init__(steps)


class DefaultsBackend(Wrapper):
    """``inner`` with request fields (``temperature``, ``max_tokens``, ``tool_choice``) filled in
    when the caller leaves them unset; defaults set by a wrapper inside win."""

    def __init__(self, inner: Backend, defaults: Mapping[str, Any]):
        unknown = sorted(set(defaults) - set(REQUEST_DEFAULTS))
        if unknown:
            raise ValueError(f"DefaultsBackend: {', '.join(unknown)} cannot be defaulted (only {', '.join(REQUEST_DEFAULTS)})")
        given = {k: v for k, v in defaults.items() if v is not None}
        super().__init__(replace(s, defaults={**given, **(s.defaults or {})} or None) for s in steps_of(inner))
