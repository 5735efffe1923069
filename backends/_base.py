"""The one interface every model backend implements."""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ._errors import BadResponse
from ._types import Capabilities, ChatMessage, Completion, Delta, StreamItem, ToolSpec
from .config import ModelConfig

ToolChoice = str | None  # None/"auto": the model decides; "required": some tool; or a tool's name


def schema_of(response_format: Any) -> dict[str, Any] | None:
    """Accept a JSON schema dict, ``{"type": "json_schema", "json_schema": {"schema": ...}}``, or a
    pydantic model class, and return the plain schema."""
    if response_format is None:
        return None
    if isinstance(response_format, type) and hasattr(response_format, "model_json_schema"):
        return response_format.model_json_schema()
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema" and "json_schema" in response_format:
            return response_format["json_schema"].get("schema", {})
        if response_format.get("type") == "json_object" and "schema" in response_format:
            return response_format["schema"]
        return response_format
    raise TypeError(f"response_format must be a JSON schema dict or a pydantic model, not {type(response_format).__name__}")


def match_choice(text: str, choices: Sequence[str]) -> str | None:
    """The choice a reply names: exact, then quoted/cased variants, then the first one mentioned."""
    stripped = text.strip().strip("\"'`.").strip()
    if stripped in choices:
        return stripped
    lowered = {c.lower(): c for c in choices}
    if stripped.lower() in lowered:
        return lowered[stripped.lower()]
    best: tuple[int, int, str] | None = None
    for c in choices:
        m = re.search(rf"(?<![\w-]){re.escape(c)}(?![\w-])", text, flags=re.IGNORECASE)
        if m and (best is None or (m.start(), -len(c)) < best[:2]):
            best = (m.start(), -len(c), c)
    return best[2] if best else None


class Backend(ABC):
    """A model behind one async interface.

    ``stream()`` yields ``Delta`` pieces of the reply (and ``Notice`` items worth showing the user)
    and ends with exactly one ``Completion``. Closing the stream early (``aclose()``, or cancelling
    the task that iterates it) stops generation. ``choices`` forces the reply to be exactly one of
    the given strings; ``response_format`` (a JSON schema) forces a JSON reply, decoded into
    ``Completion.parsed``.
    """

    #: What the backend can do when models.toml declares nothing (a backend may probe instead).
    default_capabilities = Capabilities()

    def __init__(self, config: ModelConfig):
        self.config = config
        self.name = config.name

    @property
    def capabilities(self) -> Capabilities:
        declared = self.config.capabilities
        base = self.default_capabilities
        if declared is None:
            return base
        return Capabilities(
            tools=base.tools if declared.tools is None else declared.tools,
            json=base.json if declared.json_ is None else declared.json_,
            vision=base.vision if declared.vision is None else declared.vision,
            streaming=base.streaming if declared.streaming is None else declared.streaming,
        )

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] | None = None,
        tool_choice: ToolChoice = None,
        response_format: Any = None,
        choices: Sequence[str] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncIterator[StreamItem]:
        """Stream one reply. See the class docstring."""
        if choices is not None and not choices:
            raise ValueError("choices must name at least one option")
        schema = schema_of(response_format)
        agen = self._stream(
            list(messages),
            tools=list(tools or ()),
            tool_choice=tool_choice,
            schema=schema,
            choices=list(choices) if choices else None,
            max_tokens=max_tokens or self.config.max_output_tokens,
            temperature=self.config.temperature if temperature is None else temperature,
        )
        try:
            async for item in agen:
                if isinstance(item, Completion):
                    self._finish(item, schema, choices)
                yield item
        finally:
            await agen.aclose()

    async def complete(self, messages: Sequence[ChatMessage], **kwargs: Any) -> Completion:
        """Run one call to the end and return its ``Completion``."""
        result: Completion | None = None
        async for item in self.stream(messages, **kwargs):
            if isinstance(item, Completion):
                result = item
        if result is None:
            raise BadResponse("the stream ended without a completion", model=self.name)
        return result

    def _finish(self, completion: Completion, schema: dict[str, Any] | None, choices: Sequence[str] | None) -> None:
        if choices:
            picked = match_choice(completion.content, choices)
            if picked is None:
                raise BadResponse(
                    f"the reply {completion.content[:80]!r} is none of the allowed choices {list(choices)}",
                    model=self.name,
                )
            completion.content = picked
            completion.parsed = picked
        elif schema is not None and not completion.tool_calls:
            try:
                completion.parsed = json.loads(completion.content)
            except json.JSONDecodeError as exc:
                raise BadResponse(f"asked for JSON, got {completion.content[:80]!r} ({exc})", model=self.name) from None

    @abstractmethod
    def _stream(
        self,
        messages: list[ChatMessage],
        *,
        tools: list[ToolSpec],
        tool_choice: ToolChoice,
        schema: dict[str, Any] | None,
        choices: list[str] | None,
        max_tokens: int,
        temperature: float,
    ) -> AsyncIterator[StreamItem]:
        """Yield ``Delta``/``Notice`` items, then one ``Completion``."""

    def count_tokens(self, messages: Sequence[ChatMessage] | str) -> int:
        """Tokens the messages take. Backends with a tokenizer count exactly; this is an estimate."""
        if isinstance(messages, str):
            return max(1, len(messages) // 4)
        return sum(4 + len(m.content or "") // 4 + sum(len(c.arguments) // 4 for c in m.tool_calls) for m in messages)

    async def aclose(self) -> None:
        """Release clients and connections."""


def deltas(text: str, size: int = 8) -> list[Delta]:
    """Split text into small stream pieces."""
    return [Delta(text[i : i + size]) for i in range(0, len(text), size)]
