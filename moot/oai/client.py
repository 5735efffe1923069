"""``autogen.oai.client``: AutoGen's ``OpenAIWrapper`` on moot's backends.

``OpenAIWrapper(config_list=[...], **settings)`` takes what an agent's ``llm_config`` takes (a
models.toml model name per entry, or AutoGen's ``{"model", "api_key", "base_url", ...}``); entries
are tried in order. ``create(messages=[...], ...)`` answers in the OpenAI ``ChatCompletion`` shape
(with ``.cost``, always 0.0: moot prices no call). Answers are cached when a cache is handed over
(``create(..., cache=Cache.disk())``) or an integer ``cache_seed`` is given (to ``create`` or to
the wrapper): then in ``.cache/<seed>``, as AutoGen does. Unlike AutoGen, a wrapper given no seed
caches nothing (AutoGen's default seed 41 writes ``.cache/41`` into the working directory).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from openai.types.chat import ChatCompletion

from moot.agents._chat import cost_of
from moot.agents._messages import to_chat_messages
from moot.agents._models import _tool_specs, resolve_llm
from moot.agents._replycache import cached_completion, request_key, stored_completion
from moot.agents._sync import run_sync
from moot.backends import Completion, ModelRequest, Usage
from moot.cache import Cache

__all__ = ["TOOL_ENABLED", "ModelClient", "OpenAIWrapper"]

#: Whether tool calls can be offered to models: always, in moot (each backend takes tools).
TOOL_ENABLED = True

# create() keywords that are options of the one call; any other keyword is a model setting.
_CALL_OPTIONS = frozenset({"messages", "cache", "cache_seed", "temperature", "max_tokens", "tools", "tool_choice",
                           "response_format", "stream", "agent"})
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "truncated": "length"}


class ModelClient(Protocol):
    """AutoGen's protocol of a custom model client. moot does not plug one in: a model is a
    models.toml entry on one of moot's backends (``OpenAIWrapper.register_model_client`` says so)."""

    def create(self, params: dict[str, Any]) -> Any: ...

    def message_retrieval(self, response: Any) -> list[Any]: ...


def _response(completion: Completion, cached: bool) -> ChatCompletion:
    message: dict[str, Any] = {"role": "assistant", "content": completion.content or None}
    if completion.tool_calls:
        message["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                                 for c in completion.tool_calls]
    u = completion.usage
    response = ChatCompletion.model_validate({
        "id": "moot-completion", "object": "chat.completion", "created": int(time.time()), "model": completion.model,
        "choices": [{"index": 0, "message": message, "finish_reason": _FINISH.get(completion.finish_reason, "stop")}],
        "usage": {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                  "total_tokens": u.total_tokens}})
    response.cost = 0.0
    response.is_cached = cached
    return response


class OpenAIWrapper:
    """AutoGen's client: one ``create()`` call to the first model of ``config_list`` that answers."""

    def __init__(self, *, config_list: list[dict[str, Any]] | None = None, **base_config: Any):
        self._base = {k: v for k, v in base_config.items() if k != "cache"}
        if config_list is not None:
            self._base["config_list"] = config_list
        self._llm = resolve_llm(self._base or True)
        self._total: dict[str, Usage] = {}
        self._actual: dict[str, Usage] = {}
        self._seeded: dict[int, Cache] = {}  # the disk caches of the cache_seed values asked for

    @property
    def total_usage_summary(self) -> dict[str, Any] | None:
        """Tokens of every call, cached answers included, per model (``None`` before any call)."""
        return cost_of(self._total)["usage_including_cached_inference"] if self._total else None

    @property
    def actual_usage_summary(self) -> dict[str, Any] | None:
        """Tokens of the calls a model answered (not the cache), per model."""
        return cost_of(self._actual)["usage_including_cached_inference"] if self._actual else None

    def create(self, **config: Any) -> ChatCompletion:
        """One chat completion for ``messages`` (OpenAI's dicts). ``temperature``, ``max_tokens``,
        ``tools``, ``tool_choice`` and ``response_format`` are this call's; other keywords (``model``,
        ``config_list``, ...) change the model settings for this call only."""
        messages = config.get("messages")
        if not isinstance(messages, list):
            raise TypeError("OpenAIWrapper.create() needs messages=[{'role': ..., 'content': ...}, ...] "
                            "(moot does not take AutoGen's legacy prompt= templates)")
        settings = {k: v for k, v in config.items() if k not in _CALL_OPTIONS}
        llm = resolve_llm({**self._base, **settings} or True) if settings else self._llm
        view = to_chat_messages(messages)
        tools = config.get("tools")
        request = ModelRequest.of(view, tools=llm.tools if tools is None else _tool_specs(tools),
                                  tool_choice=config.get("tool_choice"), response_format=config.get("response_format"),
                                  max_tokens=config.get("max_tokens"), temperature=config.get("temperature"))
        cache = config.get("cache")
        seed = config.get("cache_seed", self._base.get("cache_seed"))
        if cache is None and isinstance(seed, int) and not isinstance(seed, bool):
            cache = self._seeded.get(seed) or self._seeded.setdefault(seed, Cache.disk(cache_seed=seed))
        key = request_key(llm, view, {"tools": request.tools, "tool_choice": request.tool_choice,
                                      "schema": request.schema, "max_tokens": request.max_tokens,
                                      "temperature": request.temperature}) if cache is not None else None
        completion = cached_completion(cache.get(key, None)) if key else None
        cached = completion is not None
        if completion is None:
            completion = run_sync(llm.complete(request))
            if key:
                cache.set(key, stored_completion(completion))
            before = self._actual.get(completion.model)
            self._actual[completion.model] = completion.usage if before is None else before + completion.usage
        before = self._total.get(completion.model)
        self._total[completion.model] = completion.usage if before is None else before + completion.usage
        return _response(completion, cached)

    @classmethod
    def extract_text_or_completion_object(cls, response: ChatCompletion) -> list[Any]:
        """Each choice's text, or its message (tool calls and all) when it called tools."""
        return [c.message if c.message.tool_calls else c.message.content for c in response.choices]

    def print_usage_summary(self, mode: str | list[str] = ("actual", "total")) -> None:
        """Print the tokens used, per model (costs are 0.0: moot prices no call)."""
        modes = [mode] if isinstance(mode, str) else list(mode)
        for name, summary in (("actual", self.actual_usage_summary), ("total", self.total_usage_summary)):
            if name not in modes:
                continue
            if summary is None:
                print(f"No {name} usage recorded.")
                continue
            print(f"Usage summary ({'excluding' if name == 'actual' else 'including'} cached usage):")
            for model, block in summary.items():
                if model != "total_cost":
                    print(f"* Model '{model}': prompt_tokens: {block['prompt_tokens']}, completion_tokens: "
                          f"{block['completion_tokens']}, total_tokens: {block['total_tokens']}, cost: 0.0")

    def clear_usage_summary(self) -> None:
        self._total.clear()
        self._actual.clear()

    def register_model_client(self, model_client_cls: type, **kwargs: Any) -> None:
        raise NotImplementedError(
            f"moot does not plug in custom model clients ({getattr(model_client_cls, '__name__', model_client_cls)}): "
            "name the model in models.toml on one of moot's backends (openai, ollama, llama_cpp, anthropic, "
            "scripted) and give its name in config_list")
