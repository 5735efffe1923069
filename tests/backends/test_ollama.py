"""The ollama backend against a PROTOCOL STAND-IN for Ollama.

No Ollama binary can be installed on these machines, so ``ollama_standin.py`` plays the server: it
speaks Ollama's HTTP API (``/api/chat`` streaming NDJSON, ``/api/tags``, ``/api/show`` with a
``capabilities`` list) on loopback and generates with the REAL bundled SmolLM2 model through
llama-cpp-python. The official ``ollama`` client talks to it exactly as it would to Ollama. The
stand-in records every request, so the tests also check what moot sent (``num_ctx``, ``format``).

The model is tiny: these tests check shapes and constraints, never the quality of the text.
"""

from __future__ import annotations

import time

import httpx
import pytest

from moot.backends import BackendTimeout, BackendUnavailable, BadResponse, ChatMessage, Completion, Delta, ToolSpec
from moot.backends.ollama import OllamaBackend, normalize_host

pytestmark = pytest.mark.server

MODEL = "smollm2:135m"  # the name the stand-in serves the bundled model under


@pytest.fixture
def ollama_backend(ollama_standin, make_config):
    def make(**fields) -> OllamaBackend:
        fields = {"backend": "ollama", "model": MODEL, "base_url": ollama_standin, "max_output_tokens": 24,
                  "context_length": 4096, **fields}
        return OllamaBackend(make_config(**fields))

    return make


def sent_to(standin_url: str) -> list[dict]:
    """The chat requests the stand-in received, oldest first."""
    return [r["body"] for r in httpx.get(f"{standin_url}/_standin/requests").json() if r["path"] == "/api/chat"]


async def run(backend, messages, **kwargs) -> tuple[list[str], Completion]:
    items = [item async for item in backend.stream(messages, **kwargs)]
    assert sum(isinstance(i, Completion) for i in items) == 1 and isinstance(items[-1], Completion)
    return [i.content for i in items if isinstance(i, Delta)], items[-1]


def test_host_is_normalised():
    assert normalize_host(None) == "http://127.0.0.1:11434"
    assert normalize_host("http://gpu-box:11434/") == "http://gpu-box:11434"
    assert normalize_host("http://gpu-box:11434/v1") == "http://gpu-box:11434"
    assert normalize_host("http://gpu-box:11434/api") == "http://gpu-box:11434"


async def test_chat_sends_num_ctx_and_options_and_reports_usage(ollama_backend, ollama_standin):
    b = ollama_backend(temperature=0.2, options={"seed": 7})
    done = await b.complete([ChatMessage("system", "You are terse."), ChatMessage("user", "Say hello.")])
    await b.aclose()
    assert done.content.strip() and done.finish_reason in ("stop", "length")
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
    body = sent_to(ollama_standin)[-1]
    assert body["model"] == MODEL and body["stream"] is True
    assert body["options"] == {"num_ctx": 4096, "temperature": 0.2, "num_predict": 24, "seed": 7}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


async def test_stream_yields_several_deltas(ollama_backend):
    b = ollama_backend()
    pieces, done = await run(b, [ChatMessage("user", "Write a short sentence about the sea.")])
    await b.aclose()
    assert len(pieces) >= 3 and "".join(pieces) == done.content
    assert done.usage.completion_tokens == len(pieces)  # eval_count from the final NDJSON line


async def test_schema_goes_as_format_and_comes_back_parsed(ollama_backend, ollama_standin):
    b = ollama_backend(max_output_tokens=40)
    schema = {
        "type": "object",
        "properties": {"color": {"type": "string", "enum": ["red", "green", "blue"]}, "urgent": {"type": "boolean"}},
        "required": ["color", "urgent"],
    }
    done = await b.complete([ChatMessage("user", "Pick a color, as JSON.")], response_format=schema)
    await b.aclose()
    assert done.parsed["color"] in ("red", "green", "blue") and isinstance(done.parsed["urgent"], bool)
    assert sent_to(ollama_standin)[-1]["format"] == schema


async def test_choices_are_always_one_of_the_options(ollama_backend, ollama_standin):
    b = ollama_backend()
    options = ["planner", "coder", "critic"]
    for prompt in ["Who writes the code?", "Who reviews?", "Who plans?", "Anyone.", "Next?",
                   "Who fixes bugs?", "Who tests?", "Who starts?", "Who answers?", "Who decides?"]:
        pieces, done = await run(b, [ChatMessage("user", prompt)], choices=options, temperature=1.0)
        assert done.content in options and pieces == [done.content]
    await b.aclose()
    body = sent_to(ollama_standin)[-1]
    assert body["format"]["properties"]["choice"]["enum"] == options
    assert not body.get("tools")  # the official client sends an empty list


