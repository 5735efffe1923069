"""The openai backend: OpenAI, Azure OpenAI, and any OpenAI-compatible server.

vLLM, LM Studio, llama.cpp's server, Ollama's ``/v1`` endpoint and hosted gateways all speak the
same chat-completions wire format, so one class serves them; only the URL and the key differ.
``base_url`` may be given with or without its ``/v1`` suffix. ``api_version`` switches to Azure
(``base_url`` is then the resource endpoint and ``model`` the deployment name). Entries in
``options`` are sent as extra fields of the request body (``top_p``, ``seed``, a server's own
settings).

The model's window: ``context_length`` when models.toml sets it, else what the server reports
(vLLM's ``max_model_len`` in ``GET /v1/models``, llama.cpp's server's ``n_ctx`` in ``GET /props``),
else the stated window of the model's family (``KNOWN_WINDOWS``), else the built-in default.
Reasoning (``reasoning_content`` / ``reasoning`` deltas, ``<think>`` in the text) streams as
``Thought`` items and stays out of the reply; ``think = false`` sends
``chat_template_kwargs: {"enable_thinking": false}`` (vLLM, llama.cpp's server).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import openai

from ._base import Backend
from ._errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    BadResponse,
    ConfigError,
    ContextOverflow,
)
from ._remote import (
    PLACEHOLDER_KEY,
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
from .config import WINDOW_PROBE_S, ModelConfig, known_window

log = logging.getLogger(__name__)

DEFAULT_URL = "https://api.openai.com/v1"


def normalize_base_url(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; a trailing slash is dropped; a URL whose path
    already names an API version (``/v1``, ``/openai/v1``, ``/v1beta/openai``) is kept as it is."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    if not any(segment[:1] == "v" and segment[1:2].isdigit() for segment in path.split("/")):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "error",
}


def _reasoning(delta: Any) -> str:
    """The reasoning text a delta or message carries apart from its content (``reasoning_content``:
    DeepSeek, vLLM, llama.cpp's server; ``reasoning``: vLLM's newer name, OpenRouter)."""
    text = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None)
    return text if isinstance(text, str) else ""


def _usage(raw: Any) -> Usage:
    """Usage from an OpenAI ``usage`` object: cached prompt tokens and reasoning tokens where given."""
    prompt = getattr(raw, "prompt_tokens_details", None)
    completion = getattr(raw, "completion_tokens_details", None)
    return Usage(prompt_tokens=raw.prompt_tokens or 0, completion_tokens=raw.completion_tokens or 0,
                 cached_tokens=(getattr(prompt, "cached_tokens", None) or 0) if prompt else 0,
                 reasoning_tokens=(getattr(completion, "reasoning_tokens", None) or 0) if completion else 0)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    out = message.to_openai()
    if out["content"] is None:
        out["content"] = ""  # null is valid OpenAI, but stricter servers (llama-cpp-python's) refuse it
    return out


def _image_parts(message: ChatMessage) -> list[dict[str, Any]]:
    """Content parts for a message's images (a type the API does not take goes as a note)."""
    return [{"type": "image_url", "image_url": {"url": i.data_url()}} if i.media_type in VIEWABLE else
            {"type": "text", "text": i.note("not a type the model reads")} for i in message.images]


def wire_messages(messages: Sequence[ChatMessage], vision: bool) -> list[dict[str, Any]]:
    """The request's messages. With vision, a user message's images become content parts after
    its text; a tool message cannot hold images, so those of tool results go in a user message
    right after the run of tool messages. Without, each image is a note in the text."""
    out: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []  # image parts of the tool results just sent
    for m in messages:
        if pending and m.role != "tool":
            out.append({"role": "user", "content": pending})
            pending = []
        if not m.images:
            out.append(_wire_message(m))
            continue
        item = _wire_message(ChatMessage(m.role, m.content, m.name, m.tool_calls, m.tool_call_id))
        if not vision or m.role == "assistant" or m.role == "system":
            item["content"] = m.text_with_notes() if not vision else m.text_with_notes("images go only in user turns")
        elif m.role == "tool":
            item["content"] = m.content or f"[{len(m.images)} image(s): in the next message]"
            pending += [{"type": "text", "text": f"The tool call {m.tool_call_id} returned:"}, *_image_parts(m)]
        else:
            item["content"] = ([{"type": "text", "text": m.content}] if m.content else []) + _image_parts(m)
        out.append(item)
    if pending:
        out.append({"role": "user", "content": pending})
    return out


