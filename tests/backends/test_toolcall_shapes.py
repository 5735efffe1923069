"""Tool calls in the shapes real servers send, made into real calls (or a notice saying what was wrong).

The payloads below are RECORDED SHAPES: the forms of tool calls seen from Ollama, llama.cpp's
server, vLLM and LM Studio (and the small models behind them), written here by hand as stand-ins
for those servers' replies. The end-to-end tests serve them from loopback stand-in servers speaking
the OpenAI (SSE) and Ollama (NDJSON) wire formats, through the real backend code and a real agent.
"""

from __future__ import annotations

import json

import pytest

import moot.agents._models as models_module
from moot.agents import AssistantAgent, UserProxyAgent, register_function, use_models
from moot.agents.events import NoticeEvent, ToolCallRequested, ToolResult
from moot.backends import ChatMessage, Completion, ConfigError, Notice, ToolCall, ToolSpec
from moot.backends._toolcalls import normalise_calls, resolve_name
from moot.backends.config import parse_models, scripted_models
from moot.backends.llama_cpp import LlamaCppBackend
from moot.backends.ollama import OllamaBackend
from moot.backends.openai import OpenAIBackend

TOOLS = [ToolSpec("get_time", "The time in a zone.", {"type": "object", "properties": {"tz": {"type": "string"}}}),
         ToolSpec("get_weather", "The weather in a city.", {"type": "object", "properties": {"city": {"type": "string"}}})]

# -- recorded shapes: text content that is a call ------------------------------------------------
# (label, content as the server sent it, the calls it means, the text left)
TEXT_CALLS = [
    ("hermes/qwen <tool_call> tag (llama.cpp server, vLLM without a tool parser)",
     '<tool_call>\n{"name": "get_time", "arguments": {"tz": "UTC"}}\n</tool_call>',
     [("get_time", {"tz": "UTC"})], ""),
    ("grammar-forced tag with no closing tag (moot's llama_cpp grammar)",
     '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}',
     [("get_weather", {"city": "Rome"})], ""),
    ("two tags in one reply (qwen2.5, parallel calls)",
     'Checking both.\n<tool_call>{"name": "get_time", "arguments": {}}</tool_call>\n'
     '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>',
     [("get_time", {}), ("get_weather", {"city": "Oslo"})], "Checking both."),
    ("fenced json block after prose (LM Studio, models without a tool template)",
     'I will look it up.\n```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
     [("get_weather", {"city": "Paris"})], "I will look it up."),
    ("bare JSON object with arguments as a JSON string (Ollama /v1 with a raw template)",
     '{"name": "get_time", "arguments": "{\\"tz\\": \\"CET\\"}"}',
     [("get_time", {"tz": "CET"})], ""),
    ("llama 3.x 'parameters' instead of 'arguments' (Ollama llama3.2)",
     '{"name": "get_weather", "parameters": {"city": "Lima"}}',
     [("get_weather", {"city": "Lima"})], ""),
    ("a JSON list of calls (vLLM with no parser, mistral-style)",
     '[{"name": "get_time", "arguments": {}}, {"name": "get_weather", "arguments": {"city": "Kyiv"}}]',
     [("get_time", {}), ("get_weather", {"city": "Kyiv"})], ""),
    ("the pair wrapped once more (small models echoing the schema)",
     '{"name": "get_time", "arguments": {"name": "get_time", "arguments": {"tz": "JST"}}}',
     [("get_time", {"tz": "JST"})], ""),
    ("OpenAI's function wrapper in the text",
     '{"type": "function", "function": {"name": "get_time", "arguments": {"tz": "UTC"}}}',
     [("get_time", {"tz": "UTC"})], ""),
    ("namespaced names: functions., default_api:, tools/ (gpt-oss, gemini-style, MCP gateways)",
     '<tool_call>{"name": "functions.get_time", "arguments": {}}</tool_call>'
     '<tool_call>{"name": "default_api:get_weather", "arguments": {"city": "Bern"}}</tool_call>'
     '<tool_call>{"name": "tools/get_time", "arguments": {"tz": "EST"}}</tool_call>',
     [("get_time", {}), ("get_weather", {"city": "Bern"}), ("get_time", {"tz": "EST"})], ""),
    ("'Run the following function(s):' with JSON (functionary-style text)",
     'Run the following function(s): {"name": "get_weather", "arguments": {"city": "Quito"}}',
     [("get_weather", {"city": "Quito"})], ""),
    ("'Run the following function(s):' with Python-style calls (llama 3.2 pythonic)",
     'Run the following functions: [get_time(tz="UTC"), get_weather(city="Accra")]',
     [("get_time", {"tz": "UTC"}), ("get_weather", {"city": "Accra"})], ""),
    ("a bare call with words after it (qwen2.5-coder via Ollama)",
     '{"name": "get_time", "arguments": {"tz": "UTC"}}\nThis gives the time in UTC.',
     [("get_time", {"tz": "UTC"})], "This gives the time in UTC."),
    ("mistral [TOOL_CALLS] prefix",
     '[TOOL_CALLS] [{"name": "get_time", "arguments": {"tz": "UTC"}}]',
     [("get_time", {"tz": "UTC"})], ""),
]


