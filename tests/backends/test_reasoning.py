"""Reasoning as its own stream: ``<think>`` text and the servers' reasoning fields become
``Thought`` items, never part of ``Completion.content``, counted as reasoning tokens; the
models.toml ``think`` switch reaches each server's request.

The bundled model does not reason, so the backends are fed RECORDED PAYLOADS: the wire shapes
reasoning models send (DeepSeek/Qwen3 through vLLM and llama.cpp's server as OpenAI SSE with
``reasoning_content``; Ollama NDJSON with ``message.thinking``; Anthropic SSE with thinking blocks;
llama-cpp-python chunks with ``<think>`` in the text), served by loopback STAND-INS or a mock
transport in front of the real clients. The Ollama protocol stand-in (the real bundled model behind
Ollama's wire format) streams a fixed line of thinking when asked ``think: true``; the real
``python -m llama_cpp.server`` takes the ``enable_thinking`` switch.
"""

from __future__ import annotations

import json

import httpx
import httpx2
import pytest

from moot.backends import ChatMessage, Completion, ConfigError, Delta, Thought, ToolCall, ToolSpec, parse_models
from moot.backends._reasoning import ReasoningSplitter, split_reasoning
from moot.backends.anthropic import AnthropicBackend
from moot.backends.llama_cpp import LlamaCppBackend
from moot.backends.ollama import OllamaBackend
from moot.backends.openai import OpenAIBackend

THINK = "The user asks for 2+2. That is 4."
ANSWER = "The answer is 4."
REPLY = f"<think>{THINK}</think>\n\n{ANSWER}"


def split_stream(pieces: list[str]) -> tuple[list[tuple[str, str]], str, str]:
    s = ReasoningSplitter()
    items = [item for p in pieces for item in s.feed(p)] + s.flush()
    return [(type(i).__name__, i.content) for i in items], s.reply, s.reasoning


def joined(items, kind) -> str:
    return "".join(text for k, text in items if k == kind)


# -- the splitter ---------------------------------------------------------------------------------

def test_tags_cut_at_every_point_still_split():
    for cut in range(len(REPLY) + 1):
        for second in range(cut, len(REPLY) + 1):
            items, reply, reasoning = split_stream([REPLY[:cut], REPLY[cut:second], REPLY[second:]])
            assert (reply, reasoning) == (ANSWER, THINK), (cut, second)
            assert joined(items, "Thought") == THINK and joined(items, "Delta") == ANSWER


def test_one_character_at_a_time():
    items, reply, reasoning = split_stream(list(REPLY))
    assert joined(items, "Thought") == THINK and joined(items, "Delta") == ANSWER
    assert (reply, reasoning) == (ANSWER, THINK)


def test_a_reply_that_opens_think_and_never_closes_it_is_all_thought():
    items, reply, reasoning = split_stream(["  <thi", "nk>I am still thinking about", " it </thi"])
    assert reply == "" and reasoning == "I am still thinking about it </thi"
    assert all(k == "Thought" for k, _ in items)


def test_no_think_passes_through_unchanged_and_at_once():
    s = ReasoningSplitter()
    assert s.feed("Hello") == [Delta("Hello")]  # nothing held back
    assert s.feed(" <think>not a block</think>") == [Delta(" <think>not a block</think>")]
    assert s.flush() == [] and s.reply == "Hello <think>not a block</think>" and s.reasoning == ""
    assert split_stream(["  <", "b>bold</b>"])[1] == "  <b>bold</b>"  # a '<' that is no tag
    assert split_stream(["<thin"])[1] == "<thin"  # an opening cut short by the end: text after all


def test_several_blocks_and_a_block_the_template_opened():
    assert split_reasoning("<think>a</think>\n<think>b</think>\n\nc") == ("c", "ab")
    # Qwen3-Thinking / DeepSeek-R1-0528 templates open the block in the prompt: only its end arrives.
    assert split_reasoning(f"{THINK}</think>\n\n{ANSWER}") == (ANSWER, THINK)


# -- the think switch in models.toml ---------------------------------------------------------------

