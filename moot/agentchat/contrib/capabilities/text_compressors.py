"""Text compressors for ``transforms.TextMessageCompressor``."""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["LLMLingua", "TextCompressor"]


class TextCompressor(Protocol):
    """Makes a text shorter: ``compress_text`` returns ``{"compressed_prompt": ..., and optionally
    "origin_tokens" and "compressed_tokens"}``."""

    def compress_text(self, text: str, **compression_params: Any) -> dict[str, Any]: ...


class LLMLingua:
    """AutoGen's default compressor, which downloads a compression model. moot does not ship it:
    give ``TextMessageCompressor`` a compressor of your own, or cut messages with
    ``MessageTokenLimiter``. Making one raises ``ImportError``, as AutoGen's does without the
    ``llmlingua`` package."""

    def __init__(self, *args: Any, **kwargs: Any):
        raise ImportError("LLMLingua is not available in moot (it needs the llmlingua package and a model "
                                  "download); pass text_compressor= your own TextCompressor, or use "
                                  "MessageTokenLimiter to keep messages short")
