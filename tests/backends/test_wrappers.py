"""Retries, fallbacks and request defaults are Backends themselves, run by one loop; load(),
status() and seek() answer through the interface. On real parts: scripted models, a real refused
connection (a loopback port nothing listens on), a real OpenAI backend without its key."""

from __future__ import annotations

import sys

import pytest

from moot.backends import (
    AuthError,
    Backend,
    BackendStatus,
    BackendUnavailable,
    BadResponse,
    ChatMessage,
    ConfigError,
    DefaultsBackend,
    Delta,
    FallbackBackend,
    ModelRegistry,
    ModelRequest,
    Notice,
    RetryingBackend,
    RetryPolicy,
    ToolSpec,
    backend_class,
    parse_models,
)
from moot.backends.scripted import ScriptedBackend
from tests.conftest import free_port

HI = [ChatMessage("user", "hi")]
FAST = RetryPolicy((0.01, 0.01))


def models(**extra: str) -> ModelRegistry:
    port = free_port()  # nothing listens there
    text = f"""
schema_version = 1
[[models]]
name = "down"
backend = "openai"
model = "gpt"
base_url = "http://127.0.0.1:{port}"
timeout_s = 5
[[models]]
name = "down2"
backend = "ollama"
model = "m"
base_url = "http://127.0.0.1:{port}"
timeout_s = 5
[[models]]
name = "s"
backend = "scripted"
replies = ["from s, long enough for a few chunks"]
[[models]]
name = "t"
backend = "scripted"
replies = ["from t"]
""" + "".join(extra.values())
    return ModelRegistry(parse_models(text, "test"), retry_delays=())


async def items_of(stream) -> tuple[list[Delta], list[Notice], object]:
    items = [item async for item in stream]
    return [i for i in items if type(i) is Delta], [i for i in items if type(i) is Notice], items[-1]


async def test_retries_come_first_then_the_fallbacks_in_order():
    reg = models()
    chain = FallbackBackend([RetryingBackend(reg.backend("down"), FAST), reg.backend("down2"), reg.backend("s")])
    deltas, notices, done = await items_of(chain.stream(HI))
    assert [(n.kind, n.text.split(";")[-1].strip()) for n in notices] == [
        ("retry", "retrying in 0.01 s"),
        ("retry", "retrying in 0.01 s"),
        ("fallback", "falling back to 'down2'"),  # down2 has no retry policy: it fails once
        ("fallback", "falling back to 's'"),
    ]
    assert "model 'down' failed (nothing answers at http://127.0.0.1" in notices[2].text
    assert done.model == "s" and "".join(d.content for d in deltas) == done.content


async def test_a_wrapper_around_a_fallback_retries_each_of_its_models_and_labels_say_which_list():
    reg = models()
    inner = FallbackBackend([reg.backend("down"), reg.backend("down2")])
    chain = FallbackBackend([RetryingBackend(inner, RetryPolicy((0.01,))), reg.backend("t")], label="config_list")
    _, notices, done = await items_of(chain.stream(HI))
    assert [n.kind for n in notices] == ["retry", "fallback", "retry", "fallback"]
    assert notices[1].text.endswith("falling back to 'down2'")
    assert notices[3].text.endswith("falling back to 't' (config_list)")
    assert done.content == "from t"
    assert [b.name for b in chain.backends] == ["down", "down2", "t"]


async def test_without_a_fallback_the_last_typed_error_reaches_the_caller():
    reg = models()
    with pytest.raises(BackendUnavailable, match="127.0.0.1"):
        await RetryingBackend(reg.backend("down"), FAST).complete(HI)
    with pytest.raises(BackendUnavailable, match="'down2'"):
        await FallbackBackend([reg.backend("down"), reg.backend("down2")]).complete(HI)