def test_think_is_validated_naming_file_entry_and_field():
    with pytest.raises(ConfigError) as info:
        parse_models('schema_version = 1\n[[models]]\nname = "q"\nbackend = "ollama"\nmodel = "x"\nthink = "no"\n'
                     '[[models]]\nname = "l"\nbackend = "llama_cpp"\nmodel_path = "m.gguf"\nthink = false\n', "m.toml")
    problems = info.value.problems
    assert any(p.startswith("m.toml: [[models]] entry 1 ('q'): field 'think': ") and "boolean" in p for p in problems)
    assert any(p.startswith("m.toml: [[models]] entry 2 ('l'): field 'think': only for backends") for p in problems)


# -- openai (loopback stand-in speaking recorded SSE) ----------------------------------------------

def sse(*chunks: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None) -> dict:
    out: dict = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1764000000, "model": "qwen3",
                 "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        out["usage"] = usage
    return out


# Recorded shape: vLLM serving Qwen3 with --reasoning-parser (reasoning_content deltas, then content;
# usage with completion_tokens_details.reasoning_tokens).
VLLM_REASONING = sse(
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning_content": "The user asks for 2+2."}),
    chunk({"reasoning_content": " That is 4."}),
    chunk({"content": "The answer"}), chunk({"content": " is 4."}),
    chunk({}, "stop"),
    chunk(None, usage={"prompt_tokens": 12, "completion_tokens": 20, "total_tokens": 32,
                       "completion_tokens_details": {"reasoning_tokens": 11}}),
)
# Recorded shape: llama.cpp's server with --reasoning-format none (the <think> block in the content,
# its tags cut across chunks); no usage chunk.
THINK_IN_CONTENT = sse(
    chunk({"role": "assistant", "content": ""}),
    *(chunk({"content": REPLY[i:i + 5]}) for i in range(0, len(REPLY), 5)),
    chunk({}, "stop"),
)


@pytest.fixture
def openai_standin(loopback_server):
    """``openai_standin(body)``: a STAND-IN answering every chat with the recorded SSE ``body``;
    returns (url, the request bodies it got)."""
    def start(body: bytes):
        seen: list[dict] = []

        def answer(method, path, headers, data):
            if path.endswith("/chat/completions"):
                seen.append(json.loads(data))
                return 200, "text/event-stream", body
            return 404, "application/json", b"{}"
        return loopback_server(answer), seen
    return start


async def items_of(backend, messages=None, **kwargs) -> tuple[list, Completion]:
    items = [i async for i in backend.stream(messages or [ChatMessage("user", "What is 2+2?")], **kwargs)]
    await backend.aclose()
    assert isinstance(items[-1], Completion)
    return items[:-1], items[-1]


async def test_openai_reasoning_content_is_a_thought_and_counted_by_the_server(make_config, openai_standin):
    url, seen = openai_standin(VLLM_REASONING)
    items, done = await items_of(OpenAIBackend(make_config(backend="openai", model="qwen3", base_url=url)))
    assert "".join(i.content for i in items if isinstance(i, Thought)) == THINK
    assert "".join(i.content for i in items if isinstance(i, Delta)) == ANSWER == done.content
    assert done.usage.reasoning_tokens == 11 and done.usage.completion_tokens == 20
    assert "chat_template_kwargs" not in seen[0]  # think unset: the server's default


async def test_openai_think_tags_in_content_are_split_and_estimated(make_config, openai_standin):
    url, _ = openai_standin(THINK_IN_CONTENT)
    items, done = await items_of(OpenAIBackend(make_config(backend="openai", model="qwen3", base_url=url)))
    assert "".join(i.content for i in items if isinstance(i, Thought)) == THINK
    assert done.content == ANSWER and "<think>" not in done.content
    assert 0 < done.usage.reasoning_tokens <= done.usage.completion_tokens


async def test_openai_choices_keep_reasoning_out_of_the_choice(make_config, openai_standin):
    url, _ = openai_standin(sse(chunk({"content": "<think>coder or reviewer?</think>"}),
                                chunk({"content": '{"choice": "reviewer"}'}), chunk({}, "stop")))
    b = OpenAIBackend(make_config(backend="openai", model="qwen3", base_url=url))
    items, done = await items_of(b, choices=["coder", "reviewer"])
    assert done.content == "reviewer" and [i.content for i in items if isinstance(i, Thought)] == ["coder or reviewer?"]