async def test_tools_pass_through_and_tool_calls_come_back(ollama_backend, ollama_standin):
    b = ollama_backend()
    tool = ToolSpec("set_light", "Turn a light on or off.",
                    {"type": "object", "properties": {"room": {"type": "string", "enum": ["kitchen", "hall"]},
                                                      "on": {"type": "boolean"}}, "required": ["room", "on"]})
    history = [ChatMessage("user", "Turn on the kitchen light.")]
    done = await b.complete(history, tools=[tool])
    assert done.finish_reason == "tool_calls" and len(done.tool_calls) == 1
    call = done.tool_calls[0]
    assert call.name == "set_light" and call.id
    args = call.parsed_arguments()
    assert args["room"] in ("kitchen", "hall") and isinstance(args["on"], bool)
    assert sent_to(ollama_standin)[-1]["tools"][0]["function"]["name"] == "set_light"

    # The result goes back in Ollama's shape: arguments as an object, the result named by tool.
    history += [done.to_message(), ChatMessage("tool", "the kitchen light is on", tool_call_id=call.id)]
    final = await b.complete(history, tools=[tool])
    await b.aclose()
    assert final.tool_calls == () and final.content
    body = sent_to(ollama_standin)[-1]
    assert body["messages"][1]["tool_calls"] == [{"function": {"name": "set_light", "arguments": args}}]
    assert body["messages"][2] == {"role": "tool", "content": "the kitchen light is on", "tool_name": "set_light"}


async def test_capabilities_are_probed_from_api_show_unless_declared(ollama_backend):
    b = ollama_backend()
    assert b.capabilities.tools is False  # nothing declared, not probed yet
    probed = await b.probe_capabilities()
    assert probed.tools is True and b.capabilities.tools is True  # the stand-in lists "tools"
    assert await b.probe_capabilities() is not None  # cached: asking again is fine
    await b.aclose()

    declared = ollama_backend(capabilities={"tools": False})
    assert (await declared.probe_capabilities()).tools is False  # models.toml wins over the probe
    await declared.aclose()


async def test_server_down_says_to_run_ollama_serve(make_config, dead_port):
    b = OllamaBackend(make_config(backend="ollama", model=MODEL, base_url=f"http://127.0.0.1:{dead_port}"))
    with pytest.raises(BackendUnavailable) as info:
        await b.complete([ChatMessage("user", "hi")])
    assert str(info.value).endswith(f"Ollama is not answering at http://127.0.0.1:{dead_port}: is `ollama serve` running?")
    assert info.value.transient
    with pytest.raises(BackendUnavailable, match="ollama serve"):
        await b.probe_capabilities()
    await b.aclose()


async def test_unknown_model_says_to_pull_it(ollama_backend):
    b = ollama_backend(model="llama9:400b")
    with pytest.raises(BackendUnavailable) as info:
        await b.complete([ChatMessage("user", "hi")])
    assert "`ollama pull llama9:400b`" in str(info.value)
    assert not info.value.transient  # retrying cannot help
    with pytest.raises(BackendUnavailable, match="ollama pull"):
        await b.probe_capabilities()
    await b.aclose()



async def test_closing_the_stream_early_stops_it_and_the_backend_still_works(ollama_backend):
    b = ollama_backend(max_output_tokens=200)
    agen = b.stream([ChatMessage("user", "Count from one to one hundred in words.")])
    assert isinstance(await agen.__anext__(), Delta)
    await agen.aclose()
    done = await b.complete([ChatMessage("user", "Say yes.")], max_tokens=4)
    await b.aclose()
    assert done.content


async def test_a_slow_server_is_a_timeout(make_config, loopback_server):
    def slow(*args):
        time.sleep(2.0)
        return 200, "application/x-ndjson", b""

    b = OllamaBackend(make_config(backend="ollama", model=MODEL, base_url=loopback_server(slow), timeout_s=0.3))
    with pytest.raises(BackendTimeout) as info:
        await b.complete([ChatMessage("user", "hi")])
    await b.aclose()
    assert "0.3 s" in str(info.value) and info.value.transient


@pytest.mark.parametrize("body", [b"<html>not ollama</html>\n", b""])
async def test_garbage_or_an_empty_stream_is_a_bad_response(make_config, loopback_server, body):
    b = OllamaBackend(make_config(backend="ollama", model=MODEL, base_url=loopback_server(lambda *a: (200, "application/x-ndjson", body))))
    with pytest.raises(BadResponse, match="127.0.0.1"):
        await b.complete([ChatMessage("user", "hi")])
    await b.aclose()


async def test_a_stream_cut_before_done_is_a_truncated_reply(make_config, loopback_server):
    # (tests/backends/test_timeouts_truncation.py covers this for every backend, streamed.)
    body = b'{"message": {"role": "assistant", "content": "hi"}, "done": false}\n'
    b = OllamaBackend(make_config(backend="ollama", model=MODEL, base_url=loopback_server(lambda *a: (200, "application/x-ndjson", body))))
    done = await b.complete([ChatMessage("user", "hi")])
    await b.aclose()
    assert (done.content, done.finish_reason) == ("hi", "truncated")
