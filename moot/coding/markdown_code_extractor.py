"""Code blocks out of markdown, as ``CodeBlock`` values."""

from __future__ import annotations

import re
from typing import Any

from moot.code_utils import CODE_BLOCK_PATTERN, UNKNOWN, content_str, infer_lang

from .base import CodeBlock

__all__ = ("MarkdownCodeExtractor",)


class MarkdownCodeExtractor:
    """Finds fenced code blocks in a message (a string or OpenAI content parts).

    A block keeps its fence's tag as its language; an untagged block gets the language
    ``infer_lang`` sees in it, or "" when it sees none. No block: an empty list.
    """

    def extract_code_blocks(self, message: str | list[dict[str, Any]] | None) -> list[CodeBlock]:
        blocks = []
        for lang, code in re.findall(CODE_BLOCK_PATTERN, content_str(message), flags=re.DOTALL):
            if not lang:
                lang = infer_lang(code)
            blocks.append(CodeBlock(code=code, language="" if lang == UNKNOWN else lang))
        return blocks