@pytest.mark.parametrize("think", [False, True])
async def test_openai_think_switch_is_sent_as_chat_template_kwargs(make_config, openai_standin, think):
    url, seen = openai_standin(VLLM_REASONING)
    b = OpenAIBackend(make_config(backend="openai", model="qwen3", base_url=url, think=think,
                                  options={"chat_template_kwargs": {"custom": 1}}))
    await items_of(b)
    assert seen[0]["chat_template_kwargs"] == {"enable_thinking": think, "custom": 1}


async def test_openai_think_false_reaches_a_real_llama_cpp_server(make_config, llama_server):
    # python -m llama_cpp.server takes the field (its template decides what to do with it).
    b = OpenAIBackend(make_config(backend="openai", model="m", base_url=llama_server, think=False, max_output_tokens=8))
    items, done = await items_of(b)
    assert done.content.strip() and "<think>" not in done.content and done.usage.reasoning_tokens == 0


# -- ollama ----------------------------------------------------------------------------------------

def ndjson(*parts: dict) -> bytes:
    return b"".join(json.dumps({"model": "qwen3", "created_at": "2026-01-01T00:00:00Z", **p}).encode() + b"\n"
                    for p in parts)


def ollama_on(make_config, body: bytes, seen: list, **fields) -> OllamaBackend:
    """An OllamaBackend whose HTTP goes to a mock transport serving the recorded ``body``."""
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/show":  # recorded shape of /api/show for qwen3
            return httpx.Response(200, json={"model_info": {"general.architecture": "qwen3", "qwen3.context_length": 40960},
                                             "capabilities": ["completion", "thinking"]})
        seen.append(json.loads(request.content))
        return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})
    return OllamaBackend(make_config(backend="ollama", model="qwen3", **fields), transport=httpx.MockTransport(answer))


# Recorded shape: Ollama 0.9+ with a thinking model, message.thinking then message.content.
OLLAMA_THINKING = ndjson(
    {"message": {"role": "assistant", "content": "", "thinking": "The user asks for 2+2."}, "done": False},
    {"message": {"role": "assistant", "content": "", "thinking": " That is 4."}, "done": False},
    {"message": {"role": "assistant", "content": "The answer is 4."}, "done": False},
    {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
     "prompt_eval_count": 12, "eval_count": 20},
)
# Recorded shape: an older Ollama (or think unset on a raw template): <think> in the content.
OLLAMA_THINK_TAGS = ndjson(
    *({"message": {"role": "assistant", "content": REPLY[i:i + 4]}, "done": False} for i in range(0, len(REPLY), 4)),
    {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
     "prompt_eval_count": 12, "eval_count": 20},
)


@pytest.mark.parametrize("body", [OLLAMA_THINKING, OLLAMA_THINK_TAGS], ids=["thinking field", "think tags"])
async def test_ollama_thinking_is_a_thought_never_the_reply(make_config, body):
    seen: list = []
    items, done = await items_of(ollama_on(make_config, body, seen))
    assert "".join(i.content for i in items if isinstance(i, Thought)) == THINK
    assert "".join(i.content for i in items if isinstance(i, Delta)) == ANSWER == done.content
    assert 0 < done.usage.reasoning_tokens < done.usage.completion_tokens == 20
    assert "think" not in seen[0]  # unset: Ollama's default


async def test_ollama_standin_streams_thinking_when_think_is_sent(make_config, ollama_standin):
    b = OllamaBackend(make_config(backend="ollama", model="smollm2:135m", base_url=ollama_standin,
                                  max_output_tokens=12, context_length=2048, think=True))
    items, done = await items_of(b, [ChatMessage("user", "Say hi.")])
    thought = "".join(i.content for i in items if isinstance(i, Thought))
    assert thought.strip() == "The user wants a short answer; I will keep it brief."
    assert done.content.strip() and thought.strip() not in done.content
    sent = [r["body"] for r in httpx.get(f"{ollama_standin}/_standin/requests").json() if r["path"] == "/api/chat"]
    assert sent[-1]["think"] is True


