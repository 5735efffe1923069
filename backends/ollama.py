"""The ollama backend: a local or remote Ollama server through the official ``ollama`` client.

``num_ctx`` is always sent: Ollama's own default (4,096 or less) silently cuts the front of long
conversations. It is ``context_length`` when models.toml sets it, else the model's own window as
``/api/show`` reports it (``model_info``'s ``*.context_length``, asked once), capped at the default
``context_length`` (a 128k window would take that much KV memory), else that default. JSON schemas and ``choices`` go through Ollama's ``format`` (constrained
decoding on the server). What a model can do comes from models.toml, or else from ``/api/show``
(its ``capabilities`` list), probed once. Entries in ``options`` are Ollama model options
(``top_k``, ``seed``, ``num_gpu``, ...) and win over the ones moot sets. ``think`` (models.toml)
is sent as Ollama's ``think``; the reply's ``message.thinking`` (and ``<think>`` in its text) streams
as ``Thought`` items, never part of the reply.

Ollama has no ``tool_choice``: naming a tool offers only that tool, and "required" is a hint the
server cannot enforce.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import ollama
import pydantic

from ._base import Backend, merge_capabilities
from ._errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    BadResponse,
    ContextOverflow,
)
from ._remote import (
    Watchdog,
    choice_schema,
    chosen,
    mentions_context_overflow,
    permanent,
    scrub,
    server_message,
    truncated_notice,
)
from ._reasoning import ReasoningSplitter
from ._toolcalls import normalise_calls
from ._types import (
    VIEWABLE,
    Capabilities,
    ChatMessage,
    Completion,
    Delta,
    FinishReason,
    ModelRequest,
    Notice,
    StreamItem,
    Thought,
    ToolCall,
    Usage,
)
from .config import WINDOW_PROBE_S, ModelConfig

log = logging.getLogger(__name__)

DEFAULT_HOST = "http://127.0.0.1:11434"

_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}


def normalize_host(url: str | None) -> str:
    """The server root: ``http://host:11434/`` and ``.../api`` and ``.../v1`` all become ``http://host:11434``."""
    host = (url or DEFAULT_HOST).strip().rstrip("/")
    for suffix in ("/api", "/v1"):
        if host.endswith(suffix):
            host = host[: -len(suffix)]
    return host


def to_ollama_messages(messages: list[ChatMessage], vision: bool = True) -> list[dict[str, Any]]:
    """OpenAI-shaped messages in Ollama's shape: tool-call arguments as objects, tool results named,
    images as base64 on their message where the model has vision (else a note in the text)."""
    tool_names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role, "content": m.content or ""}
        if m.images:
            seen = [i.data for i in m.images if vision and i.media_type in VIEWABLE]
            if seen:
                item["images"] = seen
            if len(seen) < len(m.images):
                notes = ChatMessage(m.role, m.content, images=tuple(i for i in m.images
                                                                   if not vision or i.media_type not in VIEWABLE))
                item["content"] = notes.text_with_notes("not a type the model reads" if vision else
                                                        "this model has no vision")
        if m.tool_calls:
            calls = []
            for c in m.tool_calls:
                tool_names[c.id] = c.name
                try:
                    args = c.parsed_arguments()
                except ValueError:
                    args = {}
                calls.append({"function": {"name": c.name, "arguments": args}})
            item["tool_calls"] = calls
        if m.role == "tool":
            name = tool_names.get(m.tool_call_id or "") or m.name
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