async def test_a_permanent_error_is_not_retried(monkeypatch):
    monkeypatch.delenv("MOOT_NO_SUCH_KEY", raising=False)
    keyed = backend_class("openai")(parse_models(
        'schema_version = 1\n[[models]]\nname = "k"\nbackend = "openai"\nmodel = "gpt"\napi_key_env = "MOOT_NO_SUCH_KEY"\n',
        "test").get("k"))
    _, notices, done = await items_of(FallbackBackend([RetryingBackend(keyed, FAST), models().backend("t")]).stream(HI))
    assert [n.kind for n in notices] == ["fallback"] and "MOOT_NO_SUCH_KEY" in notices[0].text
    with pytest.raises(AuthError, match="MOOT_NO_SUCH_KEY"):
        await RetryingBackend(keyed, FAST).complete(HI)


async def test_an_error_after_text_arrived_goes_to_the_caller_without_falling_back():
    reg = models(bad="""
[[models]]
name = "bad"
backend = "scripted"
replies = [{ content = "some text first", tool_calls = [{ name = "add", arguments = {} }] }]
""")
    chain = FallbackBackend([RetryingBackend(reg.backend("bad"), FAST), reg.backend("t")])
    seen = []
    with pytest.raises(BadResponse, match="calls tool 'add', which was not offered"):
        async for item in chain.stream(HI, tools=[ToolSpec("other", "x")]):
            seen.append(item)
    assert seen and all(type(i) is Delta for i in seen)  # text, then the error: no notice, no fallback
    assert reg.backend("t").calls == 0


async def test_choices_and_json_are_decoded_once_whichever_step_answers():
    reg = models(pick="""
[[models]]
name = "pick"
backend = "scripted"
replies = ["I pick coder.", "{\\"a\\": 1}"]
""")
    chain = FallbackBackend([reg.backend("down"), reg.backend("pick")])
    done = await chain.complete(HI, choices=["planner", "coder"])
    assert done.content == done.parsed == "coder"
    done = await chain.complete(HI, response_format={"type": "object"})
    assert done.parsed == {"a": 1}


def _frames_up_to(code) -> int:
    """Frames between the caller's frame and the frame running ``code``."""
    frame, n = sys._getframe(2), 0
    while frame is not None and frame.f_code is not code:
        frame, n = frame.f_back, n + 1
    assert frame is not None, "the consumer's frame is not on the stack"
    return n


class Probe(ScriptedBackend):
    """The scripted backend, noting how many frames lie between its ``_stream`` and ``consumer``."""

    consumer = None
    depth: int | None = None

    async def _stream(self, request):
        self.depth = _frames_up_to(self.consumer)
        async for item in super()._stream(request):
            yield item


async def test_one_generator_between_the_caller_and_the_backend_however_deep_the_wrapping():
    reg = models()
    probe = Probe(reg.config.get("t"))

    async def consume(backend: Backend) -> int:
        Probe.consumer = consume.__code__
        async for _ in backend.stream(ModelRequest(HI)):
            pass
        return probe.depth

    assert await consume(probe) == 0  # a plain request: nothing to finish, the backend's own stream
    assert await consume(RetryingBackend(probe, FAST)) == 0  # a scripted model has nothing to retry
    deep = FallbackBackend([RetryingBackend(DefaultsBackend(FallbackBackend([probe]), {"temperature": 0.2}), FAST)])
    assert await consume(deep) == 1  # the plan is flat: Wrapper._serve alone
    assert [s.backend for s in deep.steps] == [probe] and deep.steps[0].defaults == {"temperature": 0.2}

    async def consume_choice(backend: Backend) -> int:
        Probe.consumer = consume_choice.__code__
        async for _ in backend.stream(ModelRequest(HI, choices=("from t", "other"))):
            pass
        return probe.depth

    assert await consume_choice(probe) == 1  # Backend._serve matches the choice

    class Flaky(Probe):
        transient_failures = True  # as a remote backend: its calls are retried

    flaky = Flaky(reg.config.get("t"))
    probe = flaky
    assert await consume(RetryingBackend(flaky, FAST)) == 1
    assert await consume(FallbackBackend([flaky, Flaky(reg.config.get("t"))])) == 1


