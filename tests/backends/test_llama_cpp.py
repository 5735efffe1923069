"""The llama_cpp backend on the real bundled model (SmolLM2-135M-Instruct through llama.cpp).

The model is tiny: these tests assert shapes, constraints and accounting, never reply quality.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from moot.backends import (
    BackendUnavailable,
    ChatMessage,
    Completion,
    ConfigError,
    ContextOverflow,
    Delta,
    ModelRegistry,
    ToolSpec,
    parse_models,
)

pytestmark = pytest.mark.model

CONFIG = """
schema_version = 1
[[models]]
name = "small"
backend = "llama_cpp"
model_path = "bundled:smollm2"
context_length = 2048
max_output_tokens = 64
temperature = 0.8
[[models]]
name = "small-cold"          # the same file as a plain shared Llama: no kept states, prompt as given
backend = "llama_cpp"
model_path = "bundled:smollm2"
context_length = 2048
options = { kv_reuse = false, prompt_layout = "as_given" }
[[models]]
name = "small-states"        # kept per-agent states only, prompt as given
backend = "llama_cpp"
model_path = "bundled:smollm2"
context_length = 2048
options = { prompt_layout = "as_given" }
[[models]]
name = "native-tools"        # a chat format whose handler returns real tool_calls
backend = "llama_cpp"
model_path = "bundled:smollm2"
context_length = 2048
options = { chat_format = "chatml-function-calling" }
[[models]]
name = "tiny-context"
backend = "llama_cpp"
model_path = "bundled:smollm2"
context_length = 256
[[models]]
name = "missing"
backend = "llama_cpp"
model_path = "/nonexistent/model.gguf"
"""


@pytest.fixture(scope="module")
def registry():
    return ModelRegistry(parse_models(CONFIG, "test"), retry_delays=())


@pytest.fixture(scope="module")
def small(registry):
    return registry.backend("small")


USER = [ChatMessage("system", "You are a helpful assistant."), ChatMessage("user", "Name three colours.")]


async def test_completion_and_usage(small):
    done = await small.complete(USER)
    assert isinstance(done, Completion)
    assert done.content.strip()
    assert done.finish_reason in ("stop", "length")
    assert done.usage.prompt_tokens > 10 and done.usage.completion_tokens > 0


async def test_streaming_deltas_add_up_to_the_completion(small):
    deltas, done = [], None
    async for item in small.stream(USER, max_tokens=40):
        if isinstance(item, Delta):
            deltas.append(item.content)
        elif isinstance(item, Completion):
            done = item
    assert len(deltas) >= 3
    assert done is not None and "".join(deltas) == done.content


async def _tokens_after_cancel(small):
    # The model's thread runs calls in order: this runs once the cancelled generation has stopped.
    return await small._run(lambda: small.loaded.llm.n_tokens)


async def test_cancel_mid_stream_stops_generation(small):
    long_ask = [ChatMessage("user", "Write a very long story about a dragon, at least 500 words.")]
    stream = small.stream(long_ask, max_tokens=600, temperature=0.9)
    seen = 0
    async for item in stream:
        if isinstance(item, Delta):
            seen += 1
            if seen == 3:
                break
    await stream.aclose()
    n_tokens = await _tokens_after_cancel(small)
    prompt = small.count_tokens(long_ask) + 10
    assert n_tokens < prompt + 60, f"generation went on after the stream was closed ({n_tokens} tokens in context)"
    # The shared model is free again for the next caller.
    assert (await small.complete(USER, max_tokens=8)).content


async def test_cancelling_the_consuming_task_stops_generation(small):
    started = asyncio.Event()

    async def consume():
        async for item in small.stream([ChatMessage("user", "Count from one to five hundred in words.")], max_tokens=600):
            if isinstance(item, Delta):
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    n_tokens = await _tokens_after_cancel(small)
    assert n_tokens < 200


async def test_choices_are_always_one_of_the_options_over_50_calls(small):
    names = ["planner", "coder", "reviewer", "user_proxy", "critic"]
    topics = ["a bug in the parser", "the next step", "tests", "a plan", "deployment", "a review", "docs", "speed"]
    for i in range(50):
        options = names[: 2 + i % 4]
        msgs = [ChatMessage("system", f"Pick who speaks next among: {', '.join(options)}."),
                ChatMessage("user", f"We are discussing {topics[i % len(topics)]}. Who should speak next? ({i})")]
        done = await small.complete(msgs, choices=options, temperature=1.0)
        assert done.content in options, done.content
        assert done.parsed == done.content


async def test_json_schema_output(small):
    schema = {
        "type": "object",
        "properties": {"colour": {"enum": ["red", "green", "blue"]}, "count": {"type": "integer"}},
        "required": ["colour", "count"],
    }
    for _ in range(3):
        done = await small.complete(USER, response_format=schema)
        assert done.parsed["colour"] in ("red", "green", "blue")
        assert isinstance(done.parsed["count"], int)
        assert json.loads(done.content) == done.parsed


WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string", "maxLength": 24}}, "required": ["city"]},
)
TIME = ToolSpec("get_time", "Get the time in a timezone.", {"type": "object", "properties": {"tz": {"enum": ["UTC", "CET"]}}, "required": ["tz"]})


async def test_forced_tool_call(small):
    done = await small.complete([ChatMessage("user", "What is the weather in Paris?")], tools=[WEATHER, TIME], tool_choice="required")
    assert done.finish_reason == "tool_calls" and len(done.tool_calls) == 1
    call = done.tool_calls[0]
    assert call.name in ("get_weather", "get_time")
    args = call.parsed_arguments()
    assert ("city" in args) if call.name == "get_weather" else args["tz"] in ("UTC", "CET")


async def test_named_tool_choice_and_tool_result_round_trip(small):
    ask = [ChatMessage("user", "What is the weather in Oslo?")]
    done = await small.complete(ask, tools=[WEATHER, TIME], tool_choice="get_weather")
    call = done.tool_calls[0]
    assert call.name == "get_weather" and isinstance(call.parsed_arguments()["city"], str)
    follow = ask + [done.to_message(), ChatMessage("tool", "Sunny, 21 C", tool_call_id=call.id)]
    reply = await small.complete(follow, tools=[WEATHER, TIME], max_tokens=40)
    # With tools offered in auto mode the reply is either text or another well-formed call.
    assert reply.content.strip() or reply.tool_calls
    for c in reply.tool_calls:
        assert c.name in ("get_weather", "get_time")
        c.parsed_arguments()


async def test_native_tool_calls_with_a_tool_calling_chat_format(registry):
    native = registry.backend("native-tools")
    assert native.native_tools
    done = await native.complete([ChatMessage("user", "What is the weather in Rome?")], tools=[WEATHER, TIME],
                                 tool_choice="get_weather")
    assert done.finish_reason == "tool_calls" and len(done.tool_calls) == 1  # streamed pieces joined into one call
    call = done.tool_calls[0]
    assert call.name == "get_weather" and isinstance(call.parsed_arguments()["city"], str)
    assert done.usage.completion_tokens > 0


async def test_kv_reuse_evaluates_fewer_prompt_tokens_than_a_cold_run(registry):
    transcript = [ChatMessage("user", "We must write a function that parses dates in many formats. " * 12)]
    sys_a = ChatMessage("system", "You are the planner. You break work into small steps.")
    sys_b = ChatMessage("system", "You are the coder. You write Python and nothing else.")

    async def three_turns(backend):
        history = list(transcript)
        usages = []
        for system in (sys_a, sys_b, sys_a):
            done = await backend.complete([system, *history], max_tokens=12, temperature=0.0)
            usages.append(done.usage)
            history.append(ChatMessage("user", done.content or "ok"))
        return usages

    cold = await three_turns(registry.backend("small-cold"))
    states = await three_turns(registry.backend("small-states"))
    shared = await three_turns(registry.backend("small"))
    # Plain shared instance: every agent's own system prompt breaks the prefix, so each turn
    # re-reads the whole transcript.
    assert all(u.evaluated_prompt_tokens > 0.8 * u.prompt_tokens for u in cold[1:])
    # Kept states: turn 3 is agent A again after B spoke; A's state is restored, not re-read.
    assert states[1].evaluated_prompt_tokens > 0.8 * states[1].prompt_tokens  # B's first turn
    assert states[2].evaluated_prompt_tokens < 0.25 * states[2].prompt_tokens
    assert states[2].evaluated_prompt_tokens < cold[2].evaluated_prompt_tokens
    assert states[2].cached_tokens > 100
    # Shared-prefix layout (the default): even B's first turn reuses the transcript A read.
    assert all(u.evaluated_prompt_tokens < 0.35 * u.prompt_tokens for u in shared[1:])


async def test_context_overflow_is_a_typed_error(registry):
    with pytest.raises(ContextOverflow, match="context"):
        await registry.backend("tiny-context").complete([ChatMessage("user", "word " * 400)])


async def test_missing_model_file_is_a_config_error(registry):
    with pytest.raises(ConfigError, match="model 'missing': field 'model_path': no such file"):
        registry.backend("missing")


async def test_load_and_status_through_the_interface(registry, tmp_path):
    client = registry.client("small")  # a wrapper: load() and status() are its primary's
    await client.load()
    assert registry.status("small").state == client.status().state == "loaded"
    assert registry.status("missing").state == "failed"
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"this is not a GGUF file\n" * 64)
    other = ModelRegistry(parse_models(f'schema_version = 1\n[[models]]\nname = "b"\nbackend = "llama_cpp"\n'
                                       f'model_path = "{broken}"\n', "test"), retry_delays=())
    backend = other.backend("b")
    assert other.status("b").state == "ready"  # made, not loaded
    with pytest.raises(BackendUnavailable, match="cannot load"):
        await backend.load()
    status = other.status("b")
    assert status.state == "failed" and "failed to load" in status.detail and not status.ok


async def test_choices_reject_an_empty_list(small):
    with pytest.raises(ValueError, match="at least one"):
        await small.complete(USER, choices=[])


def test_match_choice_maps_loose_replies_to_a_choice():
    from moot.backends import match_choice

    assert match_choice('"Coder".', ["coder", "planner"]) == "coder"
    assert match_choice("I think the planner should go", ["coder", "planner"]) == "planner"
    assert match_choice("nobody", ["coder", "planner"]) is None
