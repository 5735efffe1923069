"""What the backends that talk to a server share: the choice schema, error wording, key hygiene,
the deadline of a streamed call, and the notice of a reply cut off."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

from ._errors import BackendError, BackendTimeout
from ._types import Notice

# Words servers use when the prompt does not fit (OpenAI, vLLM, llama.cpp, Ollama, Anthropic).
_CONTEXT_WORDS = re.compile(
    r"context[ _-]?(length|window|size|overflow)|maximum context|n_ctx|too many tokens|"
    r"prompt is too long|input is too long|exceeds? the (model'?s )?(maximum|context)|token limit",
    re.IGNORECASE,
)

PLACEHOLDER_KEY = "not-needed"  # what local servers get when no key is configured


def choice_schema(choices: Sequence[str]) -> dict[str, Any]:
    """The JSON schema that makes a reply name exactly one of ``choices``."""
    return {
        "type": "object",
        "properties": {"choice": {"type": "string", "enum": list(choices)}},
        "required": ["choice"],
    }


def chosen(text: str) -> str:
    """The ``choice`` a reply to ``choice_schema`` names, or the raw text when it is not that JSON
    (the base class then matches the text against the choices, or reports it)."""
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
    if isinstance(value, dict) and isinstance(value.get("choice"), str):
        return value["choice"]
    return text


def mentions_context_overflow(text: str) -> bool:
    return bool(_CONTEXT_WORDS.search(text or ""))


def scrub(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (and of its longer fragments) masked."""
    if not secret or len(secret) < 4:
        return text
    text = text.replace(secret, "***")
    # Some servers echo a shortened key ("sk-abc***xyz"); mask any 8+ character slice of it too.
    if len(secret) >= 12:
        for size in (16, 12, 8):
            for start in range(0, len(secret) - size + 1):
                piece = secret[start : start + size]
                if piece in text:
                    text = text.replace(piece, "***")
    return text


def permanent(error: BackendError) -> BackendError:
    """Mark an error of a usually-transient kind as not worth retrying (a missing model)."""
    error.transient = False
    return error


def server_message(body: Any, fallback: str = "") -> str:
    """The human part of an error body: ``{"error": {"message": ...}}``, ``{"error": "..."}``, text."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("msg") or err.get("detail")
            if msg:
                return str(msg)
        elif isinstance(err, str):
            return err
        if body.get("detail"):
            return str(body["detail"])
        if body.get("message"):
            return str(body["message"])
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return fallback


class Watchdog:
    """The one deadline of a streamed call: ``timeout_s`` for the first real delta, then
    ``timeout_s`` for each gap between real deltas, however many bytes arrive meanwhile (an HTTP
    read timeout starts again on every byte, so SSE keep-alive comments, pings and empty chunks
    would keep a silent model going for ever).

    ``async with Watchdog(backend, where) as watch:`` around the call; ``watch.hold()`` before a
    delta is handed on (the caller's time is not the server's), ``watch.rearm()`` after it, and
    after a real delta that is not handed on. Expiry raises ``BackendTimeout`` naming the model,
    ``where`` and the limit. One ``asyncio.timeout``, rescheduled: no task or timer per delta.
    """

    __slots__ = ("seconds", "model", "where", "began", "_timer", "_loop")

    def __init__(self, seconds: float, model: str, where: str):
        self.seconds = seconds
        self.model = model
        self.where = where
        self.began = False  # a real delta arrived

    async def __aenter__(self) -> Watchdog:
        self._loop = asyncio.get_running_loop()
        self._timer = asyncio.timeout_at(self._loop.time() + self.seconds)
        await self._timer.__aenter__()
        return self

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            await self._timer.__aexit__(kind, exc, tb)
        except TimeoutError:
            if not self._timer.expired():
                raise
            if self.began:
                what = f"the reply from {self.where} stalled: nothing new for {self.seconds:g} s"
            else:
                what = f"no reply from {self.where} began within {self.seconds:g} s"
            raise BackendTimeout(f"{what} (keep-alives do not count; raise timeout_s in models.toml if the model "
                                 f"is just slow)", model=self.model) from None

    def hold(self) -> None:
        self._timer.reschedule(None)

    def rearm(self) -> None:
        self.began = True
        self._timer.reschedule(self._loop.time() + self.seconds)


def truncated_notice(model: str, where: str, missing: str) -> Notice:
    """What a stream that closed mid-reply (no ``missing``) is reported with; the completion's
    finish reason is then ``"truncated"``."""
    return Notice(f"model {model!r}: the reply was cut off: the stream from {where} closed without {missing}; "
                  f"what arrived is kept, marked truncated", "truncated")
