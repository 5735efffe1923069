"""Which models agents talk to: one shared ``ModelRegistry``, and ``llm_config`` turned into a client.

``use_models(...)`` picks the models.toml (a path, a parsed ``ModelsConfig`` or a ready
``ModelRegistry``); without it the default registry is created on first use from
``backends.load_models()``. Every agent naming the same model shares one backend instance (the
registry creates each backend once), so a local model is loaded once however many agents use it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

from moot.backends import (
    BackendError,
    ConfigError,
    ChatMessage,
    Completion,
    Delta,
    ModelClient,
    ModelRegistry,
    ModelsConfig,
    Notice,
    StreamItem,
    ToolSpec,
    load_models,
)

_registry: ModelRegistry | None = None

# AutoGen llm_config keys that mean nothing here (keys live in models.toml, caching is the
# backend's business); accepted so that ported scripts run unchanged.
IGNORED_KEYS = frozenset({"api_key", "base_url", "api_type", "api_version", "cache_seed", "timeout", "tags",
                          "price", "seed", "cache", "api_rate_limit", "max_retries", "functions"})
OVERRIDES = {"temperature": "temperature", "max_tokens": "max_tokens", "tool_choice": "tool_choice"}


def use_models(source: str | os.PathLike[str] | ModelsConfig | ModelRegistry) -> ModelRegistry:
    """Make ``source`` the models every agent created from now on uses; returns the registry."""
    global _registry
    if isinstance(source, ModelRegistry):
        _registry = source
    elif isinstance(source, ModelsConfig):
        _registry = ModelRegistry(source)
    else:
        _registry = ModelRegistry(load_models(source))
    return _registry


def current_registry() -> ModelRegistry:
    """The registry in use (created from ``backends.load_models()`` on first call)."""
    global _registry
    if _registry is None:
        _registry = ModelRegistry(load_models())
    return _registry


class LLM:
    """An agent's model: one or more (client, overrides) entries, tried in order.

    Each entry is a models.toml model with its own fallbacks and retries (``ModelClient``); when
    one entry fails before any text arrived, the next entry of the ``config_list`` is tried and a
    ``Notice`` says so.
    """

    def __init__(self, entries: list[tuple[ModelClient, dict[str, Any]]], tools: list[ToolSpec] | None = None):
        if not entries:
            raise ValueError("llm_config names no model")
        self.entries = entries
        self.tools = list(tools or [])

    @property
    def name(self) -> str:
        return self.entries[0][0].name

    @property
    def models(self) -> list[str]:
        return [c.name for c, _ in self.entries]

    def context_length(self) -> int | None:
        try:
            return self.entries[0][0].primary.config.context_length
        except Exception:
            return None

    async def stream(self, messages: Sequence[ChatMessage], **kwargs: Any) -> AsyncIterator[StreamItem]:
        last = len(self.entries) - 1
        for index, (client, overrides) in enumerate(self.entries):
            started = False
            try:
                async for item in client.stream(messages, **{**overrides, **kwargs}):
                    if isinstance(item, Delta):
                        started = True
                    yield item
                return
            except (BackendError, ConfigError) as exc:
                if started or index == last:
                    raise
                yield Notice(f"{exc}; falling back to {self.entries[index + 1][0].name!r} (config_list)", "fallback")

    async def complete(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Completion:
        result: Completion | None = None
        async for item in self.stream(messages, **kwargs):
            if isinstance(item, Completion):
                result = item
        assert result is not None
        return result


def _entry(registry: ModelRegistry, spec: dict[str, Any], shared: dict[str, Any]) -> tuple[ModelClient, dict[str, Any]]:
    model = spec.get("model")
    if model is not None and not isinstance(model, str):
        raise TypeError(f"llm_config: 'model' must be a models.toml model name, not {model!r}")
    client = registry.client(model)  # ConfigError names the file and the known models
    overrides = {}
    for key, arg in OVERRIDES.items():
        value = spec.get(key, shared.get(key))
        if value is not None:
            overrides[arg] = value
    return client, overrides


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
    model. Unknown models raise ``backends.ConfigError`` at once, before any chat starts.
    """
    if llm_config is False or llm_config is None:
        return None
    registry = registry or current_registry()
    if llm_config is True:
        llm_config = {}
    if isinstance(llm_config, str):
        return LLM([_entry(registry, {"model": llm_config}, {})])
    if not isinstance(llm_config, dict):
        raise TypeError(f"llm_config must be a model name, a dict or False, not {type(llm_config).__name__}")
    tools = _tool_specs(llm_config.get("tools"))
    config_list = llm_config.get("config_list")
    if config_list is not None:
        if not isinstance(config_list, list) or not config_list:
            raise ValueError("llm_config['config_list'] must be a non-empty list of {'model': NAME} entries")
        entries = [_entry(registry, {"model": e} if isinstance(e, str) else e, llm_config) for e in config_list]
        return LLM(entries, tools)
    return LLM([_entry(registry, llm_config, {})], tools)
