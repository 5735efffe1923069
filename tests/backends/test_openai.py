"""The openai backend against a REAL OpenAI-compatible server: ``python -m llama_cpp.server`` with
the bundled SmolLM2 model on loopback (started once per session by the ``llama_server`` fixture).
Failure modes (nothing listening, 401, garbage, a slow server) use small loopback servers.

The model is tiny: these tests check shapes and constraints, never the quality of the text.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from moot.backends import (
    AuthError,
    BackendTimeout,
    BackendUnavailable,
    BadResponse,
    ChatMessage,
    Completion,
    ContextOverflow,
    Delta,
    ToolCall,
    ToolSpec,
)
from moot.backends.openai import OpenAIBackend, normalize_base_url

pytestmark = pytest.mark.server

FAKE_KEY = "sk-moot-FAKE-0123456789abcdefghijklmnopqrstuv"


@pytest.fixture
def openai_backend(llama_server, make_config):
    def make(**fields) -> OpenAIBackend:
        fields = {"backend": "openai", "model": "smollm2", "base_url": llama_server, "max_output_tokens": 24,
                  "temperature": 0.7, **fields}
        return OpenAIBackend(make_config(**fields))

    return make


async def run(backend: OpenAIBackend, messages, **kwargs) -> tuple[list[str], Completion]:
    items = [item async for item in backend.stream(messages, **kwargs)]
    assert sum(isinstance(i, Completion) for i in items) == 1 and isinstance(items[-1], Completion)
    return [i.content for i in items if isinstance(i, Delta)], items[-1]


def test_base_url_is_normalised():
    assert normalize_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert normalize_base_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/v1"
    assert normalize_base_url("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"
    assert normalize_base_url("https://api.groq.com/openai/v1") == "https://api.groq.com/openai/v1"
    assert normalize_base_url("https://gw.example/openai") == "https://gw.example/openai/v1"
    assert normalize_base_url("https://generativelanguage.googleapis.com/v1beta/openai/") == \
        "https://generativelanguage.googleapis.com/v1beta/openai"


async def test_chat_returns_a_completion_with_usage(openai_backend):
    b = openai_backend()
    assert b.url.endswith("/v1")  # the fixture's URL has no /v1: the backend added it
    done = await b.complete([ChatMessage("system", "You are terse."), ChatMessage("user", "Say hello.")])
    await b.aclose()
    assert isinstance(done.content, str) and done.content.strip()
    assert done.finish_reason in ("stop", "length")
    assert done.model == "m"
    # llama-cpp-python's server ignores include_usage while streaming: the backend estimates.
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0


async def test_stream_yields_several_deltas_that_make_the_reply(openai_backend):
    b = openai_backend(max_output_tokens=24)
    pieces, done = await run(b, [ChatMessage("user", "Write a short sentence about the sea.")])
    await b.aclose()
    assert len(pieces) >= 3
    assert "".join(pieces) == done.content


async def test_closing_the_stream_early_stops_it_and_the_backend_still_works(openai_backend):
    b = openai_backend(max_output_tokens=200)
    agen = b.stream([ChatMessage("user", "Count from one to one hundred in words.")])
    first = await agen.__anext__()
    assert isinstance(first, Delta)
    started = time.monotonic()
    await agen.aclose()
    assert time.monotonic() - started < 5
    done = await b.complete([ChatMessage("user", "Say yes.")], max_tokens=4)
    await b.aclose()
    assert done.content


async def test_schema_output_is_valid_json_of_that_schema(openai_backend):
    b = openai_backend()
    schema = {
        "type": "object",
        "properties": {"color": {"type": "string", "enum": ["red", "green", "blue"]}, "urgent": {"type": "boolean"}},
        "required": ["color", "urgent"],
    }
    done = await b.complete([ChatMessage("user", "Pick a color and say whether it is urgent, as JSON.")],
                            response_format=schema, max_tokens=40)
    await b.aclose()
    assert isinstance(done.parsed, dict)
    assert done.parsed["color"] in ("red", "green", "blue")
    assert isinstance(done.parsed["urgent"], bool)
    assert json.loads(done.content) == done.parsed
    # llama-cpp-python's server refuses OpenAI's json_schema; the backend switched to its dialect.
    assert b.schema_dialect == "json_object"


async def test_choices_are_always_one_of_the_options(openai_backend):
    b = openai_backend()
    options = ["planner", "coder", "critic"]
    prompts = ["Who should write the code?", "Who reviews it?", "Who makes the plan?", "Pick anyone.", "Next speaker?",
               "Who fixes the bug?", "Who checks the tests?", "Who starts?", "Who answers the user?", "Who decides?"]
    seen = []
    for prompt in prompts:
        pieces, done = await run(b, [ChatMessage("system", "Choose the next speaker."), ChatMessage("user", prompt)],
                                 choices=options, temperature=1.0)
        assert done.content in options and done.parsed == done.content
        assert pieces == [done.content]  # the JSON wrapper is never streamed
        seen.append(done.content)
    await b.aclose()
    assert len(seen) == 10


async def test_a_named_tool_is_called_with_arguments_from_the_stream(openai_backend):
    b = openai_backend()
    tool = ToolSpec("set_light", "Turn a light on or off.",
                    {"type": "object", "properties": {"room": {"type": "string", "enum": ["kitchen", "hall"]},
                                                      "on": {"type": "boolean"}}, "required": ["room", "on"]})
    done = await b.complete([ChatMessage("user", "Turn on the kitchen light.")], tools=[tool], tool_choice="set_light")
    await b.aclose()
    assert done.finish_reason == "tool_calls"
    assert len(done.tool_calls) == 1 and done.tool_calls[0].name == "set_light"
    args = done.tool_calls[0].parsed_arguments()
    assert args["room"] in ("kitchen", "hall") and isinstance(args["on"], bool)
    assert done.tool_calls[0].id


async def test_a_prompt_longer_than_the_context_is_context_overflow(openai_backend):
    b = openai_backend()
    long_text = "the quick brown fox jumps over the lazy dog " * 400  # ~4000 tokens > n_ctx 2048
    with pytest.raises(ContextOverflow):
        await b.complete([ChatMessage("user", long_text)])
    await b.aclose()


async def test_server_down_names_the_url(make_config, dead_port):
    b = OpenAIBackend(make_config(backend="openai", model="x", base_url=f"http://127.0.0.1:{dead_port}"))
    with pytest.raises(BackendUnavailable) as info:
        await b.complete([ChatMessage("user", "hi")])
    await b.aclose()
    message = str(info.value)
    assert f"nothing answers at http://127.0.0.1:{dead_port}/v1: is the server running?" in message
    assert info.value.transient


async def test_a_refused_key_is_an_auth_error_and_the_key_is_never_shown(make_config, refusing_server, monkeypatch,
                                                                        caplog, capsys):
    caplog.set_level(logging.DEBUG)  # the openai and httpx loggers included
    monkeypatch.setenv("MOOT_TEST_OPENAI_KEY", FAKE_KEY)
    b = OpenAIBackend(make_config(backend="openai", model="x", base_url=refusing_server, api_key_env="MOOT_TEST_OPENAI_KEY"))
    with pytest.raises(AuthError) as info:
        await b.complete([ChatMessage("user", "hi")])
    await b.aclose()
    assert "MOOT_TEST_OPENAI_KEY" in str(info.value)
    exc = info.value
    texts = [str(exc), repr(exc), repr(b), str(exc.__cause__), str(exc.__context__) if not exc.__suppress_context__ else "",
             caplog.text, *[r.getMessage() for r in caplog.records], *capsys.readouterr()]
    for text in texts:
        assert FAKE_KEY not in text
        assert FAKE_KEY[8:24] not in text  # nor a recognisable piece of it


async def test_no_key_configured_sends_a_placeholder(make_config, loopback_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-users-real-key-must-not-go-to-local-servers")
    seen = []

    def answer(method, path, headers, body):
        seen.append(headers.get("Authorization"))
        return 401, "application/json", b'{"error": {"message": "no"}}'

    b = OpenAIBackend(make_config(backend="openai", model="x", base_url=loopback_server(answer)))
    with pytest.raises(AuthError, match="set api_key_env"):
        await b.complete([ChatMessage("user", "hi")])
    await b.aclose()
    assert seen == ["Bearer not-needed"]


@pytest.mark.parametrize("reply", [
    (200, "text/html", b"<html>hello</html>"),
    (200, "text/event-stream", b"data: {this is not json\n\n"),
    (200, "application/json", b'{"not": "a chat completion"}'),
])
async def test_garbage_is_a_bad_response(make_config, loopback_server, reply):
    b = OpenAIBackend(make_config(backend="openai", model="x", base_url=loopback_server(lambda *a: reply)))
    with pytest.raises(BadResponse) as info:
        await b.complete([ChatMessage("user", "hi")])
    await b.aclose()
    assert "127.0.0.1" in str(info.value)


async def test_a_slow_server_is_a_timeout(make_config, loopback_server):
    def slow(*args):
        time.sleep(2.0)
        return 200, "application/json", b"{}"

    b = OpenAIBackend(make_config(backend="openai", model="x", base_url=loopback_server(slow), timeout_s=0.3))
    started = time.monotonic()
    with pytest.raises(BackendTimeout) as info:
        await b.complete([ChatMessage("user", "hi")])
    await b.aclose()
    assert time.monotonic() - started < 1.8
    assert "0.3 s" in str(info.value) and info.value.transient


async def test_a_tool_round_trip_with_named_speakers_is_accepted(openai_backend):
    # What a group chat sends: speaker names, an assistant tool call, the tool's result.
    b = openai_backend()
    tool = ToolSpec("get_time", "The time now.", {"type": "object", "properties": {}})
    history = [
        ChatMessage("system", "You are a helpful assistant."),
        ChatMessage("user", "What time is it?", name="alice"),
        ChatMessage("assistant", None, name="bot", tool_calls=(ToolCall("call_1", "get_time", "{}"),)),
        ChatMessage("tool", "12:30", tool_call_id="call_1"),
    ]
    pieces, done = await run(b, history, tools=[tool])
    await b.aclose()
    assert done.content or done.tool_calls
    assert "".join(pieces) == done.content


async def test_azure_and_openais_own_stream_shape_from_a_recorded_exchange(make_config, monkeypatch):
    # RECORDED exchange (no Azure or OpenAI endpoint is reachable here): OpenAI's real stream shape,
    # where the server reports usage in a last chunk and parallel tool calls arrive by index.
    import httpx2

    sent = []

    def replay(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        body = (Path(__file__).parent / "data" / "openai" / "tool_call_stream_with_usage.sse").read_bytes()
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    monkeypatch.setenv("MOOT_TEST_AZURE_KEY", FAKE_KEY)
    config = make_config(backend="openai", model="gpt4o-deploy", base_url="https://moot-test.openai.azure.com/",
                         api_version="2024-10-21", api_key_env="MOOT_TEST_AZURE_KEY")
    b = OpenAIBackend(config, http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(replay)))
    tools = [ToolSpec("get_weather", "Weather.", {"type": "object", "properties": {"city": {"type": "string"}}}),
             ToolSpec("get_time", "Time.")]
    done = await b.complete([ChatMessage("user", "Weather and time in Oslo?")], tools=tools, tool_choice="required")
    await b.aclose()
    assert done.tool_calls == (ToolCall("call_Qx7", "get_weather", '{"city": "Oslo"}'), ToolCall("call_Rz8", "get_time", "{}"))
    assert done.finish_reason == "tool_calls"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.cached_tokens) == (82, 31, 64)

    request = sent[0]
    assert request.url.path == "/openai/deployments/gpt4o-deploy/chat/completions"
    assert request.url.params["api-version"] == "2024-10-21"
    assert request.headers["api-key"] == FAKE_KEY
    body = json.loads(request.content)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["tool_choice"] == "required" and [t["function"]["name"] for t in body["tools"]] == ["get_weather", "get_time"]