async def test_defaults_fill_only_what_the_call_leaves_unset_and_inner_defaults_win():
    reg = models()
    backend = reg.backend("t")
    asked = []
    original = backend._stream
    backend._stream = lambda request: (asked.append((request.temperature, request.max_tokens)), original(request))[1]
    wrapped = DefaultsBackend(DefaultsBackend(backend, {"temperature": 0.1}), {"temperature": 0.5, "max_tokens": 7})
    await wrapped.complete(HI)
    await wrapped.complete(HI, temperature=0.9)
    assert asked == [(0.1, 7), (0.9, 7)]
    with pytest.raises(ValueError, match="choices cannot be defaulted"):
        DefaultsBackend(backend, {"choices": ["a"]})


def test_a_request_is_built_and_checked_once():
    request = ModelRequest.of(HI, response_format={"type": "json_schema", "json_schema": {"schema": {"type": "object"}}})
    assert request.schema == {"type": "object"} and request.tools == () and request.max_tokens is None
    assert request.with_defaults({"temperature": 0.3}).temperature == 0.3
    assert ModelRequest.of(HI, temperature=0.0).with_defaults({"temperature": 0.3}).temperature == 0.0
    unchanged = ModelRequest(HI, temperature=1.0)
    assert unchanged.with_defaults({"temperature": 0.3}) is unchanged
    with pytest.raises(ValueError, match="at least one option"):
        ModelRequest.of(HI, choices=[])
    with pytest.raises(TypeError, match="no keywords"):
        models().backend("t").stream(ModelRequest(HI), temperature=0.1)


async def test_status_and_load_through_the_interface(tmp_path):
    reg = models(later=f"""
[[models]]
name = "later"
backend = "scripted"
script = "{tmp_path / 'later.jsonl'}"
[[models]]
name = "gguf"
backend = "llama_cpp"
model_path = "{tmp_path / 'no.gguf'}"
""")
    assert reg.status("t") == BackendStatus("ready")  # nothing made yet: nothing is created to say so
    client = reg.client("t")
    await client.load()  # nothing to load: an awaitable that does nothing
    assert reg.status("t").state == "ready" and "1 replies, 0 served" in reg.status("t").detail
    await client.complete(HI)
    assert "1 served" in client.status().detail
    missing = reg.status("gguf")
    assert missing.state == "failed" and not missing.ok and "no such file" in missing.detail
    assert reg.status("later").state == "failed"


async def test_a_model_that_cannot_be_made_yet_is_tried_again_at_each_call(tmp_path):
    script = tmp_path / "later.jsonl"
    reg = models(later=f"""
[[models]]
name = "later"
backend = "scripted"
script = "{script}"
""")
    client = reg.client("later")  # a missing script file: no error until it is called
    with pytest.raises(ConfigError, match="later.jsonl"):
        await client.complete(HI)
    assert client.status().state == "failed"
    script.write_text('"written since"\n')
    assert (await client.complete(HI)).content == "written since"


def test_capabilities_are_data_read_from_the_entry_without_making_a_backend():
    config = parse_models('schema_version = 1\n[[models]]\nname = "o"\nbackend = "ollama"\nmodel = "m"\n'
                          'capabilities = { vision = true }\n', "test").get("o")
    caps = backend_class("ollama").capabilities_for(config)
    assert caps.vision is True and caps.tools is False and caps.json is True  # declared over the defaults
    made = backend_class("ollama")(config)
    assert made.capabilities == caps and RetryingBackend(made).capabilities == caps


async def test_seek_puts_a_scripted_model_where_a_resumed_session_was():
    reg = models(three="""
[[models]]
name = "three"
backend = "scripted"
replies = ["one", "two", "three"]
""")
    backend = reg.backend("three")
    backend.seek(2)
    assert (await backend.complete(HI)).content == "three"
    assert (await backend.complete(HI)).content == "one"  # round again
    reg.backend("down").seek(5)  # a backend without a position takes it and ignores it
    with pytest.raises(ValueError, match="cannot seek"):
        backend.seek(-1)
