"""What the message transforms share: token counts, filters, and the shape of a history."""

from __future__ import annotations

import re
from typing import Any

from moot.oai import filter_config

__all__ = ["count_text_tokens", "is_content_right_type", "is_content_text_empty", "is_tool_call_valid",
           "min_tokens_reached", "should_transform_message", "truncate_text"]

#: A token, without a model's tokenizer: a word, or one mark that is neither a word nor a space.
TOKEN = re.compile(r"\w+|[^\w\s]")


def count_text_tokens(content: Any) -> int:
    """Tokens in a message's content (a string, or the text parts of a content list): its words
    and punctuation marks, near OpenAI's count for English."""
    if isinstance(content, str):
        return len(TOKEN.findall(content))
    if isinstance(content, list):
        return sum(count_text_tokens(part.get("text", "")) for part in content if isinstance(part, dict))
    return 0


def truncate_text(content: Any, tokens: int) -> Any:
    """``content`` cut after its first ``tokens`` tokens (each text part of a content list; images kept)."""
    if isinstance(content, str):
        if tokens <= 0:
            return ""
        for i, match in enumerate(TOKEN.finditer(content), 1):
            if i == tokens:
                return content[:match.end()]
        return content
    if isinstance(content, list):
        return [{**part, "text": truncate_text(part["text"], tokens)} if part.get("type") == "text" else part
                for part in content]
    raise ValueError(f"message content must be a string or a list of content parts, not {type(content).__name__}")


def min_tokens_reached(messages: list[dict[str, Any]], min_tokens: int | None) -> bool:
    """Whether the messages hold at least ``min_tokens`` tokens (always, without a minimum)."""
    return not min_tokens or sum(count_text_tokens(m.get("content")) for m in messages) >= min_tokens


def is_content_right_type(content: Any) -> bool:
    return isinstance(content, (str, list))


def is_content_text_empty(content: Any) -> bool:
    if isinstance(content, str):
        return content == ""
    if isinstance(content, list):
        return all(not part.get("text") for part in content if isinstance(part, dict))
    return True


def should_transform_message(message: dict[str, Any], filter_dict: dict[str, Any] | None, exclude: bool) -> bool:
    """Whether a transform with this filter (``filter_config`` criteria) applies to ``message``:
    with ``exclude``, to those the filter does not match; else to those it matches."""
    if not filter_dict:
        return True
    return bool(filter_config([message], filter_dict)) != exclude


def is_tool_call_valid(messages: list[dict[str, Any]]) -> bool:
    """False when the history opens with a tool result whose call is gone (models refuse it)."""
    return not messages or messages[0].get("role") != "tool"
