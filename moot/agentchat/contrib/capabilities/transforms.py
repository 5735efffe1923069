"""``autogen.agentchat.contrib.capabilities.transforms``: changes made to the messages an agent
replies from (``TransformMessages`` applies them), so a long chat fits a small model.

Tokens are counted without a model's tokenizer: each word and each punctuation mark is one
(``transforms_util.count_text_tokens``), close to OpenAI's count for English text; AutoGen used
OpenAI's tokenizer (tiktoken), which needs a download.
"""

from __future__ import annotations

import copy
import sys
from typing import Any, Protocol

from .text_compressors import LLMLingua, TextCompressor
from .transforms_util import (
    count_text_tokens,
    is_content_right_type,
    is_content_text_empty,
    min_tokens_reached,
    should_transform_message,
    truncate_text,
)

__all__ = ["MessageHistoryLimiter", "MessageTokenLimiter", "MessageTransform", "TextMessageCompressor",
           "TextMessageContentName"]


class MessageTransform(Protocol):
    """One change to a list of messages, and a line saying what it changed."""

    def apply_transform(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def get_logs(self, pre_transform_messages: list[dict[str, Any]],
                 post_transform_messages: list[dict[str, Any]]) -> tuple[str, bool]: ...


def _without_orphan_tool_results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A tool result whose call was cut away cannot open the history: models refuse it."""
    start = 0
    while start < len(messages) and messages[start].get("role") == "tool":
        start += 1
    return messages[start:]


class MessageHistoryLimiter:
    """Keeps the last ``max_messages`` messages (and the first one too, with ``keep_first_message``)."""

    def __init__(self, max_messages: int | None = None, keep_first_message: bool = False):
        if max_messages is not None and max_messages < 1:
            raise ValueError("max_messages must be None or greater than 1")
        self.max_messages = max_messages
        self.keep_first_message = keep_first_message

    def apply_transform(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.max_messages is None or len(messages) <= self.max_messages:
            return messages
        head = messages[:1] if self.keep_first_message else []
        room = self.max_messages - len(head)
        tail = messages[len(messages) - room:] if room > 0 else []
        return head + _without_orphan_tool_results(tail)

    def get_logs(self, pre_transform_messages: list[dict[str, Any]],
                 post_transform_messages: list[dict[str, Any]]) -> tuple[str, bool]:
        before, after = len(pre_transform_messages), len(post_transform_messages)
        if after < before:
            return f"Removed {before - after} messages. Number of messages reduced from {before} to {after}.", True
        return "No messages were removed.", False


class MessageTokenLimiter:
    """Cuts each message to ``max_tokens_per_message`` tokens and the history to ``max_tokens``
    (the newest messages kept), once it holds at least ``min_tokens``. ``filter_dict`` picks
    messages (``filter_config`` criteria): with ``exclude_filter`` (the default) those are left
    whole, otherwise only those are cut. ``model`` is accepted for AutoGen's signature."""

    def __init__(self, max_tokens_per_message: int | None = None, max_tokens: int | None = None,
                 min_tokens: int | None = None, model: str = "gpt-3.5-turbo-0613",
                 filter_dict: dict[str, Any] | None = None, exclude_filter: bool = True):
        for value in (max_tokens_per_message, max_tokens):
            if value is not None and value < 0:
                raise ValueError("max_tokens and max_tokens_per_message must be None or greater than or equal to 0")
        if min_tokens is not None and min_tokens < 0:
            raise ValueError("min_tokens must be None or greater than or equal to 0.")
        if min_tokens is not None and max_tokens is not None and min_tokens > max_tokens:
            raise ValueError("min_tokens must not be more than max_tokens.")
        self.max_tokens_per_message = sys.maxsize if max_tokens_per_message is None else max_tokens_per_message
        self.max_tokens = sys.maxsize if max_tokens is None else max_tokens
        self.min_tokens = min_tokens or 0
        self.model = model
        self.filter_dict = filter_dict
        self.exclude_filter = exclude_filter

    def apply_transform(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not min_tokens_reached(messages, self.min_tokens):
            return messages
        kept: list[dict[str, Any]] = []
        used = 0
        for message in reversed(copy.deepcopy(messages)):
            content = message.get("content")
            if not is_content_right_type(content):
                kept.append(message)
                continue
            if should_transform_message(message, self.filter_dict, self.exclude_filter):
                message["content"] = truncate_text(content, self.max_tokens_per_message)
            tokens = count_text_tokens(message["content"])
            if used + tokens > self.max_tokens:  # the history is full: this one is cut to fit, the older go
                if used < self.max_tokens:
                    message["content"] = truncate_text(message["content"], self.max_tokens - used)
                    kept.append(message)
                break
            used += tokens
            kept.append(message)
        return _without_orphan_tool_results(kept[::-1])

    def get_logs(self, pre_transform_messages: list[dict[str, Any]],
                 post_transform_messages: list[dict[str, Any]]) -> tuple[str, bool]:
        before = sum(count_text_tokens(m.get("content")) for m in pre_transform_messages)
        after = sum(count_text_tokens(m.get("content")) for m in post_transform_messages)
        if after < before:
            return f"Truncated {before - after} tokens. Number of tokens reduced from {before} to {after}", True
        return "No tokens were truncated.", False


class TextMessageContentName:
    """Writes each message's sender ``name`` into its text (``format_string`` at the ``position``
    "start" or "end"), for models that do not read the ``name`` field; ``deduplicate`` skips
    text that already holds it."""

    def __init__(self, position: str = "start", format_string: str = "{name}:\n", deduplicate: bool = True,
                 filter_dict: dict[str, Any] | None = None, exclude_filter: bool = True):
        # AssertionError, as AutoGen raises for these
        if position not in ("start", "end"):
            raise AssertionError(f"TextMessageContentName: position must be 'start' or 'end', not {position!r}")
        if not isinstance(format_string, str) or "{name}" not in format_string:
            raise AssertionError(f"TextMessageContentName: format_string must be a string holding {{name}}, "
                                 f"not {format_string!r}")
        if not isinstance(deduplicate, bool):
            raise AssertionError(f"TextMessageContentName: deduplicate must be True or False, not {deduplicate!r}")
        self.position = position
        self.format_string = format_string
        self.deduplicate = deduplicate
        self.filter_dict = filter_dict
        self.exclude_filter = exclude_filter

    def apply_transform(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = copy.deepcopy(messages)
        for message in out:
            name, content = message.get("name"), message.get("content")
            if not name or not isinstance(content, str) or not should_transform_message(message, self.filter_dict, self.exclude_filter):
                continue
            label = self.format_string.format(name=name)
            if self.deduplicate and label in content:
                continue
            message["content"] = label + content if self.position == "start" else content + label
        return out

    def get_logs(self, pre_transform_messages: list[dict[str, Any]],
                 post_transform_messages: list[dict[str, Any]]) -> tuple[str, bool]:
        changed = sum(a.get("content") != b.get("content") for a, b in zip(pre_transform_messages, post_transform_messages))
        if changed:
            return f"{changed} message(s) changed to incorporate name.", True
        return "No messages changed to incorporate name.", False


class TextMessageCompressor:
    """Compresses the text of messages with ``text_compressor`` (a ``TextCompressor``), once
    they hold at least ``min_tokens``; ``compression_params`` go to each call, ``cache`` (an
    object with ``get(key)`` / ``set(key, value)``) keeps results, ``filter_dict`` and
    ``exclude_filter`` pick messages as for ``MessageTokenLimiter``. Without a compressor this
    would be LLMLingua, which moot does not ship (``LLMLingua()`` says so)."""

    def __init__(self, text_compressor: TextCompressor | None = None, min_tokens: int | None = None,
                 compression_params: dict[str, Any] | None = None, cache: Any = None,
                 filter_dict: dict[str, Any] | None = None, exclude_filter: bool = True):
        if min_tokens is not None and min_tokens <= 0:
            raise ValueError("min_tokens must be greater than 0 or None")
        self.text_compressor = text_compressor if text_compressor is not None else LLMLingua()
        self.min_tokens = min_tokens
        self.compression_params = dict(compression_params or {})
        self.cache = cache
        self.filter_dict = filter_dict
        self.exclude_filter = exclude_filter
        self.saved_tokens = 0  # by the last apply_transform

    def _compress_text(self, text: str) -> tuple[str, int]:
        key = f"moot-text-compression:{self.min_tokens}:{text}"
        cached = self.cache.get(key) if self.cache is not None else None
        if cached is not None:
            return cached[0], cached[1]
        answer = self.text_compressor.compress_text(text, **self.compression_params)
        saved = answer.get("origin_tokens", 0) - answer.get("compressed_tokens", 0) if "origin_tokens" in answer else 0
        if self.cache is not None:
            self.cache.set(key, (answer["compressed_prompt"], saved))
        return answer["compressed_prompt"], saved

    def apply_transform(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.saved_tokens = 0
        if not messages or not min_tokens_reached(messages, self.min_tokens):
            return messages
        out = copy.deepcopy(messages)
        for message in out:
            content = message.get("content")
            if (not is_content_right_type(content) or is_content_text_empty(content)
                    or not should_transform_message(message, self.filter_dict, self.exclude_filter)):
                continue
            if isinstance(content, str):
                message["content"], saved = self._compress_text(content)
                self.saved_tokens += saved
            else:
                for part in content:
                    if isinstance(part, dict) and "text" in part:
                        part["text"], saved = self._compress_text(part["text"])
                        self.saved_tokens += saved
        return out

    def get_logs(self, pre_transform_messages: list[dict[str, Any]],
                 post_transform_messages: list[dict[str, Any]]) -> tuple[str, bool]:
        if self.saved_tokens > 0:
            return f"{self.saved_tokens} tokens saved with text compression.", True
        return "No tokens saved with text compression.", False
