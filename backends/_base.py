"""The one interface every model backend implements."""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from ._errors import BadResponse
from ._types import (BackendStatus, Capabilities, ChatMessage, Completion, Delta, ModelRequest, StreamItem, ToolSpec,
                     schema_of)
from .config import CapabilitiesConfig, ModelConfig

__all__ = ["Backend", "ToolChoice", "deltas", "match_choice", "merge_capabilities", "schema_of"]

ToolChoice = str | None  # None/"auto": the model decides; "required": some tool; or a tool's name


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


def merge_capabilities(declared: CapabilitiesConfig | None, base: Capabilities) -> Capabilities:
    """What models.toml declares, and ``base`` (the backend's defaults, or a probe) for the rest."""
    if declared is None:
        return base
    return Capabilities(
        tools=base.tools if declared.tools is None else declared.tools,
        json=base.json if declared.json_ is None else declared.json_,
        vision=base.vision if declared.vision is None else declared.vision,
        streaming=base.streaming if declared.streaming is None else declared.streaming,
    )


class Backend(ABC):
    """A model behind one async interface.

    ``stream(request)`` yields ``Delta`` pieces of the reply (and ``Notice`` items worth showing the
    user) and ends with exactly one ``Completion``; ``complete(request)`` runs it to the end. The
    request is a ``ModelRequest``, or messages plus its keywords (``tools``, ``tool_choice``,
    ``response_format``, ``choices``, ``max_tokens``, ``temperature``). Closing the stream early
    (``aclose()``, or cancelling the task that iterates it) stops generation. ``choices`` forces
    the reply to be exactly one of the given strings; a JSON schema forces a JSON reply, decoded
    into ``Completion.parsed``.

    A backend implements ``_stream(request)``. Wrappers (``RetryingBackend``, ``FallbackBackend``,
    ``DefaultsBackend``) are Backends too. ``load()``, ``status()``, ``seek()``, ``count_tokens()``
    and ``aclose()`` have defaults here, so callers never need to know which backend they hold.
    """

    #: What the backend can do when models.toml declares nothing (a backend may probe instead).
    default_capabilities = Capabilities()
    #: False for a backend whose calls never fail for a while and then work (a scripted model):
    #: a retry policy has nothing to retry there, so no retry loop is run around its calls.
    transient_failures = True

    #: The backend whose ``_stream`` serves a plain request as it is, with no layer between (no
    #: choice to match, no JSON to decode, no retry or fallback that could act); ``None`` when
    #: every call needs ``_serve``. A backend is its own; a wrapper sets it from its plan.
    _direct: Backend | None = None
    #: The window the backend found out (``discover_window``), when models.toml does not say.
    _window: int | None = None
    #: Where ``_window`` came from ("server /props", "llama.cpp n_ctx"), as ``moot models list`` says.
    window_from: str | None = None
    #: Characters per token of this model's prompts, as its server's counts show (``observe_prompt``).
    _chars_per_token: float = 3.0

    def __init__(self, config: ModelConfig):
        self.config = config
        self.name = config.name
        self._direct = self
        #: What this model can do: models.toml's declaration over the backend's defaults.
        self.capabilities: Capabilities = self.capabilities_for(config)

    @classmethod
    def capabilities_for(cls, config: ModelConfig) -> Capabilities:
        """The capabilities a model of this backend has, from its entry alone (nothing is created)."""
        return merge_capabilities(config.capabilities, cls.default_capabilities)

    @property
    def primary(self) -> Backend:
        """The backend asked first: itself, or the first one a wrapper tries."""
        return self

    # -- calls ----------------------------------------------------------------------------------

    def stream(self, request: ModelRequest | Sequence[ChatMessage], /, **options: Any) -> AsyncIterator[StreamItem]:
        """Stream one reply. See the class docstring."""
        if type(request) is not ModelRequest:
            request = ModelRequest.of(request, **options)
        elif options:
            raise TypeError("stream(request) takes no keywords when given a ModelRequest")
        if request.choices or request.schema is not None:
            return self._serve(request)  # the completion needs finishing
        direct = self._direct
        return self._serve(request) if direct is None else direct._stream(request)

    async def complete(self, request: ModelRequest | Sequence[ChatMessage], /, **options: Any) -> Completion:
        """Run one call to the end and return its ``Completion`` (the one place a stream is drained)."""
        result: Completion | None = None
        async for item in self.stream(request, **options):
            if type(item) is Completion:
                result = item
        if result is None:
            raise BadResponse("the stream ended without a completion", model=self.name)
        return result

    async def _serve(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        """``_stream`` with its ``Completion`` finished (choice matched, JSON decoded). Wrappers
        override this, so that they add no generator layer of their own around it."""
        agen = self._stream(request)
        done = False
        try:
            async for item in agen:
                if type(item) is Completion:
                    self._finish(item, request)
                yield item
            done = True  # ran to its end: nothing to close
        finally:
            if not done:
                await agen.aclose()

    def _finish(self, completion: Completion, request: ModelRequest) -> None:
        choices = request.choices
        if choices:
            picked = match_choice(completion.content, choices)
            if picked is None:
                raise BadResponse(
                    f"the reply {completion.content[:80]!r} is none of the allowed choices {list(choices)}",
                    model=self.name,
                )
            completion.content = picked
            completion.parsed = picked
        elif request.schema is not None and not completion.tool_calls:
            try:
                completion.parsed = json.loads(completion.content)
            except json.JSONDecodeError as exc:
                raise BadResponse(f"asked for JSON, got {completion.content[:80]!r} ({exc})", model=self.name) from None

    @abstractmethod
    def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        """Yield ``Delta``/``Notice`` items, then one ``Completion``."""

    def max_tokens_for(self, request: ModelRequest) -> int:
        """The request's ``max_tokens``, else the model's ``max_output_tokens``."""
        return request.max_tokens or self.config.max_output_tokens

    def temperature_for(self, request: ModelRequest) -> float:
        """The request's ``temperature``, else the model's."""
        return self.config.temperature if request.temperature is None else request.temperature

    # -- what every backend answers -------------------------------------------------------------

    def token_counter(self) -> Callable[[ChatMessage], int] | None:
        """A function giving the tokens one message takes in this model's prompt (its content
        and the chat template's markup around it), when the backend can count exactly (a loaded
        llama.cpp model); ``None``: callers estimate with ``chars_per_token()``."""
        return None

    def chars_per_token(self) -> float:
        """How many characters of prompt make a token for this model: a cautious 3 until the
        server's counts say otherwise (``observe_prompt``)."""
        return self._chars_per_token

    def observe_prompt(self, chars: int, tokens: int) -> None:
        """Calibrate the estimate: a prompt of ``chars`` characters took ``tokens`` tokens (as the
        server counted them). Kept a little below what was seen, and never above 4."""
        if chars > 200 and tokens > 0:
            seen = 0.9 * chars / tokens
            self._chars_per_token = max(1.0, min(4.0, 0.5 * self._chars_per_token + 0.5 * seen))

    def request_overhead(self, head: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()) -> int:
        """Tokens a request takes besides its conversation: the ``head`` (system messages), the
        tools' schemas and the template's fixed markup."""
        counter = self.token_counter()
        ratio = self.chars_per_token()
        size = sum(counter(m) if counter is not None else 4 + int(len(m.content or "") / ratio) + 1 for m in head)
        if tools:
            size += int(len(json.dumps([t.to_openai() for t in tools])) / ratio) + 8
        return size + 8

    def count_tokens(self, messages: Sequence[ChatMessage] | str) -> int:
        """Tokens the messages take. Backends with a tokenizer count exactly; this is an estimate."""
        if isinstance(messages, str):
            return max(1, len(messages) // 4)
        return sum(4 + len(m.content or "") // 4 + sum(len(c.arguments) // 4 for c in m.tool_calls) for m in messages)

    def context_window(self) -> int | None:
        """The model's context window in tokens as known now, without I/O: what
        ``discover_window`` found (llama.cpp's ``n_ctx``, the server's report), else models.toml's
        ``context_length``; ``None`` when neither says."""
        return self._window or self.config.context_length

    async def discover_window(self) -> int | None:
        """Find the model's real window once (a backend may ask its server) and return
        ``context_window()``. Never raises: a server that cannot tell leaves the configured one."""
        return self.context_window()

    def window_source(self) -> str:
        """Where ``context_window()`` comes from: what found it (``window_from``), else
        ``"models.toml"`` when the file set ``context_length``, else ``"default"``."""
        primary = self.primary
        if primary._window and primary.window_from:
            return primary.window_from
        if primary.context_window() is None:
            return "none"  # nothing is counted or cut (a scripted model that declares no window)
        return "models.toml" if primary.config.context_length_explicit else "default"

    async def load(self) -> None:
        """Get ready to answer (load weights, open a client) now rather than on the first call.
        Nothing to do for most backends."""

    def status(self) -> BackendStatus:
        """Where this model stands, without calling it (no I/O)."""
        return BackendStatus("ready")

    def seek(self, calls: int) -> None:
        """Go on as if ``calls`` calls had been answered (a resumed session restores a scripted
        model's position with it). Backends that keep no position ignore it."""

    async def aclose(self) -> None:
        """Release clients and connections."""


def deltas(text: str, size: int = 8) -> list[Delta]:
    """Split text into small stream pieces."""
    return [Delta(text[i : i + size]) for i in range(0, len(text), size)]