@pytest.mark.parametrize("label, content, calls, text", TEXT_CALLS, ids=[c[0] for c in TEXT_CALLS])
def test_a_recorded_text_call_becomes_a_real_call(label, content, calls, text):
    parsed = normalise_calls(content, (), TOOLS)
    assert parsed.problem is None
    assert [(c.name, json.loads(c.arguments)) for c in parsed.calls] == calls
    assert parsed.text == text
    assert len({c.id for c in parsed.calls}) == len(calls)  # each call its own id


# -- recorded shapes: text that only mentions JSON stays text --------------------------------------
MENTIONS = [
    ("a JSON answer that is no call", '{"name": "Ada", "age": 36}'),
    ("a fenced JSON example that is no call", 'The config:\n```json\n{"debug": true}\n```'),
    ("prose quoting a call shape mid-sentence", 'You could send {"name": "get_time", "arguments": {}} to it.'),
    ("'run the following' with no call after it", "Run the following function: first open the file, then read."),
    ("a JSON answer with words after it", '{"city": "Rome", "sky": "clear"}\nThat is the forecast.'),
    ("plain prose", "It is sunny in Rome."),
]


@pytest.mark.parametrize("label, content", MENTIONS, ids=[m[0] for m in MENTIONS])
def test_text_that_mentions_json_stays_text(label, content):
    parsed = normalise_calls(content, (), TOOLS)
    assert parsed == type(parsed)((), content, None)


# -- recorded shapes: broken calls give a problem, and the text stays as written -------------------
BROKEN = [
    ("an unknown tool in a tag", '<tool_call>{"name": "search_web", "arguments": {"q": "x"}}</tool_call>',
     "no tool 'search_web'"),
    ("broken JSON in a tag (a reply cut by max_tokens)", '<tool_call>{"name": "get_time", "arguments": {"tz": "UT',
     "not valid JSON"),
    ("arguments that are not an object", '{"name": "get_time", "arguments": ["UTC"]}', "must be a JSON object"),
    ("arguments as a string that is not JSON", '{"name": "get_time", "arguments": "tz=UTC"}', "not valid JSON"),
    ("a bare call whose JSON is broken", '{"name": "get_weather", "arguments": {"city": "Rome"}', "not valid JSON"),
    ("an unknown tool in a fenced block", '```json\n{"name": "get_stock", "arguments": {}}\n```', "no tool 'get_stock'"),
    ("one good and one unknown call: neither is run",
     '<tool_call>{"name": "get_time", "arguments": {}}</tool_call><tool_call>{"name": "rm", "arguments": {}}</tool_call>',
     "no tool 'rm'"),
]


