"""``autogen.token_count_utils``: token counts of text, messages and function schemas.

moot counts without a model's tokenizer (words and punctuation marks, near OpenAI's count for
English; the message transforms count the same way). ``get_max_token_limit`` knows a models.toml
model's ``context_length`` and the context windows of OpenAI's common model families.
"""

from __future__ import annotations

import json
from typing import Any

from moot.agentchat.contrib.capabilities.transforms_util import count_text_tokens
from moot.agents import current_registry

__all__ = ["count_token", "get_max_token_limit", "num_tokens_from_functions", "percentile_used", "token_left"]

# Context windows of OpenAI model families, longest prefix first.
_OPENAI_WINDOWS = [("gpt-4o-mini", 128000), ("gpt-4o", 128000), ("gpt-4-turbo", 128000), ("gpt-4-1106", 128000),
                   ("gpt-4-0125", 128000), ("gpt-4-32k", 32768), ("gpt-4", 8192), ("gpt-3.5-turbo-instruct", 4096),
                   ("gpt-3.5-turbo-16k", 16385), ("gpt-3.5-turbo", 16385), ("o1", 128000)]
# What OpenAI adds around each message and before the reply.
_PER_MESSAGE, _PER_REPLY = 3, 3


def get_max_token_limit(model: str = "gpt-3.5-turbo-0613") -> int:
    """The context window of ``model``: its models.toml ``context_length`` when it is a moot model,
    else its OpenAI family's; a ``ValueError`` naming the model when neither is known."""
    config = current_registry().config.models.get(model)
    if config is not None and config.context_length:
        return config.context_length
    name = model.replace("gpt35", "gpt-3.5").replace("gpt-35", "gpt-3.5")
    for prefix, window in _OPENAI_WINDOWS:
        if name.startswith(prefix):
            return window
    raise ValueError(f"no context window known for model {model!r}: give it a context_length in models.toml")


def count_token(input: str | list[dict[str, Any]] | dict[str, Any], model: str = "gpt-3.5-turbo-0613") -> int:
    """Tokens of a text, a message, or a list of messages (with OpenAI's per-message framing)."""
    if isinstance(input, str):
        return count_text_tokens(input)
    messages = [input] if isinstance(input, dict) else list(input)
    total = _PER_REPLY
    for message in messages:
        total += _PER_MESSAGE
        for key, value in message.items():
            if value is None:
                continue
            text = value if isinstance(value, (str, list)) else json.dumps(value)
            total += count_text_tokens(text) if key == "content" else count_text_tokens(str(text))
    return total


def token_left(input: str | list[dict[str, Any]] | dict[str, Any], model: str = "gpt-3.5-turbo-0613") -> int:
    """How many tokens of ``model``'s window ``input`` leaves."""
    return get_max_token_limit(model) - count_token(input, model)


def percentile_used(input: str | list[dict[str, Any]] | dict[str, Any], model: str = "gpt-3.5-turbo-0613") -> float:
    """The share of ``model``'s window ``input`` takes."""
    return count_token(input, model) / get_max_token_limit(model)


def num_tokens_from_functions(functions: list[dict[str, Any]], model: str = "gpt-3.5-turbo-0613") -> int:
    """Tokens the function (tool) schemas take in a request."""
    total = 0
    for function in functions:
        schema = function.get("function", function)
        total += count_text_tokens(json.dumps(schema, sort_keys=True))
    return total
