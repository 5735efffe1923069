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
import hashlib
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from moot.backends import (
    Backend,
    ChatMessage,
    Completion,
    ConfigError,
    DefaultsBackend,
    FallbackBackend,
    ModelConfig,
    ModelRegistry,
    ModelRequest,
    ModelsConfig,
    StreamItem,
    ToolSpec,
    load_models,
)
from moot.backends.config import BUILTIN_DEFAULTS
from moot.redact import SECRET_NAME

ModelsSource = str | os.PathLike[str] | ModelsConfig | ModelRegistry

_registry: ModelRegistry | None = None  # the process default (use_models); tests save and restore it
_scoped: contextvars.ContextVar[ModelRegistry | None] = contextvars.ContextVar("moot_models", default=None)

# AutoGen llm_config keys that mean nothing here (caching is the backend's business); accepted so
# that ported scripts run unchanged. The connection keys act only on an ad-hoc entry (see _ad_hoc).
IGNORED_KEYS = frozenset({"api_key", "base_url", "api_type", "api_version", "cache_seed", "timeout", "tags",
                          "price", "seed", "cache", "api_rate_limit", "max_retries", "functions"})
OVERRIDES = {"temperature": "temperature", "max_tokens": "max_tokens", "tool_choice": "tool_choice"}

# An entry holding one of these and naming no models.toml model is a model of its own.
CONNECTION_KEYS = ("api_key", "base_url", "api_type", "api_version", "client_host", "azure_endpoint")
# AutoGen's api_type -> moot's backend; "azure" is the openai backend with an api_version.
API_TYPES = {"openai": "openai", "azure": "openai", "ollama": "ollama", "anthropic": "anthropic"}
DEFAULT_AZURE_API_VERSION = "2024-02-01"  # what AutoGen 0.2 assumes for an Azure entry without one
# Where AutoGen's clients look for a key an entry does not give.
_KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "azure": "AZURE_OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


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
        """The model's window in tokens (``Backend.context_window``)."""
        return self.backend.context_window()

    def max_output_tokens(self) -> int | None:
        return self.backend.config.max_output_tokens

    def count_tokens(self, messages: Sequence[ChatMessage] | str) -> int:
        return self.backend.count_tokens(messages)

    def stream(self, request: ModelRequest | Sequence[ChatMessage], /, **options: Any) -> AsyncIterator[StreamItem]:
        """The backend's stream (no layer of its own): ``Delta``/``Notice`` items, one ``Completion``."""
        return self.backend.stream(request, **options)

    async def complete(self, request: ModelRequest | Sequence[ChatMessage], /, **options: Any) -> Completion:
        return await self.backend.complete(request, **options)


def _key_variable(key: str) -> str:
    """The name of an environment variable holding ``key``: a key-like one that already does (a
    script that passed ``os.environ["OPENAI_API_KEY"]``), else a new one named after a digest of
    the key.
    So a key given in a config_list lives where models.toml keys live: the model's config names
    a variable, never the key; sessions and exports never see it; the redactor knows it; the
    executors' allow-listed environments leave it out."""
    for name, value in os.environ.items():
        if value == key and SECRET_NAME.search(name):
            return name
    name = "MOOT_CONFIG_LIST_KEY_" + hashlib.sha256(key.encode()).hexdigest()[:12].upper()
    os.environ[name] = key
    return name


# What an ad-hoc entry may hold besides its connection: an AutoGen client's other settings
# (http_client, default_headers, organization, ...) are refused, since moot makes the client.
_ENTRY_KEYS = frozenset({"model", "tools", "config_list", "stream", *CONNECTION_KEYS, *IGNORED_KEYS, *OVERRIDES})