@pytest.mark.parametrize("label, content, why", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_text_call_is_a_problem_and_no_call(label, content, why):
    parsed = normalise_calls(content, (), TOOLS)
    assert parsed.calls == () and parsed.text == content
    assert parsed.problem and why in parsed.problem


def test_hostile_text_is_a_problem_not_a_crash():
    deep = "<tool_call>" + "[" * 100_000 + "]" * 100_000 + "</tool_call>"
    assert "nests too deeply" in normalise_calls(deep, (), TOOLS).problem
    assert normalise_calls("Run the following function: get_time(tz=1 +)", (), TOOLS).calls == ()
    assert normalise_calls("Run the following function: get_time(tz=open('x'))", (), TOOLS).calls == ()


def test_namespace_prefix_maps_only_when_exactly_one_tool_matches():
    assert resolve_name("functions.get_time", ["get_time", "x"]) == "get_time"
    assert resolve_name("get_time", ["get_time"]) == "get_time"
    assert resolve_name("a.read", ["a.read", "read"]) == "a.read"  # the exact name wins
    assert resolve_name("fs.a.read", ["a.read", "read"]) is None  # two tools match: ambiguous
    assert resolve_name("xget_time", ["get_time"]) is None  # no separator: another name


# -- recorded shapes: native calls as servers send them --------------------------------------------

def test_native_calls_are_normalised_and_the_text_is_not_parsed():
    native = (
        ToolCall("c1", "functions.get_time", '{"tz": "UTC"}'),  # vLLM gpt-oss: namespaced
        ToolCall("c2", "get_weather", '{"name": "get_weather", "arguments": {"city": "Rome"}}'),  # LM Studio: wrapped
        ToolCall("c3", "get_time", '{"tz":"CET"}'),  # already right: kept as sent
    )
    parsed = normalise_calls('<tool_call>{"name": "get_time", "arguments": {}}</tool_call>', native, TOOLS)
    assert [(c.id, c.name, json.loads(c.arguments)) for c in parsed.calls] == [
        ("c1", "get_time", {"tz": "UTC"}), ("c2", "get_weather", {"city": "Rome"}), ("c3", "get_time", {"tz": "CET"})]
    assert parsed.calls[2] is native[2]
    assert parsed.text.startswith("<tool_call>")  # the server sent calls: the text is its own
    # Broken native arguments are left for the tool run to report (and repair) to the model.
    broken = ToolCall("c4", "get_time", '{"tz": ')
    assert normalise_calls("", (broken,), TOOLS).calls == (broken,)


def test_modes():
    text = '<tool_call>{"name": "get_time", "arguments": {}}</tool_call>'
    native = (ToolCall("c1", "get_weather", "{}"),)
    assert normalise_calls(text, (), TOOLS, "native") == type(normalise_calls("", (), TOOLS))((), text, None)
    assert [c.name for c in normalise_calls(text, native, TOOLS, "text").calls] == ["get_time"]
    assert [c.name for c in normalise_calls(text, native, TOOLS, None).calls] == ["get_weather"]
    assert [c.name for c in normalise_calls(text, (), TOOLS, None).calls] == ["get_time"]


# -- tool_call_mode in models.toml ----------------------------------------------------------------

def test_tool_call_mode_is_validated_naming_file_entry_and_field():
    good = parse_models('schema_version = 1\n[[models]]\nname = "a"\nbackend = "openai"\nmodel = "x"\n'
                        'tool_call_mode = "text"\n', "models.toml")
    assert good.get("a").tool_call_mode == "text"
    with pytest.raises(ConfigError) as exc:
        parse_models('schema_version = 1\n[[models]]\nname = "a"\nbackend = "openai"\nmodel = "x"\n'
                     'tool_call_mode = "json"\n'
                     '[[models]]\nname = "b"\nbackend = "ollama"\nmodel = "x"\ntool_call_mode = "grammar"\n', "models.toml")
    text = str(exc.value)
    assert "models.toml: [[models]] entry 1 ('a'): field 'tool_call_mode'" in text and "'json'" in text
    assert "models.toml: [[models]] entry 2 ('b'): field 'tool_call_mode': 'grammar' is only for backend 'llama_cpp'" in text


def test_llama_cpp_native_or_grammar_follows_the_mode(bundled_model_path):
    def backend(**fields):
        config = scripted_models({"m": {"backend": "llama_cpp", "model_path": str(bundled_model_path), **fields}},
                                 source="test").get("m")
        return LlamaCppBackend(config)

    assert not backend().native_tools  # SmolLM2's template: grammar-forced calls
    assert backend(options={"chat_format": "chatml-function-calling"}).native_tools
    assert not backend(options={"chat_format": "chatml-function-calling"}, tool_call_mode="grammar").native_tools
    assert backend(tool_call_mode="native").native_tools
    assert not backend(tool_call_mode="text").native_tools


# -- end to end: loopback stand-ins of each wire format, the real backends, a real agent ------------

def sse_reply(content: str) -> bytes:
    """An OpenAI-compatible streamed reply (llama.cpp server / vLLM / LM Studio) whose text is ``content``."""
    def chunk(delta: dict, finish: str | None = None) -> bytes:
        return ("data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "x",
                                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n").encode()
    pieces = [content[i:i + 7] for i in range(0, len(content), 7)]
    return (chunk({"role": "assistant", "content": ""}) + b"".join(chunk({"content": p}) for p in pieces)
            + chunk({}, "stop") + b"data: [DONE]\n\n")


def ndjson_reply(content: str) -> bytes:
    """An Ollama ``/api/chat`` streamed reply whose text is ``content`` (no native tool_calls)."""
    parts = [{"model": "x", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": p},
              "done": False} for p in (content[i:i + 7] for i in range(0, len(content), 7))]
    parts.append({"model": "x", "created_at": "2025-01-01T00:00:00Z", "message": {"role": "assistant", "content": ""},
                  "done": True, "done_reason": "stop", "prompt_eval_count": 9, "eval_count": 5})
    return b"".join(json.dumps(p).encode() + b"\n" for p in parts)


def standin(loopback_server, wire: str, replies: list[str], seen: list[dict]) -> str:
    """A loopback server of ``wire`` ("openai" or "ollama") answering each chat with the next reply."""
    def answer(method, path, headers, body):
        if method == "POST" and path.endswith(("/chat/completions", "/api/chat")):
            seen.append(json.loads(body))
            text = replies.pop(0) if replies else "TERMINATE"
            if wire == "openai":
                return 200, "text/event-stream", sse_reply(text)
            return 200, "application/x-ndjson", ndjson_reply(text)
        return 404, "application/json", b'{"error": "not found"}'
    return loopback_server(answer)


def backend_for(wire: str, url: str, **fields):
    config = scripted_models({"m": {"backend": wire, "model": "x", "base_url": url, **fields}}, source="test").get("m")
    return (OpenAIBackend if wire == "openai" else OllamaBackend)(config)


@pytest.fixture
def agents_on():
    """``agents_on(wire, url)``: a user proxy and an assistant on model "m" of that backend, with a
    ``get_weather`` tool the proxy runs; the model registry is restored afterwards."""
    saved = models_module._registry

    def make(wire: str, url: str):
        use_models(scripted_models({"m": {"backend": wire, "model": "x", "base_url": url}}, source="test"))
        user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False, default_auto_reply="")
        asst = AssistantAgent("asst", llm_config="m")

        def get_weather(city: str) -> str:
            return f"sunny in {city}"

        register_function(get_weather, caller=asst, executor=user, description="The weather in a city.")
        return user, asst

    yield make
    models_module._registry = saved


@pytest.mark.parametrize("wire, content", [
    ("openai", 'Let me check.\n<tool_call>\n{"name": "functions.get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}\n</tool_call>'),
    ("ollama", '```json\n{"name": "get_weather", "arguments": {"name": "get_weather", "arguments": {"city": "Rome"}}}\n```'),
])
async def test_the_agent_gets_a_real_call_from_a_text_call(loopback_server, agents_on, wire, content):
    seen: list[dict] = []
    user, asst = agents_on(wire, standin(loopback_server, wire, [content], seen))
    events = [e async for e in user.run_stream(asst, message="Weather in Rome?")]
    assert [(e.name, json.loads(e.arguments)) for e in events if isinstance(e, ToolCallRequested)] == \
        [("get_weather", {"city": "Rome"})]
    assert [(r.content, r.is_error) for r in events if isinstance(r, ToolResult)] == [("sunny in Rome", False)]
    history = user.chat_messages[asst]
    assert history[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert (history[1]["content"] or "") == ("Let me check." if wire == "openai" else "")
    # The next request carried the call as a real call and its result as a tool message.
    assert len(seen) == 2 and any(m.get("role") == "tool" for m in seen[1]["messages"])
    assert events[-1].condition == "is_termination_msg"


@pytest.mark.parametrize("wire", ["openai", "ollama"])
async def test_a_broken_text_call_is_a_notice_and_the_text_stays(loopback_server, agents_on, wire):
    broken = '<tool_call>{"name": "get_stock", "arguments": {"sym": "X"}}</tool_call>'
    seen: list[dict] = []
    user, asst = agents_on(wire, standin(loopback_server, wire, [broken, broken], seen))
    events = [e async for e in user.run_stream(asst, message="Stock?", max_turns=1)]
    notices = [e for e in events if isinstance(e, NoticeEvent) and e.kind == "tool_call"]
    assert len(notices) == 2 and "no tool 'get_stock'" in notices[0].text and "get_weather" in notices[0].text
    assert not [e for e in events if isinstance(e, ToolCallRequested)]
    assert user.chat_messages[asst][1]["content"] == broken
    # The model was told what was wrong before its second try (in that request only).
    told = seen[1]["messages"][-1]["content"]
    assert "Your tool call could not be used" in told and "get_stock" in told


@pytest.mark.parametrize("wire", ["openai", "ollama"])
async def test_a_model_told_its_call_was_broken_can_fix_it(loopback_server, agents_on, wire):
    broken = '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"</tool_call>'
    fixed = '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>'
    seen: list[dict] = []
    user, asst = agents_on(wire, standin(loopback_server, wire, [broken, fixed], seen))
    events = [e async for e in user.run_stream(asst, message="Weather in Rome?", max_turns=2)]
    assert [json.loads(e.arguments) for e in events if isinstance(e, ToolCallRequested)] == [{"city": "Rome"}]
    assert "Your tool call could not be used" in seen[1]["messages"][-1]["content"]
    # The correction is not part of the stored conversation: the next request has no trace of it.
    assert not any("could not be used" in str(m.get("content")) for m in seen[2]["messages"])


@pytest.mark.parametrize("wire", ["openai", "ollama"])
async def test_backends_leave_text_alone_without_tools_or_in_native_mode(loopback_server, wire):
    text = '<tool_call>{"name": "get_time", "arguments": {}}</tool_call>'
    url = standin(loopback_server, wire, [text, text, text, text], [])
    for backend, tools in [(backend_for(wire, url), ()), (backend_for(wire, url, tool_call_mode="native"), TOOLS)]:
        items = [i async for i in backend.stream([ChatMessage("user", "hi")], tools=tools)]
        done = items[-1]
        assert isinstance(done, Completion) and done.content == text and done.tool_calls == ()
        assert not [i for i in items if isinstance(i, Notice)]
        await backend.aclose()
    backend = backend_for(wire, url, tool_call_mode="text")
    done = await backend.complete([ChatMessage("user", "hi")], tools=TOOLS)
    assert [c.name for c in done.tool_calls] == ["get_time"] and done.finish_reason == "tool_calls"
    assert done.content == ""
    await backend.aclose()
