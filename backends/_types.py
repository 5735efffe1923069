"""Value types that cross the backend seam: chat messages, tools, deltas, completions.

Backends need these, so they live here; the conversation engine (``agents``) builds on them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
StatusState = Literal["ready", "loaded", "failed"]
# "truncated": the stream closed cleanly before the model said it was done (no finish reason);
# the content is what arrived, and a Notice of kind "truncated" says so.
FinishReason = Literal["stop", "length", "tool_calls", "cancelled", "error", "truncated"]


@dataclass(frozen=True)
class ToolCall:
    """A request from the model to run one tool. ``arguments`` is the raw JSON text it wrote."""

    id: str
    name: str
    arguments: str

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as a dict; raises ``ValueError`` naming the tool when the JSON is broken."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"tool {self.name!r}: arguments are not valid JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise ValueError(f"tool {self.name!r}: arguments must be a JSON object")
        return value


# The image types the vision APIs take (OpenAI, Anthropic, Ollama); another goes as a note.
VIEWABLE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@dataclass(frozen=True, slots=True)
class Image:
    """An image a message carries: its media type and its bytes as base64."""

    media_type: str
    data: str

    @property
    def size(self) -> int:
        """The image's size in bytes (decoded)."""
        return len(self.data) * 3 // 4 - self.data[-2:].count("=")

    def label(self) -> str:
        """``image/png, 12 KB``: what a note or a record says of the image."""
        size = self.size
        amount = (f"{size / 2**20:.1f} MB" if size >= 2**20 else f"{round(size / 1024)} KB" if size >= 1024
                  else f"{size} bytes")
        return f"{self.media_type}, {amount}"

    def note(self, why: str = "this model has no vision") -> str:
        return f"[image {self.label()}: {why}]"

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.data}"


@dataclass(slots=True)
class ChatMessage:
    """One message in the OpenAI chat shape, which every backend translates from.

    A value: nothing changes one once made (an agent's view shares them between its turns). Not
    a frozen dataclass only for speed: every message of a chat becomes one per listener, and a
    frozen one costs twice as much to create."""

    role: Role
    content: str | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    images: tuple[Image, ...] = ()  # last: hot paths build messages positionally as (role, content, name)

    def text_with_notes(self, why: str = "this model has no vision") -> str:
        """The text, with a note naming each image: what a model that cannot see them gets."""
        notes = "\n".join(i.note(why) for i in self.images)
        return f"{self.content}\n{notes}" if self.content else notes

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name and self.role in ("user", "assistant"):
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.images:  # what they are, not their data (logs and the reply cache's key use this)
            out["images"] = [{"media_type": i.media_type, "bytes": i.size,
                              "sha256": hashlib.sha256(i.data.encode()).hexdigest()} for i in self.images]
        return out


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and a JSON schema of its parameters."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True)
class Capabilities:
    """What a model can do. Declared in models.toml, or probed by the backend."""

    tools: bool = False
    json: bool = False
    vision: bool = False
    streaming: bool = True

    def as_list(self) -> list[str]:
        return [k for k, v in asdict(self).items() if v]


@dataclass(slots=True)
class Usage:
    """Token counts of one call. ``cached_tokens`` were reused from a cache, not evaluated."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0  # of the completion tokens, those the model spent thinking

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def evaluated_prompt_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(slots=True)
class Delta:
    """A piece of streamed reply text."""

    content: str


@dataclass(slots=True)
class Thought:
    """A piece of the model's reasoning (``<think>`` text, ``reasoning_content``, ``thinking``):
    shown apart from the reply, never part of it, never sent back in the history."""

    content: str


@dataclass(frozen=True)
class Notice:
    """Something the user should know about a call that is not part of the reply (a fallback)."""

    text: str
    kind: str = "info"


@dataclass(slots=True)
class Completion:
    """The end of a call: the whole reply, tool calls, why it finished and what it cost."""

    content: str
    model: str
    finish_reason: FinishReason = "stop"
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    parsed: Any = None  # the decoded JSON value when a response_format was asked for

    def to_message(self, name: str | None = None) -> ChatMessage:
        return ChatMessage("assistant", self.content or None, name=name, tool_calls=self.tool_calls)


StreamItem = Delta | Thought | Notice | Completion


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


# The request fields a caller may leave unset, for a wrapper's defaults (``DefaultsBackend``) or the
# model's own (models.toml ``temperature`` / ``max_output_tokens``) to fill.
REQUEST_DEFAULTS = ("tool_choice", "max_tokens", "temperature")


@dataclass(slots=True)  # a value nothing changes once made; not frozen only for speed (1 us less a call)
class ModelRequest:
    """One model call, as it crosses the seam: what every backend's ``_stream(request)`` receives.

    ``None`` means "not set": ``max_tokens`` and ``temperature`` then come from the model's entry
    in models.toml, ``tool_choice`` lets the model decide. ``schema`` is a plain JSON schema the
    reply must match (decoded into ``Completion.parsed``); ``choices`` forces the reply to be one
    of the strings. The sequences are not copied: do not change them while the call runs.
    Build one with ``ModelRequest.of(messages, tools=..., response_format=..., ...)``.
    """

    messages: Sequence[ChatMessage]
    tools: Sequence[ToolSpec] = ()
    tool_choice: str | None = None  # None/"auto": the model decides; "required", "none", or a tool's name
    schema: dict[str, Any] | None = None
    choices: Sequence[str] | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    # The messages' size in characters, when the caller knows it (an agent's context window
    # keeps it): a backend that only estimates prompt tokens need not walk the whole history.
    prompt_chars: int | None = None

    @classmethod
    def of(
        cls,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[ToolSpec] | None = None,
        tool_choice: str | None = None,
        response_format: Any = None,
        choices: Sequence[str] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        prompt_chars: int | None = None,
    ) -> ModelRequest:
        """A request from the keywords callers use (``response_format`` as a schema dict, an
        OpenAI ``{"type": "json_schema", ...}`` wrapper or a pydantic model)."""
        if choices is not None and not choices:
            raise ValueError("choices must name at least one option")
        return cls(messages, tools or (), tool_choice, None if response_format is None else schema_of(response_format),
                   choices or None, max_tokens or None, temperature, prompt_chars)

    def with_defaults(self, defaults: Mapping[str, Any]) -> ModelRequest:
        """This request with the unset fields among ``defaults`` filled in (itself when none is)."""
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        return replace(self, **filled) if filled else self


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """Where a model stands, without calling it: ``ready`` (usable; nothing loaded yet or nothing
    to load), ``loaded`` (in memory), ``failed`` (cannot be used; ``detail`` says why)."""

    state: StatusState
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state != "failed"