def _ad_hoc(spec: dict[str, Any], where: str, model: str) -> ModelConfig:
    """The model an OpenAI-style entry describes (``model``, ``base_url``, ``api_key``, ``api_type``,
    ``api_version``), on the backend its ``api_type`` names (openai when it names none)."""
    unknown = sorted(str(k) for k in spec if k not in _ENTRY_KEYS)
    if unknown:
        raise TypeError(f"{where}: {', '.join(map(repr, unknown))} cannot be set in a config_list entry here (moot "
                        f"makes the model's client itself; the entry takes {', '.join(sorted(_ENTRY_KEYS - {'config_list'}))})")
    api_type = spec.get("api_type") or "openai"
    if api_type not in API_TYPES:
        raise ConfigError([f"{where}: api_type {str(api_type)[:40]!r} is not supported (supported: "
                           f"{', '.join(API_TYPES)}); or name a models.toml model instead"])
    api_key = spec.get("api_key")
    if api_key is not None and not isinstance(api_key, str):
        raise ConfigError([f"{where}: field 'api_key' must be a string"])
    # Without a key of its own, an entry for the official endpoint (or Azure) uses the variable
    # AutoGen's clients read; a server of the user's own never gets that key (moot's rule).
    fallback_variable = _KEY_VARIABLES.get(api_type) if api_type == "azure" or not spec.get("base_url") else None
    api_key_env = (_key_variable(api_key) if api_key
                   else fallback_variable if fallback_variable and os.environ.get(fallback_variable) else None)
    base_url = spec.get("base_url") or spec.get("azure_endpoint") or spec.get("client_host")
    label = model or (urlsplit(base_url).netloc if isinstance(base_url, str) else "") or "model"
    values: dict[str, Any] = {
        "name": "".join(ch if ch.isalnum() or ch in "_.:/@+-" else "_" for ch in label),
        "backend": API_TYPES[api_type], "model": model,  # no model: the server's own (local servers serve one)
        "base_url": base_url,
        "api_key_env": api_key_env,
        "temperature": BUILTIN_DEFAULTS["temperature"], "timeout_s": spec.get("timeout") or BUILTIN_DEFAULTS["timeout_s"],
        "context_length": BUILTIN_DEFAULTS["context_length"], "max_output_tokens": BUILTIN_DEFAULTS["max_output_tokens"],
    }
    if api_type == "azure" or spec.get("api_version"):
        values["api_version"] = spec.get("api_version") or DEFAULT_AZURE_API_VERSION
    try:
        return ModelConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError([f"{where}: field {'.'.join(map(str, e['loc'])) or '?'!r}: "
                           f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]) from None


def _entry(registry: ModelRegistry, spec: dict[str, Any], shared: dict[str, Any], where: str = "llm_config") -> Backend:
    model = spec.get("model")
    if model is not None and not isinstance(model, str):
        raise TypeError(f"{where}: 'model' must be a model name, not {model!r}")
    if "model_client_cls" in spec:
        raise NotImplementedError(
            f"{where}: model_client_cls {str(spec['model_client_cls'])[:60]!r} (AutoGen's custom model client) is not "
            "supported: moot talks to models through its backends; give the model a models.toml entry (openai for any "
            "OpenAI-compatible server, ollama, llama_cpp, anthropic) and name it in config_list")
    if model == "":
        raise ValueError("When using OpenAI or Azure OpenAI endpoints, specify a non-empty 'model' either in "
                         "'llm_config' or in each config of 'config_list'.")
    if model not in registry.config.models and (
            any(k in spec for k in CONNECTION_KEYS) or (model and os.environ.get("OPENAI_API_KEY"))):
        # An AutoGen entry naming its own endpoint (or, with OPENAI_API_KEY set, a bare OpenAI
        # model name, as AutoGen reads it); a models.toml model of the same name wins, so a
        # models.toml can point a ported script at another backend without editing it.
        client = registry.ad_hoc(_ad_hoc(spec, where, model or shared.get("model") or ""))
    else:
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

    An entry in AutoGen's own shape, ``{"model": "gpt-4o", "api_key": ..., "base_url": ...,
    "api_type": "openai" | "azure" | "ollama" | "anthropic", "api_version": ...}``, that names no
    models.toml model is a model of its own on that backend (openai when ``api_type`` is not
    given; AutoGen's ``timeout`` is its ``timeout_s``; without a model, the server's own); so is a
    bare ``{"model": "gpt-4o"}`` while ``OPENAI_API_KEY`` is set (without it, an unknown name is
    the ConfigError above). Its key is kept in an environment variable and the model names only
    the variable, as a models.toml entry does (see ``_key_variable``). Client settings moot does
    not take (``http_client``, ``organization``, ...) are a TypeError naming them.
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
            raise ValueError("llm_config['config_list'] must be a non-empty list of {'model': NAME} entries (AutoGen: "
                             "When using OpenAI or Azure OpenAI endpoints, specify a non-empty 'model' either in "
                             "'llm_config' or in each config of 'config_list'.)")
        specs = [{"model": e} if isinstance(e, str) else e for e in config_list]
        entries = [_entry(registry, spec, llm_config, f"llm_config['config_list'][{i}]") for i, spec in enumerate(specs)]
        backend = entries[0] if len(entries) == 1 else FallbackBackend(entries, label="config_list")
        return LLM(backend, tools, [e.name for e in entries])
    return LLM(_entry(registry, llm_config, {}), tools)