class OpenAIBackend(Backend):
    """Chat completions through the official ``openai`` async client, streamed, with usage."""

    default_capabilities = Capabilities(tools=True, json=True, vision=False, streaming=True)

    def __init__(self, config: ModelConfig, *, http_client: Any = None):
        super().__init__(config)
        self.azure = config.api_version is not None
        if self.azure:
            if not config.base_url:
                raise ConfigError([f"model {self.name!r}: field 'base_url': an Azure model (api_version is set) needs "
                                   f"its resource endpoint, e.g. https://NAME.openai.azure.com"])
            self.url = config.base_url.rstrip("/")
        else:
            self.url = normalize_base_url(config.base_url) if config.base_url else DEFAULT_URL
        self._http_client = http_client  # tests may pass an httpx2.AsyncClient with a mock transport
        self._client: openai.AsyncOpenAI | None = None
        # How this server takes a JSON schema: OpenAI's "json_schema", or the older "json_object"
        # + "schema" that llama-cpp-python's server (and Anyscale-style servers) accept. Learnt
        # from the first refusal, then kept.
        self.schema_dialect = "json_schema"
        self._window_asked = False
        family = None if config.context_length_explicit else known_window(config.model)
        if family:
            self._window, self.window_from = family, "model family"

    def __repr__(self) -> str:
        return f"OpenAIBackend(name={self.name!r}, url={self.url!r}, model={self.config.model!r})"

    # The client is made on first use, so a key exported after start-up is picked up, and so the
    # key is read in one place only.
    def _get_client(self) -> openai.AsyncOpenAI:
        if self._client is not None:
            return self._client
        key = self.config.api_key()
        if self.config.api_key_env and not key:
            raise AuthError(f"the environment variable {self.config.api_key_env} (api_key_env) is not set", model=self.name)
        common: dict[str, Any] = dict(
            api_key=key or PLACEHOLDER_KEY,
            timeout=self.config.timeout_s,
            max_retries=0,  # the registry retries, with backoff and fallbacks
        )
        if self._http_client is not None:
            common["http_client"] = self._http_client
        if self.azure:
            self._client = openai.AsyncAzureOpenAI(azure_endpoint=self.url, api_version=self.config.api_version, **common)
        else:
            self._client = openai.AsyncOpenAI(base_url=self.url, **common)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def context_window(self) -> int | None:
        if self.config.context_length_explicit:
            return self.config.context_length
        return self._window or self.config.context_length

    async def discover_window(self) -> int | None:
        """Ask the server its window once, unless models.toml sets ``context_length``: vLLM's
        ``max_model_len`` in ``GET /v1/models``, else llama.cpp's server's ``GET /props``. Each
        question waits at most ``WINDOW_PROBE_S``; a server that cannot tell leaves the default."""
        if self._window_asked or self.config.context_length_explicit or self.azure or self.url == DEFAULT_URL:
            return self.context_window()
        self._window_asked = True
        key = self.config.api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        root = self.url.removesuffix("/v1")
        try:
            async with httpx.AsyncClient(timeout=WINDOW_PROBE_S, headers=headers) as http:
                listed = await _get_json(http, f"{self.url}/models")
                entries = listed.get("data") if isinstance(listed, dict) else None
                entries = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
                mine = [e for e in entries if e.get("id") == self.config.model] or entries[:1]
                found = _int(mine[0].get("max_model_len")) if mine else None
                if found:
                    self._window, self.window_from = found, "server /v1/models"
                    return self.context_window()
                props = await _get_json(http, f"{root}/props")
                if isinstance(props, dict):
                    settings = props.get("default_generation_settings")
                    found = _int(settings.get("n_ctx")) if isinstance(settings, dict) else None
                    found = found or _int(props.get("n_ctx"))
                    if found:
                        self._window, self.window_from = found, "server /props"
        except Exception as exc:  # never raises: the default window stands
            log.debug("%s: no window from the server: %s", self.url, type(exc).__name__)
        return self.context_window()

    def _request(self, call: ModelRequest) -> dict[str, Any]:
        tools, tool_choice, schema, choices = call.tools, call.tool_choice, call.schema, call.choices
        request: dict[str, Any] = {
            "model": self.config.model,
            "messages": wire_messages(call.messages, self.capabilities.vision),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": self.max_tokens_for(call),
            "temperature": self.temperature_for(call),
        }
        if choices:
            schema, name = choice_schema(choices), "choice"
        else:
            name = "reply"
        if schema is not None:
            request["response_format"] = self._response_format(name, schema)
        if tools and not choices:
            request["tools"] = [t.to_openai() for t in tools]
            if tool_choice in ("auto", "required", "none"):
                request["tool_choice"] = tool_choice
            elif tool_choice is not None:
                if tool_choice not in {t.name for t in tools}:
                    raise ValueError(f"tool_choice {tool_choice!r} is not one of the offered tools "
                                     f"({', '.join(t.name for t in tools)})")
                request["tool_choice"] = {"type": "function", "function": {"name": tool_choice}}
        extra = dict(self.config.options)
        if self.config.think is not None:  # vLLM's and llama.cpp's server's switch for thinking
            extra["chat_template_kwargs"] = {"enable_thinking": self.config.think, **extra.get("chat_template_kwargs", {})}
        if extra:
            request["extra_body"] = extra
        return request

    def _response_format(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        if self.schema_dialect == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}

    def _refuses_json_schema(self, exc: Exception, request: dict[str, Any]) -> bool:
        if self.schema_dialect != "json_schema" or "response_format" not in request:
            return False
        if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 422, 500):
            return False
        text = server_message(exc.body, str(exc))
        return "json_schema" in text or "response_format" in text

    async def _stream(self, call: ModelRequest) -> AsyncIterator[StreamItem]:
        request = self._request(call)
        messages, choices = call.messages, call.choices
        client = self._get_client()
        text: list[str] = []
        thought: list[str] = []  # reasoning the server sent apart from the content
        splitter = ReasoningSplitter()  # and <think> in the content
        calls: dict[int, dict[str, str]] = {}
        usage: Usage | None = None
        finish: str | None = None
        chunks = 0
        stream = None
        try:
            async with Watchdog(self.config.timeout_s, self.name, self.url) as watch:
                try:
                    stream = await client.chat.completions.create(**request)
                except openai.APIStatusError as exc:
                    if not self._refuses_json_schema(exc, request):
                        raise
                    log.debug("%s refuses response_format json_schema; using json_object + schema", self.url)
                    self.schema_dialect = "json_object"
                    fmt = request["response_format"]["json_schema"]
                    request["response_format"] = self._response_format(fmt["name"], fmt["schema"])
                    stream = await client.chat.completions.create(**request)
                async for chunk in stream:
                    chunks += 1
                    if getattr(chunk, "usage", None) is not None:
                        usage = _usage(chunk.usage)
                    for choice in chunk.choices or ():
                        delta = choice.delta
                        if delta is not None:
                            reasoning = _reasoning(delta)
                            if reasoning:
                                thought.append(reasoning)
                                watch.hold()
                                yield Thought(reasoning)
                                watch.rearm()
                            if delta.content:
                                text.append(delta.content)
                                for item in splitter.feed(delta.content):
                                    if not choices or type(item) is Thought:
                                        watch.hold()
                                        yield item
                                watch.rearm()
                            elif delta.tool_calls:
                                watch.rearm()  # the model is writing, if not text
                            for part in delta.tool_calls or ():
                                slot = calls.setdefault(part.index if part.index is not None else len(calls),
                                                        {"id": "", "name": "", "arguments": ""})
                                if part.id:
                                    slot["id"] = part.id
                                if part.function is not None:
                                    # OpenAI sends the name once; llama-cpp-python's server repeats
                                    # it in every chunk. Append only what is new.
                                    if part.function.name and part.function.name != slot["name"]:
                                        slot["name"] += part.function.name
                                    if part.function.arguments:
                                        slot["arguments"] += part.function.arguments
                        if choice.finish_reason:
                            finish = choice.finish_reason
        except BackendError:
            raise
        except Exception as exc:
            raise self._map_error(exc) from None
        finally:
            if stream is not None:
                await stream.close()
        truncated = False
        if chunks == 0:
            # An empty stream. llama-cpp-python's server, for one, reports a failure (a prompt
            # longer than its context) only in its own log once a stream has begun; asked again
            # without streaming it answers with a proper HTTP error, or with the reply.
            text, calls, finish, usage, reasoning = await self._complete_once(client, request)
            if reasoning:
                thought.append(reasoning)
                yield Thought(reasoning)
            for item in splitter.feed("".join(text)):
                if not choices or type(item) is Thought:
                    yield item
        elif finish is None:
            # The stream closed cleanly mid-reply: no finish reason (and so no [DONE] after one).
            truncated = True
            yield truncated_notice(self.name, self.url, "a finish reason")
        for item in splitter.flush():
            if not choices or type(item) is Thought:
                yield item
        content = splitter.reply  # never the reasoning
        reasoning_text = "".join(thought) + splitter.reasoning
        tool_calls = tuple(
            ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=slot["arguments"] or "{}")
            for index, slot in sorted(calls.items())
            if slot["name"]
        )
        if call.tools and not choices and call.tool_choice != "none":
            parsed = normalise_calls(content, tool_calls, call.tools, self.config.tool_call_mode)
            tool_calls, content = parsed.calls, parsed.text
            if parsed.problem:
                yield Notice(f"model {self.name!r}: {parsed.problem}", "tool_call")
        reason: FinishReason = "truncated" if truncated else _FINISH.get(finish or "stop", "stop")
        if tool_calls and reason == "stop":
            reason = "tool_calls"  # some servers say "stop" after a tool call
        if finish == "content_filter":
            yield Notice(f"model {self.name!r}: the server's content filter cut the reply short", "warning")
        if choices:
            content = chosen(content)
            if content:
                yield Delta(content)
        if usage is None:  # not every compatible server honours include_usage
            usage = Usage(prompt_tokens=self.count_tokens(messages),
                          completion_tokens=self.count_tokens("".join(text) + "".join(thought)) if text or thought else 0)
        if reasoning_text and not usage.reasoning_tokens:  # the server did not count them: estimate
            usage.reasoning_tokens = min(self.count_tokens(reasoning_text), usage.completion_tokens or math.inf)
        yield Completion(content=content, model=self.name, finish_reason=reason, tool_calls=tool_calls, usage=usage)

    async def _complete_once(
        self, client: openai.AsyncOpenAI, request: dict[str, Any]
    ) -> tuple[list[str], dict[int, dict[str, str]], str | None, Usage | None, str]:
        """One call without streaming: (text pieces, tool-call slots, finish reason, usage, reasoning)."""
        request = {k: v for k, v in request.items() if k not in ("stream", "stream_options")}
        try:
            async with Watchdog(self.config.timeout_s, self.name, self.url):
                # One retry: a server that broke off the stream may have left a dead pooled connection.
                reply = await client.with_options(max_retries=1).chat.completions.create(**request)
        except BackendError:
            raise
        except Exception as exc:
            raise self._map_error(exc) from None
        choices = getattr(reply, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise BadResponse(f"the server at {self.url} answered, but not with an OpenAI-compatible chat completion",
                              model=self.name)
        message = choices[0].message
        calls = {
            index: {"id": call.id or "", "name": call.function.name or "", "arguments": call.function.arguments or ""}
            for index, call in enumerate(message.tool_calls or ())
            if getattr(call, "function", None) is not None
        }
        usage = _usage(reply.usage) if getattr(reply, "usage", None) is not None else None
        return ([message.content] if message.content else []), calls, choices[0].finish_reason, usage, _reasoning(message)

    def _map_error(self, exc: Exception) -> BackendError:
        """A typed error a user can act on; never carrying the key."""
        key = self.config.api_key()
        name = self.name
        if isinstance(exc, openai.APITimeoutError):
            return BackendTimeout(f"no answer from {self.url} within {self.config.timeout_s:g} s "
                                  f"(raise timeout_s in models.toml if the model is just slow)", model=name)
        if isinstance(exc, openai.APIConnectionError):
            return BackendUnavailable(f"nothing answers at {self.url}: is the server running?", model=name)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = scrub(server_message(exc.body, ""), key)
            if status in (401, 403):
                # The server's message is left out on purpose: some echo part of the key back.
                if self.config.api_key_env:
                    return AuthError(f"{self.url} refused the key in ${self.config.api_key_env} (HTTP {status}): "
                                     f"check that the variable holds a valid key for this server", model=name)
                return AuthError(f"{self.url} wants an API key (HTTP {status}): set api_key_env in models.toml "
                                 f"to the NAME of the environment variable that holds it", model=name)
            if status == 404:
                return permanent(BackendUnavailable(
                    f"{self.url} has no model {self.config.model!r} (HTTP 404{': ' + detail if detail else ''}): "
                    f"check the model name, or the base_url", model=name))
            if status == 429:
                return BackendUnavailable(f"{self.url} is rate limiting requests (HTTP 429){': ' + detail if detail else ''}", model=name)
            if status in (400, 413, 422) and (exc.code == "context_length_exceeded" or mentions_context_overflow(detail)):
                return ContextOverflow(f"the conversation does not fit the model's context ({detail}); shorten it, "
                                       f"or raise context_length if the server allows more", model=name)
            if status >= 500 and "validation error" in detail:  # llama-cpp-python's server: a 500 for a bad request
                return BadResponse(f"the server at {self.url} rejected the request (HTTP {status}): {detail[:300]}", model=name)
            if status >= 500:
                return BackendUnavailable(f"the server at {self.url} failed (HTTP {status}){': ' + detail if detail else ''}", model=name)
            return BadResponse(f"the server at {self.url} rejected the request (HTTP {status}){': ' + detail if detail else ''}", model=name)
        if isinstance(exc, openai.APIResponseValidationError | openai.APIError):
            return BadResponse(f"the server at {self.url} sent a reply that is not valid: {scrub(str(exc), key)[:200]}", model=name)
        if isinstance(exc, ValueError):  # json.JSONDecodeError and pydantic errors are ValueErrors
            return BadResponse(f"the server at {self.url} sent something that is not JSON: {scrub(str(exc), key)[:200]}", model=name)
        log.debug("unexpected error from %s: %s", self.url, type(exc).__name__)
        return BadResponse(f"the call to {self.url} failed: {type(exc).__name__}: {scrub(str(exc), key)[:200]}", model=name)


async def _get_json(http: httpx.AsyncClient, url: str) -> Any:
    """The JSON a GET of ``url`` answers, or ``None`` (not there, not JSON)."""
    response = await http.get(url)
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None
