"""What a reply cache (``moot.cache``, handed over as ``cache=``) keeps of a model call: the
request hashed into a key, the completion as plain values.

The key covers what decides the reply: each model tried (backend, model, its settings and the
defaults its wrappers fill in), the messages, the tools and the call's options. It never holds an
API key, nor the name of the variable that holds one, nor a password in a ``base_url``; and it is
a SHA-256 digest, so the cache does not hold the conversation in its keys either.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from moot.backends import ChatMessage, Completion, ToolCall, ToolSpec, Usage

from ._models import LLM

# A model's settings that do not decide its reply, or must never be stored.
_NOT_KEYED = {"api_key_env", "base_dir", "replies", "script", "fallbacks", "timeout_s", "capabilities"}


def _plain(value: Any) -> Any:
    if isinstance(value, ChatMessage):
        return value.to_openai()
    if isinstance(value, ToolSpec):
        return value.to_openai()
    schema = getattr(value, "model_json_schema", None)  # a pydantic model as a response format
    if callable(schema):
        return schema()
    return repr(value)


def _without_password(url: str | None) -> str | None:
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))


def _model_identity(llm: LLM) -> list[dict[str, Any]]:
    out = []
    for step in getattr(llm.backend, "steps", None) or ():
        config = step.backend.config.model_dump(mode="json", exclude=_NOT_KEYED)
        config["base_url"] = _without_password(config.get("base_url"))
        out.append({"model": config, "defaults": dict(step.defaults or {})})
    if not out:
        config = llm.backend.config.model_dump(mode="json", exclude=_NOT_KEYED)
        config["base_url"] = _without_password(config.get("base_url"))
        out.append({"model": config, "defaults": {}})
    return out


def request_key(llm: LLM, view: list[ChatMessage], options: dict[str, Any]) -> str:
    """The cache key of one model call."""
    request = {
        "models": _model_identity(llm),
        "messages": view,
        "options": {k: v for k, v in options.items() if k != "prompt_chars" and v is not None},
    }
    text = json.dumps(request, sort_keys=True, default=_plain, ensure_ascii=False)
    return "moot-reply:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def stored_completion(completion: Completion) -> dict[str, Any]:
    """The completion as the cache keeps it (plain values)."""
    u = completion.usage
    return {
        "content": completion.content,
        "model": completion.model,
        "finish_reason": completion.finish_reason,
        "tool_calls": [[c.id, c.name, c.arguments] for c in completion.tool_calls],
        "usage": [u.prompt_tokens, u.completion_tokens, u.cached_tokens],
        "parsed": completion.parsed,
    }


def cached_completion(value: Any) -> Completion | None:
    """The completion a cache entry holds; ``None`` for an entry this did not write."""
    if not isinstance(value, dict) or "content" not in value or "model" not in value:
        return None
    try:
        return Completion(
            content=value["content"], model=value["model"], finish_reason=value.get("finish_reason", "stop"),
            tool_calls=tuple(ToolCall(*c) for c in value.get("tool_calls") or ()),
            usage=Usage(*value.get("usage") or ()), parsed=value.get("parsed"))
    except TypeError:
        return None
