"""The anthropic backend against RECORDED HTTP exchanges.

No Anthropic server can run here (and no network reaches api.anthropic.com), so these tests replay
responses written in the exact wire shape of the Messages API (SSE streams and JSON error bodies in
``data/anthropic/``) through an ``httpx2.MockTransport`` handed to the real ``AsyncAnthropic``
client. The transport also records what moot sent, and the tests check it: the system prompt moved
to ``system``, tools in Anthropic's schema, tool results as ``tool_result`` blocks.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx2
import pytest

from moot.backends import AuthError, BackendUnavailable, ChatMessage, Completion, ContextOverflow, Delta, ToolCall, ToolSpec
from moot.backends.anthropic import AnthropicBackend

DATA = Path(__file__).parent / "data" / "anthropic"
KEY = "sk-ant-api03-FAKE-moot-test-0123456789abcdefghijklmnop"
WEATHER = ToolSpec(
    "get_weather",
    "The current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
     "required": ["city"]},
)


class Replay:
    """Serves recorded responses in order and records every request moot made."""

    def __init__(self, *responses: tuple[int, str]):
        self.responses = list(responses)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        status, name = self.responses.pop(0)
        body = (DATA / name).read_bytes()
        kind = "text/event-stream" if name.endswith(".sse") else "application/json"
        return httpx2.Response(status, content=body, headers={"content-type": kind, "request-id": "req_recorded"})

    def sent(self, index: int = -1) -> dict:
        return json.loads(self.requests[index].content)


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("MOOT_TEST_ANTHROPIC_KEY", KEY)
    return "MOOT_TEST_ANTHROPIC_KEY"


@pytest.fixture
def backend(key_env, make_config):
    """``backend(replay)``: an AnthropicBackend whose HTTP goes to the replay."""

    def make(replay: Replay) -> AnthropicBackend:
        config = make_config(backend="anthropic", model="claude-sonnet-5-5", api_key_env=key_env, max_output_tokens=300)
        return AnthropicBackend(config, http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(replay)))

    return make


async def collect(b: AnthropicBackend, messages, **kwargs):
    items = [item async for item in b.stream(messages, **kwargs)]
    assert isinstance(items[-1], Completion) and sum(isinstance(i, Completion) for i in items) == 1
    return [i.content for i in items if isinstance(i, Delta)], items[-1]


async def test_text_streams_and_system_prompt_moves_to_system(backend):
    replay = Replay((200, "text_stream.sse"))
    b = backend(replay)
    pieces, done = await collect(b, [
        ChatMessage("system", "You answer in one sentence."),
        ChatMessage("user", "What is the capital of France?"),
    ])
    await b.aclose()
    assert pieces == ["Paris is", " the capital", " of France."]
    assert done.content == "Paris is the capital of France."
    assert done.finish_reason == "stop"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (25, 9)

    request = replay.requests[0]
    assert request.method == "POST" and request.url.path == "/v1/messages"
    assert request.headers.get("anthropic-version")
    sent = replay.sent()
    assert sent["system"] == "You answer in one sentence."
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}]
    assert all(m["role"] != "system" for m in sent["messages"])
    assert sent["stream"] is True and sent["model"] == "claude-sonnet-5-5" and sent["max_tokens"] == 300
    assert "temperature" not in sent  # the current Messages API rejects sampling parameters


async def test_tool_call_is_assembled_and_tool_results_go_back_as_blocks(backend):
    replay = Replay((200, "tool_use_stream.sse"), (200, "text_stream.sse"))
    b = backend(replay)
    history = [ChatMessage("system", "Use tools."), ChatMessage("user", "Weather in Paris?")]
    pieces, done = await collect(b, history, tools=[WEATHER], tool_choice="required")
    assert done.finish_reason == "tool_calls"
    assert done.tool_calls == (ToolCall("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", '{"city": "Paris", "unit": "celsius"}'),)
    assert done.tool_calls[0].parsed_arguments() == {"city": "Paris", "unit": "celsius"}
    assert "".join(pieces) == "Let me check the weather."
    assert done.usage.cached_tokens == 100 and done.usage.prompt_tokens == 572

    sent = replay.sent(0)
    assert sent["tools"] == [{"name": "get_weather", "description": WEATHER.description, "input_schema": WEATHER.parameters}]
    assert sent["tool_choice"] == {"type": "any"}

    # The second turn carries the call and its result back in Anthropic's block shapes.
    history += [done.to_message(), ChatMessage("tool", "18 degrees, sunny", tool_call_id=done.tool_calls[0].id)]
    await collect(b, history, tools=[WEATHER])
    await b.aclose()
    sent = replay.sent(1)
    assert sent["system"] == "Use tools."
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assistant = sent["messages"][1]["content"]
    assert assistant[0] == {"type": "text", "text": "Let me check the weather."}
    assert assistant[1] == {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
                            "input": {"city": "Paris", "unit": "celsius"}}
    assert sent["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "content": "18 degrees, sunny"}]
    assert "tool_choice" not in sent


async def test_choices_force_an_enum_tool_and_yield_the_choice(backend):
    replay = Replay((200, "choice_stream.sse"))
    b = backend(replay)
    options = ["planner", "coder", "critic"]
    pieces, done = await collect(b, [ChatMessage("user", "Who speaks next?")], choices=options, tools=[WEATHER])
    await b.aclose()
    assert pieces == ["critic"]  # the JSON of the tool input is not streamed
    assert done.content == "critic" and done.parsed == "critic"
    assert done.tool_calls == () and done.finish_reason == "stop"
    sent = replay.sent()
    assert sent["tool_choice"] == {"type": "tool", "name": "give_choice"}
    assert len(sent["tools"]) == 1  # the caller's tools are not offered when a choice is forced
    assert sent["tools"][0]["input_schema"]["properties"]["choice"]["enum"] == options
    assert sent["tools"][0]["input_schema"]["required"] == ["choice"]


async def test_schema_is_forced_through_a_tool_and_decoded(backend):
    replay = Replay((200, "schema_stream.sse"))
    b = backend(replay)
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}
    pieces, done = await collect(b, [ChatMessage("user", "Who wrote the first program?")], response_format=schema)
    await b.aclose()
    assert done.parsed == {"name": "Ada", "age": 36}
    assert json.loads("".join(pieces)) == {"name": "Ada", "age": 36}
    sent = replay.sent()
    assert sent["tools"][0]["input_schema"] == schema
    assert sent["tool_choice"] == {"type": "tool", "name": "give_json"}


async def test_401_is_an_auth_error_that_never_shows_the_key(backend, key_env, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    replay = Replay((401, "error_401.json"))
    b = backend(replay)
    with pytest.raises(AuthError) as info:
        await b.complete([ChatMessage("user", "hi")])
    await b.aclose()
    assert key_env in str(info.value)
    # The key really was sent (so the test would catch it leaking), and appears nowhere it must not.
    sent_auth = replay.requests[0].headers.get("x-api-key", "") + replay.requests[0].headers.get("authorization", "")
    assert KEY in sent_auth
    out, err = capsys.readouterr()
    texts = [str(info.value), repr(info.value), repr(b), out, err, caplog.text] + [r.getMessage() for r in caplog.records]
    assert not any(KEY in t or KEY[-20:] in t for t in texts)


async def test_529_overloaded_is_transient(backend):
    replay = Replay((529, "error_529.json"))
    b = backend(replay)
    with pytest.raises(BackendUnavailable) as info:
        await b.complete([ChatMessage("user", "hi")])
    await b.aclose()
    assert info.value.transient and "overloaded" in str(info.value).lower()
    assert len(replay.requests) == 1  # the client's own retries are off: the registry retries


async def test_overloaded_error_event_mid_stream_is_transient(backend):
    b = backend(Replay((200, "overloaded_mid_stream.sse")))
    with pytest.raises(BackendUnavailable) as info:
        await b.complete([ChatMessage("user", "hi")])
    await b.aclose()
    assert info.value.transient and "overloaded" in str(info.value).lower()


async def test_prompt_too_long_is_context_overflow(backend):
    b = backend(Replay((400, "error_400_too_long.json")))
    with pytest.raises(ContextOverflow):
        await b.complete([ChatMessage("user", "hi")])
    await b.aclose()


async def test_unset_key_variable_is_an_auth_error_naming_it(monkeypatch, make_config):
    monkeypatch.delenv("MOOT_TEST_UNSET_KEY", raising=False)
    replay = Replay()
    b = AnthropicBackend(make_config(backend="anthropic", model="claude-sonnet-5-5", api_key_env="MOOT_TEST_UNSET_KEY"),
                         http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(replay)))
    with pytest.raises(AuthError, match="MOOT_TEST_UNSET_KEY"):
        await b.complete([ChatMessage("user", "hi")])
    assert replay.requests == []
