"""Which models agents talk to: a ``ModelRegistry``, and ``llm_config`` turned into an ``LLM``.

The registry can always be given explicitly: ``resolve_llm(llm_config, registry=...)`` returns an
``LLM`` bound to it, and an agent built with ``llm_config=<that LLM>`` uses it whatever the
defaults say. Without one, ``current_registry()`` answers: the registry of the innermost
``using_models(...)`` block (a context variable: each task sees its own, so two sessions in one
process do not mix), else the process default that ``use_models(...)`` sets (what scripts use),
else one created on first use from ``backends.load_models()``. Every agent naming the same model
shares one backend instance (the registry creates each backend once), so a local model is loaded
once however many agents use it.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from moot.backends import (
    Backend,
    ChatMessage,
    Completion,
    DefaultsBackend,
    FallbackBackend,
    ModelRegistry,
    ModelRequest,
    ModelsConfig,
    StreamItem,
    ToolSpec,
    load_models,
)

ModelsSource = str | os.PathLike[str] | ModelsConfig | ModelRegistry

_registry: ModelRegistry | None = None  # the process default (use_models); tests save and restore it
_scoped: contextvars.ContextVar[ModelRegistry | None] = contextvars.ContextVar("moot_models", default=None)

# AutoGen llm_config keys that mean nothing here (keys live in models.toml, caching is the
# backend's business); accepted so that ported scripts run unchanged.
IGNORED_KEYS = frozenset({"api_key", "base_url", "api_type", "api_version", "cache_seed", "timeout", "tags",
                          "price", "seed", "cache", "api_rate_limit", "max_retries", "functions"})
OVERRIDES = {"temperature": "temperature", "max_tokens": "max_tokens", "tool_choice": "tool_choice"}


def registry_of(source: ModelsSource) -> ModelRegistry:
    """A registry for ``source``: a models.toml path, a parsed ``ModelsConfig``, or a registry as is."""
    if isinstance(source, ModelRegistry):
        return source
    if isinstance(source, ModelsConfig):
        return ModelRegistry(source)
    return ModelRegistry(load_models(source))


def use_models(source: ModelsSource) -> ModelRegistry:
    """Make ``source`` the models every agent created from now on uses (the process default; a
    ``using_models`` block in force still wins); returns the registry."""
    global _registry
    _registry = registry_of(source)
    return _registry


@contextlib.contextmanager
def using_models(source: ModelsSource) -> Iterator[ModelRegistry]:
    """``with using_models(config) as registry:``: inside the block (and in tasks started from
    it), ``current_registry()`` is this registry; outside, nothing changed."""
    registry = registry_of(source)
    token = _scoped.set(registry)
    try:
        yield registry
    finally:
        _scoped.reset(token)


def current_registry() -> ModelRegistry:
    """The registry in force: a ``using_models`` block's, else the default (created from
    ``backends.load_models()`` on first call)."""
    global _registry
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    if _registry is None:
        _registry = ModelRegistry(load_models())
    return _registry


class LLM:
    """An agent's model: a ``Backend`` (with its retries and fallbacks; a ``FallbackBackend``
    over the entries of a ``config_list``) and the tools its ``llm_config`` declares.

    A value, not another loop: ``stream()`` is the backend's stream, ``complete()`` its drain.
    """

    __slots__ = ("backend", "tools", "models")

    def __init__(self, backend: Backend, tools: Sequence[ToolSpec] | None = None, models: Sequence[str] | None = None):
        self.backend = backend
        self.tools = list(tools or ())
        #: The model names the llm_config lists, in the order they are tried.
        self.models = list(models) if models else [backend.name]

    def __repr__(self) -> str:
        return f"LLM({self.backend!r})"

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def primary(self) -> Backend:
        """The backend asked first."""
        return self.backend.primary

    def context_length(self) -> int | None:
        return self.backend.config.context_length

    def max_output_tokens(self) -> int | None:
        return self.backend.config.max_output_tokens

    def count_tokens(self, messages: Sequence[ChatMessage] | str) -> int:
        return self.backend.count_tokens(messages)

    def stream(self, request: ModelRequest | Sequence[ChatMessage], /, **options: Any) -> AsyncIterator[StreamItem]:
        """The backend's stream (no layer of its own): ``Delta``/``Notice`` items, one ``Completion``."""
        return self.backend.stream(request, **options)

    async def complete(self, request: ModelRequest | Sequence[ChatMessage], /, **options: Any) -> Completion:
        return await self.backend.complete(request, **options)


def _entry(registry: ModelRegistry, spec: dict[str, Any], shared: dict[str, Any]) -> Backend:
    model = spec.get("model")
    if model is not None and not isinstance(model, str):
        raise TypeError(f"llm_config: 'model' must be a models.toml model name, not {model!r}")
    client = registry.client(model)  # ConfigError names the file and the known models
    overrides = {}
    for key, arg in OVERRIDES.items():
        value = spec.get(key, shared.get(key))
        if value is not None:
            overrides[arg] = value
    return DefaultsBackend(client, overrides) if overrides else client


def _tool_specs(raw: Any) -> list[ToolSpec]:
    out = []
    for item in raw or []:
        fn = item.get("function", item) if isinstance(item, dict) else None
        if not isinstance(fn, dict) or "name" not in fn:
            raise TypeError(f"llm_config['tools']: not an OpenAI tool description: {item!r}")
        out.append(ToolSpec(fn["name"], fn.get("description", ""), fn.get("parameters") or {"type": "object", "properties": {}}))
    return out


def resolve_llm(llm_config: Any, registry: ModelRegistry | None = None) -> LLM | None:
    """Turn an AutoGen-style ``llm_config`` into an ``LLM`` (``None`` when it is ``False``).

    Accepts a models.toml model name, ``{"model": name, "temperature": ...}``, ``{"config_list":
    [{"model": a}, {"model": b}], ...}`` (tried in order) or ``{}`` / ``True`` for the default
    model, and an ``LLM`` as it is. Models are looked up in ``registry`` (``current_registry()``
    when none is given). Unknown models raise ``backends.ConfigError`` at once, before any chat
    starts.
    """
    if llm_config is False or llm_config is None:
        return None
    if isinstance(llm_config, LLM):
        return llm_config
    registry = registry or current_registry()
    if llm_config is True:
        llm_config = {}
    if isinstance(llm_config, str):
        return LLM(registry.client(llm_config))
    if not isinstance(llm_config, dict):
        raise TypeError(f"llm_config must be a model name, a dict or False, not {type(llm_config).__name__}")
    tools = _tool_specs(llm_config.get("tools"))
    config_list = llm_config.get("config_list")
    if config_list is not None:
        if not isinstance(config_list, list) or not config_list:
            raise ValueError("llm_config['config_list'] must be a non-empty list of {'model': NAME} entries")
        specs = [{"model": e} if isinstance(e, str) else e for e in config_list]
        entries = [_entry(registry, spec, llm_config) for spec in specs]
        backend = entries[0] if len(entries) == 1 else FallbackBackend(entries, label="config_list")
        return LLM(backend, tools, [e.name for e in entries])
    return LLM(_entry(registry, llm_config, {}), tools)