class OllamaBackend(Backend):
    """Chat through Ollama's ``/api/chat``, streamed, with usage from its eval counts."""

    default_capabilities = Capabilities(tools=False, json=True, vision=False, streaming=True)

    def __init__(self, config: ModelConfig, **client_kwargs: Any):
        super().__init__(config)
        self.host = normalize_host(config.base_url)
        self._client_kwargs = client_kwargs  # e.g. transport= for tests
        self._client: ollama.AsyncClient | None = None
        self._probed: Capabilities | None = None
        self._window_asked = False

    def __repr__(self) -> str:
        return f"OllamaBackend(name={self.name!r}, host={self.host!r}, model={self.config.model!r})"

    def _get_client(self) -> ollama.AsyncClient:
        if self._client is None:
            headers = {}
            key = self.config.api_key()
            if self.config.api_key_env and not key:
                raise AuthError(f"the environment variable {self.config.api_key_env} (api_key_env) is not set", model=self.name)
            if key:  # a remote Ollama behind a proxy that wants a bearer token
                headers["Authorization"] = f"Bearer {key}"
            self._client = ollama.AsyncClient(host=self.host, timeout=self.config.timeout_s, headers=headers,
                                              **self._client_kwargs)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def probe_capabilities(self) -> Capabilities:
        """Ask ``/api/show`` what the model can do (once; the answer is cached). Whatever models.toml
        declares still wins; ``capabilities`` reflects the probe from then on."""
        if self._probed is None:
            try:
                shown = await self._get_client().show(self.config.model or "")
            except BackendError:
                raise
            except Exception as exc:
                raise self._map_error(exc) from None
            listed = set(shown.capabilities or ())
            self._probed = Capabilities(
                tools="tools" in listed,
                json=True,  # every Ollama model takes a format schema
                vision="vision" in listed,
                streaming=True,
            )
            self.capabilities = merge_capabilities(self.config.capabilities, self._probed)  # models.toml still wins
        return self.capabilities

    def context_window(self) -> int | None:
        """The ``num_ctx`` sent: models.toml's ``context_length``, else the model's reported
        window capped at the default, else the default."""
        if self.config.context_length_explicit or not self._window:
            return self.config.context_length
        return min(self._window, self.config.context_length)

    async def discover_window(self) -> int | None:
        """Ask ``/api/show`` the model's window once (at most ``WINDOW_PROBE_S``), unless
        models.toml sets ``context_length``. Never raises."""
        if self._window_asked or self.config.context_length_explicit:
            return self.context_window()
        self._window_asked = True
        try:
            shown = await asyncio.wait_for(self._get_client().show(self.config.model or ""),
                                           min(WINDOW_PROBE_S, self.config.timeout_s))
            info = shown.modelinfo or {}
            found = next((v for k, v in info.items() if k.endswith(".context_length")
                          and isinstance(v, int) and not isinstance(v, bool) and v > 0), None)
            if found:
                self._window, self.window_from = found, "server /api/show"
        except Exception as exc:  # the default window stands
            log.debug("%s: no window from /api/show: %s", self.host, type(exc).__name__)
        return self.context_window()

    def _options(self, max_tokens: int, temperature: float) -> dict[str, Any]:
        return {
            "num_ctx": self.context_window(),
            "temperature": temperature,
            "num_predict": max_tokens,
            **self.config.options,
        }

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        messages, tools, tool_choice, schema, choices = (request.messages, request.tools, request.tool_choice,
                                                         request.schema, request.choices)
        max_tokens, temperature = self.max_tokens_for(request), self.temperature_for(request)
        offered = tools
        if tool_choice not in (None, "auto", "required", "none") and tools:
            offered = [t for t in tools if t.name == tool_choice]
            if not offered:
                raise ValueError(f"tool_choice {tool_choice!r} is not one of the offered tools "
                                 f"({', '.join(t.name for t in tools)})")
        if choices:
            schema, offered = choice_schema(choices), []
        if tool_choice == "none":
            offered = []
        client = self._get_client()
        await self.discover_window()  # num_ctx must be the model's real window from the first call on
        text: list[str] = []
        thought: list[str] = []  # message.thinking
        splitter = ReasoningSplitter()  # and <think> in the content
        calls: list[ToolCall] = []
        usage: Usage | None = None
        done_reason: str | None = None
        parts = 0
        stream = None
        try:
            async with Watchdog(self.config.timeout_s, self.name, f"Ollama at {self.host}") as watch:
                stream = await client.chat(
                    model=self.config.model or "",
                    messages=to_ollama_messages(messages, self.capabilities.vision),
                    tools=[t.to_openai() for t in offered] or None,
                    stream=True,
                    format=schema,
                    options=self._options(max_tokens, temperature),
                    **({} if self.config.think is None else {"think": self.config.think}),  # unset: the server's default
                )
                async for part in stream:
                    parts += 1
                    message = part.message
                    thinking = getattr(message, "thinking", None)
                    if thinking:
                        thought.append(thinking)
                        watch.hold()
                        yield Thought(thinking)
                        watch.rearm()
                    if message.content:
                        text.append(message.content)
                        for item in splitter.feed(message.content):
                            if not choices or type(item) is Thought:
                                watch.hold()
                                yield item
                        watch.rearm()
                    elif message.tool_calls:
                        watch.rearm()  # the model is writing, if not text
                    for call in message.tool_calls or ():
                        calls.append(ToolCall(
                            id=getattr(call, "id", None) or f"call_{len(calls)}",
                            name=call.function.name,
                            arguments=json.dumps(dict(call.function.arguments or {})),
                        ))
                    if part.done:
                        done_reason = part.done_reason or "stop"
                        usage = Usage(prompt_tokens=part.prompt_eval_count or 0, completion_tokens=part.eval_count or 0)
        except BackendError:
            raise
        except Exception as exc:
            raise self._map_error(exc) from None
        finally:
            if stream is not None:
                await stream.aclose()
        if parts == 0:
            raise BadResponse(f"Ollama at {self.host} ended the reply without sending any of it", model=self.name)
        if done_reason is None:  # the stream closed cleanly mid-reply
            yield truncated_notice(self.name, f"Ollama at {self.host}", "a part saying done")
        for item in splitter.flush():
            if not choices or type(item) is Thought:
                yield item
        content = splitter.reply  # never the reasoning
        reasoning = "".join(thought) + splitter.reasoning
        if offered:
            parsed = normalise_calls(content, calls, offered, self.config.tool_call_mode)
            calls, content = list(parsed.calls), parsed.text
            if parsed.problem:
                yield Notice(f"model {self.name!r}: {parsed.problem}", "tool_call")
        reason: FinishReason = ("truncated" if done_reason is None else
                                "tool_calls" if calls else _FINISH.get(done_reason, "stop"))
        if choices:
            content = chosen(content)
            yield Delta(content)
        if usage is None or usage.prompt_tokens == 0 and usage.completion_tokens == 0:
            usage = Usage(prompt_tokens=self.count_tokens(messages),
                          completion_tokens=self.count_tokens("".join(text) + "".join(thought)) if text or thought else 0)
        if reasoning:  # Ollama counts thinking in eval_count and says no more: estimate its part
            usage.reasoning_tokens = min(self.count_tokens(reasoning), usage.completion_tokens or self.count_tokens(reasoning))
        yield Completion(content=content, model=self.name, finish_reason=reason, tool_calls=tuple(calls), usage=usage)

    def _map_error(self, exc: Exception) -> BackendError:
        key = self.config.api_key()
        name, model = self.name, self.config.model
        if isinstance(exc, httpx.TimeoutException):
            return BackendTimeout(f"Ollama at {self.host} did not answer within {self.config.timeout_s:g} s "
                                  f"(a model being loaded can take a while: raise timeout_s in models.toml)", model=name)
        if isinstance(exc, ConnectionError | httpx.ConnectError):
            return BackendUnavailable(f"Ollama is not answering at {self.host}: is `ollama serve` running?", model=name)
        if isinstance(exc, ollama.ResponseError):
            detail = scrub(server_message(_maybe_json(exc.error), str(exc.error)), key)
            status = exc.status_code
            if status in (401, 403):
                where = f"${self.config.api_key_env}" if self.config.api_key_env else "no key (set api_key_env)"
                return AuthError(f"Ollama at {self.host} refused the request (HTTP {status}); key from {where}", model=name)
            if status == 404 or ("not found" in detail.lower() and "model" in detail.lower()):
                return permanent(BackendUnavailable(
                    f"Ollama at {self.host} has no model {model!r}: run `ollama pull {model}`", model=name))
            if mentions_context_overflow(detail):
                return ContextOverflow(f"the conversation does not fit the model's context ({detail}); "
                                       f"shorten it or raise context_length", model=name)
            if status >= 500:
                return BackendUnavailable(f"Ollama at {self.host} failed (HTTP {status}): {detail}", model=name)
            return BadResponse(f"Ollama at {self.host} rejected the request (HTTP {status}): {detail}", model=name)
        if isinstance(exc, ollama.RequestError):
            return BadResponse(f"the request to Ollama was not valid: {exc.error}", model=name)
        if isinstance(exc, httpx.HTTPError):
            return BackendUnavailable(f"the connection to Ollama at {self.host} failed: {type(exc).__name__}", model=name)
        if isinstance(exc, ValueError | pydantic.ValidationError):  # broken NDJSON, wrong shapes
            return BadResponse(f"Ollama at {self.host} sent something that is not a chat reply: "
                               f"{scrub(str(exc), key).splitlines()[0][:200]}", model=name)
        return BadResponse(f"the call to Ollama at {self.host} failed: {type(exc).__name__}: {scrub(str(exc), key)[:200]}", model=name)


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
