"""Finding backends by name, and one shared client per model with retries and fallbacks."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Sequence
from importlib.metadata import entry_points
from typing import Any

from ._base import Backend
from ._errors import BackendError, ConfigError
from ._types import ChatMessage, Completion, Delta, Notice, StreamItem
from .config import ModelsConfig

# Built-ins are registered like plugins (entry point group "moot.backends"); this table is the
# same list for running from a source tree where the distribution's metadata is not installed.
BUILTIN_BACKENDS = {
    "llama_cpp": "moot.backends.llama_cpp:LlamaCppBackend",
    "ollama": "moot.backends.ollama:OllamaBackend",
    "openai": "moot.backends.openai:OpenAIBackend",
    "anthropic": "moot.backends.anthropic:AnthropicBackend",
    "scripted": "moot.backends.scripted:ScriptedBackend",
}

RETRY_DELAYS = (0.5, 1.5)  # seconds before the 2nd and 3rd try of a transient failure


def backend_class(name: str) -> type[Backend]:
    """The class implementing backend ``name`` (imported only when first needed)."""
    target = None
    for ep in entry_points(group="moot.backends"):
        if ep.name == name:
            target = ep.value
            break
    target = target or BUILTIN_BACKENDS.get(name)
    if target is None:
        raise ConfigError([f"no backend named {name!r} (known: {', '.join(BUILTIN_BACKENDS)})"])
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise ConfigError([f"backend {name!r} cannot be loaded: {exc}"]) from None


class ModelRegistry:
    """Backends for the models of one models.toml, created on first use and shared by every agent."""

    def __init__(self, config: ModelsConfig, retry_delays: Sequence[float] = RETRY_DELAYS):
        self.config = config
        self.retry_delays = tuple(retry_delays)
        self._backends: dict[str, Backend] = {}

    def backend(self, name: str | None = None) -> Backend:
        """The backend of one model, without fallbacks."""
        model = self.config.get(name)
        if model.name not in self._backends:
            problems = model.problems()
            if problems:
                raise ConfigError([f"{self.config.source}: {p}" for p in problems])
            self._backends[model.name] = backend_class(model.backend)(model)
        return self._backends[model.name]

    def client(self, name: str | None = None) -> ModelClient:
        """The model with its retries and fallbacks: what agents talk to."""
        chain = [m.name for m in self.config.chain(name)]
        return ModelClient(self, chain)

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()


class ModelClient:
    """Streams from the first model of a chain that works.

    A transient failure (unavailable, timeout) before any text arrived is retried with backoff;
    when a model keeps failing, the next fallback is tried and a ``Notice`` says so.
    """

    def __init__(self, registry: ModelRegistry, chain: list[str]):
        self.registry = registry
        self.chain = chain
        self.name = chain[0]

    @property
    def primary(self) -> Backend:
        return self.registry.backend(self.name)

    async def stream(self, messages: Sequence[ChatMessage], **kwargs: Any) -> AsyncIterator[StreamItem]:
        last: Exception | None = None
        for index, name in enumerate(self.chain):
            try:
                backend = self.registry.backend(name)
            except ConfigError as exc:
                last = exc
                if index + 1 < len(self.chain):
                    yield Notice(f"model {name!r} cannot be used ({exc}); falling back to {self.chain[index + 1]!r}", "fallback")
                continue
            for attempt in range(len(self.registry.retry_delays) + 1):
                started = False
                try:
                    async for item in backend.stream(messages, **kwargs):
                        if isinstance(item, Delta):
                            started = True
                        yield item
                    return
                except BackendError as exc:
                    last = exc
                    if started or not exc.transient or attempt == len(self.registry.retry_delays):
                        if started:
                            raise
                        break
                    delay = self.registry.retry_delays[attempt]
                    yield Notice(f"model {name!r}: {exc}; retrying in {delay:g} s", "retry")
                    await asyncio.sleep(delay)
            if index + 1 < len(self.chain):
                yield Notice(f"model {name!r} failed ({last}); falling back to {self.chain[index + 1]!r}", "fallback")
        assert last is not None
        raise last

    async def complete(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Completion:
        result: Completion | None = None
        async for item in self.stream(messages, **kwargs):
            if isinstance(item, Completion):
                result = item
        assert result is not None
        return result

    def count_tokens(self, messages: Sequence[ChatMessage] | str) -> int:
        return self.primary.count_tokens(messages)
