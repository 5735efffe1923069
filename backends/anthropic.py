"""The anthropic backend: Claude through the official ``anthropic`` client (the ``moot[anthropic]`` extra).

Translating from moot's OpenAI-shaped messages: system messages become the ``system`` parameter,
assistant tool calls become ``tool_use`` blocks, tool results become ``tool_result`` blocks in a
user turn, and consecutive turns of the same role are merged (the API wants them alternating).
``choices`` and JSON schemas are enforced by forcing a tool whose input schema is the enum or the
schema: the tool's input is the reply. The key comes from the variable ``api_key_env`` names
(``ANTHROPIC_API_KEY`` when the entry names none). Sampling parameters are not part of the
current Messages API, so ``temperature`` is not sent; ``options`` go into the request body as is.

Extended thinking is on only with ``think = true`` (``think = false`` sends it disabled): a budget
of ``max(1024, max_tokens)`` tokens on top of the reply's. Thinking streams as ``Thought`` items and
is never sent back, so a call that carries on a tool-use turn, or forces a tool, runs without it
(the API wants a thinking turn's blocks back, signed, and refuses forced tools while thinking).
The window is ``context_length`` when models.toml sets it, else the model family's (200k for Claude).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

from ._base import Backend, ToolChoice
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
    mentions_context_overflow,
    permanent,
    scrub,
    server_message,
    truncated_notice,
)
from ._reasoning import ReasoningSplitter
from ._types import (
    VIEWABLE,
    Capabilities,
    ChatMessage,
    Completion,
    Delta,
    FinishReason,
    ModelRequest,
    StreamItem,
    Thought,
    ToolCall,
    ToolSpec,
    Usage,
)
from .config import ModelConfig, known_window

try:
    import anthropic
except ImportError:  # pragma: no cover - exercised only where the extra is missing
    raise ConfigError(["the anthropic backend needs the optional extra: pip install 'moot[anthropic]'"]) from None

DEFAULT_URL = "https://api.anthropic.com"
DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"
CHOICE_TOOL = "give_choice"
JSON_TOOL = "give_json"
MIN_THINKING_BUDGET = 1024  # the least budget_tokens the API takes

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "error",
}


def _with_images(m: ChatMessage, vision: bool) -> list[dict[str, Any]]:
    """A user turn's or tool result's blocks: its text, then its images (as notes without vision)."""
    if not vision:
        text = m.text_with_notes()
        return [{"type": "text", "text": text}] if text else []
    blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
    for i in m.images:
        if i.media_type in VIEWABLE:
            blocks.append({"type": "image", "source": {"type": "base64", "media_type": i.media_type, "data": i.data}})
        else:
            blocks.append({"type": "text", "text": i.note("not a type the model reads")})
    return blocks


def to_anthropic(messages: list[ChatMessage], vision: bool = True) -> tuple[str | None, list[dict[str, Any]]]:
    """(system prompt, turns) in the Messages API's shape; images as image blocks (in a user turn
    or inside a tool result) where the model has vision, else as notes."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for m in messages:
        if m.role == "system":
            if m.content or m.images:
                system.append(m.text_with_notes("images go only in user turns") if m.images else m.content)
        elif m.role == "tool":
            content: Any = _with_images(m, vision) if m.images else m.content or ""
            add("user", [{"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": content}])
        elif m.role == "assistant":
            blocks: list[dict[str, Any]] = []
            text = m.text_with_notes("images go only in user turns") if m.images else m.content
            if text:
                blocks.append({"type": "text", "text": text})
            for c in m.tool_calls:
                try:
                    args = c.parsed_arguments()
                except ValueError:
                    args = {}
                blocks.append({"type": "tool_use", "id": c.id, "name": c.name, "input": args})
            add("assistant", blocks)
        elif m.images:
            add("user", _with_images(m, vision))
        else:
            add("user", [{"type": "text", "text": m.content or ""}] if m.content else [])
    return ("\n\n".join(system) or None), turns


def _in_tool_turn(messages: list[ChatMessage]) -> bool:
    """Whether the call carries on an assistant turn that called tools (its results come last)."""
    for m in reversed(messages):
        if m.role != "tool":
            return m.role == "assistant" and bool(m.tool_calls)
    return False


def to_anthropic_tool(tool: ToolSpec) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}


