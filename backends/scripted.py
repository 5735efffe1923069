"""The scripted backend: replies from the config, in order, deterministic.

A real backend, not a mock: demos, tests and replays run on it. ``replies = [...]`` in models.toml
(each a string or ``{content = "...", tool_calls = [{name = "...", arguments = {...}}]}``) or
``script = "FILE"`` (JSONL of the same). One reply is served per call, across every agent that uses
the model, starting again from the first after the last.
"""

from __future__ import annotations

import asyncio
import json
import operator
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ._base import Backend, deltas
from ._errors import BadResponse, ConfigError
from ._reasoning import split_reasoning
from ._types import (BackendStatus, Capabilities, ChatMessage, Completion, ModelRequest, StreamItem, Thought, ToolCall,
                     Usage)
from .config import ModelConfig, ScriptedReply


def load_script(config: ModelConfig) -> list[ScriptedReply]:
    """The replies of a scripted model, from ``replies`` or the JSONL ``script`` file."""
    if config.replies:
        return [ScriptedReply(content=r) if isinstance(r, str) else r for r in config.replies]
    path = config.script_path()
    out: list[ScriptedReply] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError([f"model {config.name!r}: field 'script': cannot read {str(path)!r}: {exc}"]) from None
    problems = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            out.append(ScriptedReply(content=value) if isinstance(value, str) else ScriptedReply.model_validate(value))
        except Exception as exc:  # json or pydantic: either way, name the line
            problems.append(f"{path}:{number}: not a scripted reply (a JSON string or "
                            f"{{\"content\": ..., \"tool_calls\": [...]}}): {str(exc).splitlines()[0]}")
    if problems:
        raise ConfigError(problems)
    if not out:
        raise ConfigError([f"{path}: the script holds no replies"])
    return out


_content = operator.attrgetter("content")


def _estimate_tokens(messages: Sequence[ChatMessage]) -> int:
    """About four characters a token, counted at C speed: a scripted call stays cheap however
    long the history (tool-call arguments are left out of the estimate)."""
    return sum(map(len, filter(None, map(_content, messages)))) // 4 + 4 * len(messages)


class ScriptedBackend(Backend):
    default_capabilities = Capabilities(tools=True, json=True, vision=False, streaming=True)
    transient_failures = False  # a scripted reply is there or it is not

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.replies = tuple(load_script(config))
        self.calls = 0
        # Seconds between streamed chunks: 0 for tests, a little for demos that should look live.
        self.chunk_delay = float(config.options.get("chunk_delay_s", 0.0))
        self.chunk_size = int(config.options.get("chunk_size", 8))
        # Per reply, made once: its stream pieces (frozen, so shared by every call) and its size.
        # A reply that opens with <think>...</think> streams that part as reasoning, as a model's would.
        self._pieces = [self._script(r.content) for r in self.replies]

    def _script(self, text: str) -> tuple[tuple[Any, ...], int, str, int]:
        """A reply's stream pieces, its tokens, the reply without its reasoning, the reasoning's tokens."""
        if not text.lstrip().startswith("<think>"):
            return tuple(deltas(text, self.chunk_size)), self.count_tokens(text), text, 0
        reply, reasoning = split_reasoning(text)
        pieces = (Thought(reasoning), *deltas(reply, self.chunk_size))
        return pieces, self.count_tokens(text), reply, self.count_tokens(reasoning)

    def context_window(self) -> int | None:
        """A scripted model has a window only when its entry declares ``context_length`` (tests
        of the context budget do); otherwise nothing is counted or cut."""
        return self.config.context_length if self.config.context_length_explicit else None

    def next_reply(self) -> ScriptedReply:
        reply = self.replies[self.calls % len(self.replies)]
        self.calls += 1
        return reply

    def seek(self, calls: int) -> None:
        """Go on from reply ``calls`` (counting from 0, wrapping round), as if that many calls had
        been answered: a resumed session serves what follows, not the first reply again."""
        if calls < 0:
            raise ValueError(f"model {self.name!r}: cannot seek to call {calls}")
        self.calls = calls

    def status(self) -> BackendStatus:
        return BackendStatus("ready", f"scripted: {len(self.replies)} replies, {self.calls} served")

    async def _stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        tools = request.tools
        pieces, completion_tokens, content, reasoning_tokens = self._pieces[self.calls % len(self.replies)]
        reply = self.next_reply()
        number = self.calls
        delay = self.chunk_delay
        for piece in pieces:
            if delay:
                await asyncio.sleep(delay)
            yield piece
        if not reply.tool_calls:  # a text reply (positional: this runs for every call)
            yield Completion(content, self.name, "stop", (),
                             Usage(_estimate_tokens(request.messages) if request.prompt_chars is None
                                   else request.prompt_chars // 4, completion_tokens, 0, reasoning_tokens))
            return
        calls = []
        for i, call in enumerate(reply.tool_calls):
            if tools and call.name not in {t.name for t in tools}:
                raise BadResponse(f"scripted reply {number} calls tool {call.name!r}, which was not offered "
                                  f"(offered: {', '.join(t.name for t in tools)})", model=self.name)
            args = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
            calls.append(ToolCall(id=f"call_{number}_{i}", name=call.name, arguments=args))
        yield Completion(
            content=content,
            model=self.name,
            finish_reason="tool_calls" if calls else "stop",
            tool_calls=tuple(calls),
            usage=Usage(prompt_tokens=_estimate_tokens(request.messages) if request.prompt_chars is None
                        else request.prompt_chars // 4, completion_tokens=completion_tokens,
                        reasoning_tokens=reasoning_tokens),
        )
