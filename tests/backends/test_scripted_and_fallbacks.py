"""The scripted backend, and the retries and fallbacks every model gets through ModelRegistry."""

from __future__ import annotations

import json

import pytest

from moot.backends import (
    BackendUnavailable,
    BadResponse,
    ChatMessage,
    Completion,
    ConfigError,
    Delta,
    ModelRegistry,
    Notice,
    ToolSpec,
    parse_models,
)
from tests.conftest import free_port

SCRIPTED = """
schema_version = 1
[[models]]
name = "s"
backend = "scripted"
replies = [
  "first reply, long enough to come in several chunks",
  { content = "", tool_calls = [{ name = "add", arguments = { a = 1, b = 2 } }] },
  { content = "broken", tool_calls = [{ name = "add", arguments = "{'a': 1," }] },
  "coder",
]
"""

HI = [ChatMessage("user", "hi")]
ADD = ToolSpec("add", "Add two numbers.", {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}})


async def collect(stream):
    items = [item async for item in stream]
    return [i for i in items if isinstance(i, Delta)], [i for i in items if isinstance(i, Notice)], items[-1]


async def test_scripted_serves_replies_in_order_across_callers_and_wraps_around():
    registry = ModelRegistry(parse_models(SCRIPTED, "test"))
    one, two = registry.client("s"), registry.client("s")  # two agents, one model
    deltas, _, done = await collect(one.stream(HI))
    assert len(deltas) > 3 and "".join(d.content for d in deltas) == done.content == "first reply, long enough to come in several chunks"
    done = await two.complete(HI, tools=[ADD])
    assert done.finish_reason == "tool_calls" and json.loads(done.tool_calls[0].arguments) == {"a": 1, "b": 2}
    done = await one.complete(HI, tools=[ADD])
    assert done.tool_calls[0].arguments == "{'a': 1,"  # broken JSON is served as written
    with pytest.raises(ValueError, match="not valid JSON"):
        done.tool_calls[0].parsed_arguments()
    done = await two.complete(HI, choices=["planner", "coder"])
    assert done.content == "coder"
    assert (await one.complete(HI)).content.startswith("first reply")  # round again


async def test_scripted_reply_that_is_no_choice_is_a_bad_response():
    registry = ModelRegistry(parse_models(SCRIPTED, "test"))
    with pytest.raises(BadResponse, match="none of the allowed choices"):
        await registry.backend("s").complete(HI, choices=["planner", "critic"])


async def test_scripted_tool_call_to_a_tool_not_offered_is_reported():
    registry = ModelRegistry(parse_models(SCRIPTED, "test"))
    backend = registry.backend("s")
    await backend.complete(HI)
    with pytest.raises(BadResponse, match="calls tool 'add', which was not offered"):
        await backend.complete(HI, tools=[ToolSpec("other", "x")])


async def test_script_file_and_its_errors(tmp_path):
    (tmp_path / "ok.jsonl").write_text('"one"\n\n{"content": "two", "tool_calls": [{"name": "add", "arguments": {"a": 1}}]}\n')
    (tmp_path / "bad.jsonl").write_text('"one"\n{not json}\n{"content": 3}\n')
    text = f"""
schema_version = 1
[[models]]
name = "ok"
backend = "scripted"
script = "ok.jsonl"
[[models]]
name = "bad"
backend = "scripted"
script = "bad.jsonl"
"""
    registry = ModelRegistry(parse_models(text, "test", base_dir=tmp_path))
    ok = registry.backend("ok")
    assert (await ok.complete(HI)).content == "one"
    assert (await ok.complete(HI)).tool_calls[0].name == "add"
    with pytest.raises(ConfigError) as info:
        registry.backend("bad")
    assert len(info.value.problems) == 2
    assert info.value.problems[0].startswith(f"{tmp_path / 'bad.jsonl'}:2: not a scripted reply")
    assert info.value.problems[1].startswith(f"{tmp_path / 'bad.jsonl'}:3: not a scripted reply")


def _down_then(fallback: str) -> str:
    port = free_port()  # nothing listens there: a real refused connection
    return f"""
schema_version = 1
[[models]]
name = "remote"
backend = "openai"
model = "gpt"
base_url = "http://127.0.0.1:{port}"
timeout_s = 5
fallbacks = [{fallback}]
[[models]]
name = "s"
backend = "scripted"
replies = ["from the fallback"]
"""


async def test_transient_failures_retry_then_fall_back_with_a_notice():
    registry = ModelRegistry(parse_models(_down_then('"s"'), "test"), retry_delays=(0.01, 0.01))
    _, notices, done = await collect(registry.client("remote").stream(HI))
    assert isinstance(done, Completion) and done.content == "from the fallback" and done.model == "s"
    assert [n.kind for n in notices] == ["retry", "retry", "fallback"]
    assert "falling back to 's'" in notices[-1].text and "127.0.0.1" in notices[-1].text


async def test_without_fallbacks_the_typed_error_reaches_the_caller():
    registry = ModelRegistry(parse_models(_down_then(""), "test"), retry_delays=(0.01,))
    with pytest.raises(BackendUnavailable, match="127.0.0.1"):
        await registry.client("remote").complete(HI)


async def test_unusable_primary_falls_back(monkeypatch):
    monkeypatch.delenv("MOOT_NOT_SET", raising=False)
    text = """
schema_version = 1
[[models]]
name = "keyed"
backend = "openai"
model = "gpt"
api_key_env = "MOOT_NOT_SET"
fallbacks = ["s"]
[[models]]
name = "s"
backend = "scripted"
replies = ["fine"]
"""
    registry = ModelRegistry(parse_models(text, "test"))
    _, notices, done = await collect(registry.client("keyed").stream(HI))
    assert done.content == "fine"
    assert "MOOT_NOT_SET is not set" in notices[0].text