class AnthropicBackend(Backend):
    """Claude's Messages API, streamed (``create(stream=True)``), with usage."""

    default_capabilities = Capabilities(tools=True, json=True, vision=True, streaming=True)

    def __init__(self, config: ModelConfig, *, http_client: Any = None):
        super().__init__(config)
        url = (config.base_url or DEFAULT_URL).rstrip("/")
        self.url = url.removesuffix("/v1")  # the client adds /v1/messages itself
        self.key_env = config.api_key_env or DEFAULT_KEY_ENV
        self._http_client = http_client  # tests pass an httpx2.AsyncClient with a MockTransport
        self._client: anthropic.AsyncAnthropic | None = None
        family = None if config.context_length_explicit else known_window(config.model)
        if family:
            self._window, self.window_from = family, "model family"

    def __repr__(self) -> str:
        return f"AnthropicBackend(name={self.name!r}, url={self.url!r}, model={self.config.model!r})"

    def _key(self) -> str | None:
        return os.environ.get(self.key_env) or None

    def _get_client(self) -> anthropic.AsyncAnthropic:
        if self._client is not None:
            return self._client
        key = self._key()
        if not key:
            if self.config.base_url and not self.config.api_key_env:
                key = PLACEHOLDER_KEY  # a local Anthropic-compatible proxy that wants no key
            else:
                raise AuthError(f"no API key: the environment variable {self.key_env} is not set", model=self.name)
        kwargs: dict[str, Any] = dict(api_key=key, base_url=self.url, timeout=self.config.timeout_s, max_retries=0)
        if self._http_client is not None:
            kwargs["http_client"] = self._http_client
        self._client = anthropic.AsyncAnthropic(**kwargs)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _request(
        self,
        messages: list[ChatMessage],
        tools: list[ToolSpec],
        tool_choice: ToolChoice,
        schema: dict[str, Any] | None,
        choices: list[str] | None,
        max_tokens: int,
    ) -> tuple[dict[str, Any], str | None, bool]:
        """The request, the name of the tool moot forces (if any), and whether its input is wrapped."""
        system, turns = to_anthropic(messages, self.capabilities.vision)
        request: dict[str, Any] = {"model": self.config.model, "max_tokens": max_tokens, "messages": turns, "stream": True}
        if system:
            request["system"] = system
        forced: str | None = None
        wrapped = False
        if choices:
            forced = CHOICE_TOOL
            request["tools"] = [{"name": CHOICE_TOOL, "description": "Give your answer: exactly one of the options.",
                                 "input_schema": choice_schema(choices)}]
        elif schema is not None:
            forced = JSON_TOOL
            input_schema = schema
            if schema.get("type") != "object":  # a tool's input is always an object: wrap anything else
                input_schema = {"type": "object", "properties": {"value": schema}, "required": ["value"]}
                wrapped = True
            request["tools"] = [{"name": JSON_TOOL, "description": "Give your answer as this JSON.", "input_schema": input_schema}]
        elif tools:
            request["tools"] = [to_anthropic_tool(t) for t in tools]
            if tool_choice == "auto":
                request["tool_choice"] = {"type": "auto"}
            elif tool_choice == "required":
                request["tool_choice"] = {"type": "any"}
            elif tool_choice == "none":
                request["tool_choice"] = {"type": "none"}
            elif tool_choice is not None:
                if tool_choice not in {t.name for t in tools}:
                    raise ValueError(f"tool_choice {tool_choice!r} is not one of the offered tools "
                                     f"({', '.join(t.name for t in tools)})")
                request["tool_choice"] = {"type": "tool", "name": tool_choice}
        if forced:
            request["tool_choice"] = {"type": "tool", "name": forced}
        if self.config.think is False:
            request["thinking"] = {"type": "disabled"}
        elif self.config.think and not forced and tool_choice in (None, "auto", "none") and not _in_tool_turn(messages):
            budget = max(MIN_THINKING_BUDGET, max_tokens)
            request["thinking"] = {"type": "enabled", "budget_tokens": budget}
            request["max_tokens"] = max_tokens + budget  # the reply keeps its own allowance
        if self.config.options:
            request["extra_body"] = dict(self.config.options)
        return request, forced, wrapped

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        messages, tools, tool_choice, schema, choices = (request.messages, request.tools, request.tool_choice,
                                                         request.schema, request.choices)
        max_tokens = self.max_tokens_for(request)  # no temperature: the current API rejects it (see the module docstring)
        request, forced, wrapped = self._request(messages, tools, tool_choice, schema, choices, max_tokens)
        client = self._get_client()
        text: list[str] = []
        thought: list[str] = []  # thinking blocks
        splitter = ReasoningSplitter()  # and <think> in the text (an Anthropic-compatible proxy)
        blocks: dict[int, dict[str, str]] = {}  # tool_use blocks by index: id, name, json
        usage = Usage()
        stop: str | None = None
        started = finished = False
        stream = None
        try:
            async with Watchdog(self.config.timeout_s, self.name, self.url) as watch:
                stream = await client.messages.create(**request)
                async for event in stream:
                    kind = event.type
                    if kind == "message_start":
                        started = True
                        u = event.message.usage
                        cached = getattr(u, "cache_read_input_tokens", None) or 0
                        created = getattr(u, "cache_creation_input_tokens", None) or 0
                        usage = Usage(prompt_tokens=(u.input_tokens or 0) + cached + created,
                                      completion_tokens=u.output_tokens or 0, cached_tokens=cached)
                    elif kind == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            blocks[event.index] = {"id": block.id, "name": block.name, "json": ""}
                            watch.rearm()
                    elif kind == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta":
                            if delta.text:
                                text.append(delta.text)
                                for item in splitter.feed(delta.text):
                                    if not forced or type(item) is Thought:
                                        watch.hold()
                                        yield item
                                watch.rearm()
                        elif delta.type == "thinking_delta":
                            if delta.thinking:
                                thought.append(delta.thinking)
                                watch.hold()
                                yield Thought(delta.thinking)
                            watch.rearm()
                        elif delta.type == "input_json_delta" and event.index in blocks:
                            if delta.partial_json:
                                blocks[event.index]["json"] += delta.partial_json
                                if forced == JSON_TOOL and not wrapped:
                                    watch.hold()
                                    yield Delta(delta.partial_json)
                                watch.rearm()
                        elif delta.type == "signature_delta":
                            watch.rearm()  # the end of a thinking block: the model is writing
                    elif kind == "message_delta":
                        stop = event.delta.stop_reason or stop
                        if event.usage is not None and event.usage.output_tokens is not None:
                            usage.completion_tokens = event.usage.output_tokens  # the running total
                    elif kind == "message_stop":
                        finished = True
        except BackendError:
            raise
        except Exception as exc:
            raise self._map_error(exc) from None
        finally:
            if stream is not None:
                await stream.close()
        if not started:
            raise BadResponse(f"{self.url} answered, but not with a Messages API stream", model=self.name)
        if not finished:  # the stream closed cleanly mid-reply
            yield truncated_notice(self.name, self.url, "message_stop")
        calls = tuple(ToolCall(id=b["id"], name=b["name"], arguments=b["json"] or "{}") for _, b in sorted(blocks.items()))
        reason: FinishReason = _FINISH.get(stop or "end_turn", "stop") if finished else "truncated"
        for item in splitter.flush():
            if not forced or type(item) is Thought:
                yield item
        content = splitter.reply  # never the reasoning
        reasoning = "".join(thought) + splitter.reasoning
        if reasoning:  # output_tokens counts the thinking and says no more: estimate its part
            usage.reasoning_tokens = min(self.count_tokens(reasoning), usage.completion_tokens or self.count_tokens(reasoning))
        if forced:
            answer = next((c for c in calls if c.name == forced), None)
            if answer is None:
                raise BadResponse(f"asked to answer through the {forced!r} tool, the model replied {content[:80]!r}", model=self.name)
            try:
                value = json.loads(answer.arguments)
            except json.JSONDecodeError as exc:
                raise BadResponse(f"the {forced!r} tool input is not JSON ({exc})", model=self.name) from None
            if forced == CHOICE_TOOL:
                content = str(value.get("choice", "")) if isinstance(value, dict) else ""
                yield Delta(content)
            elif wrapped:
                content = json.dumps(value.get("value") if isinstance(value, dict) else value)
                yield Delta(content)
            else:
                content = answer.arguments
            calls = ()
            if reason == "tool_calls":
                reason = "stop"
        yield Completion(content=content, model=self.name, finish_reason=reason, tool_calls=calls, usage=usage)

    def _map_error(self, exc: Exception) -> BackendError:
        key, name = self._key(), self.name
        if isinstance(exc, anthropic.APITimeoutError):
            return BackendTimeout(f"no answer from {self.url} within {self.config.timeout_s:g} s "
                                  f"(raise timeout_s in models.toml if the model is just slow)", model=name)
        if isinstance(exc, anthropic.APIConnectionError):
            return BackendUnavailable(f"nothing answers at {self.url}: is the network up?", model=name)
        if isinstance(exc, anthropic.APIStatusError):
            status = exc.status_code
            body = exc.body if isinstance(exc.body, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            kind = error.get("type", "")
            detail = scrub(server_message(exc.body, ""), key)
            if status in (401, 403) or kind in ("authentication_error", "permission_error"):
                # The server's message is left out on purpose: it may quote part of the key.
                return AuthError(f"{self.url} refused the key in ${self.key_env} (HTTP {status}): check that "
                                 f"the variable holds a valid Anthropic API key", model=name)
            if status == 529 or kind == "overloaded_error":
                return BackendUnavailable(f"Anthropic is overloaded right now (HTTP {status}, {kind or 'overloaded'}); "
                                          f"try again shortly", model=name)
            if status == 429 or kind == "rate_limit_error":
                return BackendUnavailable(f"{self.url} is rate limiting requests (HTTP {status}){': ' + detail if detail else ''}", model=name)
            if status == 404 or kind == "not_found_error":
                return permanent(BackendUnavailable(f"{self.url} has no model {self.config.model!r} (HTTP 404): "
                                                    f"check the model name", model=name))
            if mentions_context_overflow(detail) or status == 413:
                return ContextOverflow(f"the conversation does not fit the model's context ({detail}); shorten it", model=name)
            if status >= 500 or kind == "api_error":
                return BackendUnavailable(f"{self.url} failed (HTTP {status}){': ' + detail if detail else ''}", model=name)
            return BadResponse(f"{self.url} rejected the request (HTTP {status}){': ' + detail if detail else ''}", model=name)
        if isinstance(exc, anthropic.APIError | ValueError):
            return BadResponse(f"{self.url} sent a reply that is not valid: {scrub(str(exc), key)[:200]}", model=name)
        return BadResponse(f"the call to {self.url} failed: {type(exc).__name__}: {scrub(str(exc), key)[:200]}", model=name)