async def test_ollama_think_false_is_sent(make_config):
    seen: list = []
    await items_of(ollama_on(make_config, OLLAMA_THINK_TAGS, seen, think=False))
    assert seen[0]["think"] is False


# -- anthropic (recorded SSE through a mock transport) ---------------------------------------------

def anthropic_sse(*events: dict) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


# Recorded shape: the Messages API with extended thinking (a thinking block, its signature, then text).
ANTHROPIC_THINKING = anthropic_sse(
    {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                                          "content": [], "stop_reason": None, "stop_sequence": None,
                                          "usage": {"input_tokens": 20, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "The user asks for 2+2."}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": " That is 4."}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "The answer is 4."}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 40}},
    {"type": "message_stop"},
)


def anthropic_on(make_config, monkeypatch, seen: list, **fields) -> AnthropicBackend:
    monkeypatch.setenv("MOOT_TEST_ANTHROPIC_KEY", "sk-ant-FAKE-moot-reasoning-test")

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, content=ANTHROPIC_THINKING, headers={"content-type": "text/event-stream"})
    config = make_config(backend="anthropic", model="claude-sonnet-4-5", api_key_env="MOOT_TEST_ANTHROPIC_KEY",
                         max_output_tokens=300, **fields)
    return AnthropicBackend(config, http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(answer)))


async def test_anthropic_thinking_blocks_are_thoughts_and_think_true_enables_them(make_config, monkeypatch):
    seen: list = []
    items, done = await items_of(anthropic_on(make_config, monkeypatch, seen, think=True))
    assert "".join(i.content for i in items if isinstance(i, Thought)) == THINK
    assert done.content == ANSWER and 0 < done.usage.reasoning_tokens < 40
    assert seen[0]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert seen[0]["max_tokens"] == 300 + 1024  # the reply keeps its own allowance


async def test_anthropic_thinking_only_when_asked_and_never_on_a_tool_turn(make_config, monkeypatch):
    seen: list = []
    await items_of(anthropic_on(make_config, monkeypatch, seen))
    assert "thinking" not in seen[-1] and seen[-1]["max_tokens"] == 300
    await items_of(anthropic_on(make_config, monkeypatch, seen, think=False))
    assert seen[-1]["thinking"] == {"type": "disabled"}
    tool_turn = [ChatMessage("user", "Weather?"),
                 ChatMessage("assistant", None, tool_calls=(ToolCall("toolu_1", "get_weather", '{"city": "Paris"}'),)),
                 ChatMessage("tool", "sunny", tool_call_id="toolu_1")]
    weather = ToolSpec("get_weather", "Weather.", {"type": "object", "properties": {"city": {"type": "string"}}})
    await items_of(anthropic_on(make_config, monkeypatch, seen, think=True), tool_turn, tools=[weather])
    assert "thinking" not in seen[-1]  # the thinking of that turn would have to go back, signed: it never does


# -- llama_cpp (recorded llama-cpp-python chunks through a stand-in for the Llama object) ---------

class RecordedLlama:
    """STAND-IN for a loaded ``llama_cpp.Llama`` that replays the chunks a reasoning GGUF (Qwen3)
    streamed from ``create_chat_completion``; the bundled model does not reason."""

    n_tokens = 0

    def __init__(self, text: str):
        self.text = text

    def create_chat_completion(self, stream=True, **kwargs):
        yield {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}
        for i in range(0, len(self.text), 3):
            yield {"choices": [{"index": 0, "delta": {"content": self.text[i:i + 3]}, "finish_reason": None}]}
        yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}

    def tokenize(self, data: bytes, add_bos=False, special=False):
        return data.split()


async def test_llama_cpp_think_text_is_a_thought_never_the_reply(make_config, tmp_path):
    model = tmp_path / "qwen3-recorded.gguf"
    model.write_bytes(b"GGUF")
    b = LlamaCppBackend(make_config(backend="llama_cpp", model_path=str(model)))
    b.loaded.llm = RecordedLlama(REPLY)  # loaded already: nothing is read from the file
    items, done = await items_of(b)
    assert "".join(i.content for i in items if isinstance(i, Thought)) == THINK
    assert "".join(i.content for i in items if isinstance(i, Delta)) == ANSWER == done.content
    assert done.usage.reasoning_tokens == len(THINK.split())
