"""Finding backends by name, and one shared backend per model, with its retries and fallbacks."""

from __future__ import annotations

import functools
import importlib
from collections.abc import AsyncIterator, Sequence
from importlib.metadata import entry_points

from ._base import Backend
from ._errors import ConfigError
from ._types import BackendStatus, ModelRequest, StreamItem
from ._wrappers import RETRY_DELAYS, FallbackBackend, RetryingBackend, RetryPolicy
from .config import ModelConfig, ModelsConfig

# Built-ins are registered like plugins (entry point group "moot.backends"); this table is the
# same list for running from a source tree where the distribution's metadata is not installed.
BUILTIN_BACKENDS = {
    "llama_cpp": "moot.backends.llama_cpp:LlamaCppBackend",
    "ollama": "moot.backends.ollama:OllamaBackend",
    "openai": "moot.backends.openai:OpenAIBackend",
    "anthropic": "moot.backends.anthropic:AnthropicBackend",
    "scripted": "moot.backends.scripted:ScriptedBackend",
}


@functools.cache
def _plugins() -> dict[str, str]:
    """The "moot.backends" entry points, by name: read once a process (a scan of every installed
    distribution's metadata costs milliseconds, and each session's models asked again)."""
    found: dict[str, str] = {}
    for ep in entry_points(group="moot.backends"):
        found.setdefault(ep.name, ep.value)
    return found


def backend_class(name: str) -> type[Backend]:
    """The class implementing backend ``name`` (imported only when first needed)."""
    target = _plugins().get(name) or BUILTIN_BACKENDS.get(name)
    if target is None:
        raise ConfigError([f"no backend named {name!r} (known: {', '.join(BUILTIN_BACKENDS)})"])
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise ConfigError([f"backend {name!r} cannot be loaded: {exc}"]) from None


class ModelRegistry:
    """Backends for the models of one models.toml, created on first use and shared by every agent.

    ``backend(name)`` is one model as it is; ``client(name)`` is the model with its retries and
    its models.toml fallbacks, a ``Backend`` too: what agents talk to. ``status(name)`` says where
    a model stands without calling it (nor creating anything). ``aclose()`` closes every backend.
    """

    def __init__(self, config: ModelsConfig, retry_delays: Sequence[float] = RETRY_DELAYS):
        self.config = config
        self.retry = RetryPolicy(tuple(retry_delays))
        self._backends: dict[str, Backend] = {}
        self._ad_hoc: dict[str, Backend] = {}  # models named in no models.toml, by their config

    @property
    def retry_delays(self) -> tuple[float, ...]:
        return self.retry.delays

    def backend(self, name: str | None = None) -> Backend:
        """The backend of one model, without fallbacks. ``ConfigError`` when it cannot be made."""
        model = self.config.get(name)
        backend = self._backends.get(model.name)
        if backend is None:
            problems = model.problems()
            if problems:
                raise ConfigError([f"{self.config.source}: {p}" for p in problems])
            backend = self._backends[model.name] = backend_class(model.backend)(model)
        return backend

    def client(self, name: str | None = None) -> Backend:
        """The model with its retries and fallbacks (``RetryingBackend`` over the chain). An
        unknown name is a ``ConfigError`` now; a model that cannot be made yet (a missing key, a
        broken script) fails when called, so that its fallbacks can answer instead."""
        chain = [self._usable(m.name) for m in self.config.chain(name)]
        inner = chain[0] if len(chain) == 1 else FallbackBackend(chain)
        return RetryingBackend(inner, self.retry)

    def ad_hoc(self, model: ModelConfig) -> Backend:
        """A model that is in no models.toml (an AutoGen ``config_list`` entry), with this
        registry's retries; one backend per distinct config, closed with the registry."""
        key = model.model_dump_json()
        backend = self._ad_hoc.get(key)
        if backend is None:
            problems = model.problems()
            if problems:
                raise ConfigError(problems)
            backend = self._ad_hoc[key] = backend_class(model.backend)(model)
        return RetryingBackend(backend, self.retry)

    def _usable(self, name: str) -> Backend:
        try:
            return self.backend(name)
        except ConfigError as exc:
            return _NotYetMade(self, name, exc)

    def status(self, name: str | None = None) -> BackendStatus:
        """Where model ``name`` stands: its config problems, else its backend's own status once
        the backend exists, else ``ready``."""
        model = self.config.get(name)
        problems = model.problems()
        if problems:
            return BackendStatus("failed", "; ".join(p.split(": ", 1)[-1] for p in problems))
        backend = self._backends.get(model.name)
        return backend.status() if backend is not None else BackendStatus("ready")

    async def aclose(self) -> None:
        for backend in [*self._backends.values(), *self._ad_hoc.values()]:
            await backend.aclose()
        self._backends.clear()
        self._ad_hoc.clear()


class _NotYetMade(Backend):
    """A model whose backend could not be made: each call tries again (the key may be set by
    now), and raises the ``ConfigError`` while it still cannot."""

    def __init__(self, registry: ModelRegistry, name: str, error: ConfigError):
        super().__init__(registry.config.get(name))
        self.registry = registry
        self.error = error

    def status(self) -> BackendStatus:
        return BackendStatus("failed", "; ".join(self.error.problems))

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        backend = self.registry.backend(self.name)  # raises the ConfigError while it stands
        async for item in backend._stream(request):
            yield item
