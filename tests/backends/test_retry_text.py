"""What retries and fallbacks say names each model once ("model 'far': model 'far': ..." was seen
on an unreachable model with retries): the retry notices, the fallback notice (a config problem
keeps its file), the error the caller gets, and the chat's stop reason. On real parts: an
OpenAI-compatible entry at a loopback port nothing listens on (the unreachable server's stand-in),
an entry whose key variable is unset, scripted models."""

from __future__ import annotations

from moot.agents import Session, parse_team
from moot.backends import BackendUnavailable, ChatMessage, ModelRegistry, Notice, parse_models
from tests.conftest import free_port

HI = [ChatMessage("user", "hi")]


def far_models(port: int, **far: str) -> str:
    extra = "".join(f"{k} = {v}\n" for k, v in far.items())
    return f"""schema_version = 1
default = "far"
[[models]]
name = "far"
backend = "openai"
model = "gpt-far"
base_url = "http://127.0.0.1:{port}/v1"
timeout_s = 5
{extra}[[models]]
name = "farther"
backend = "openai"
model = "gpt-farther"
base_url = "http://127.0.0.1:{port}/v1"
timeout_s = 5
[[models]]
name = "near"
backend = "scripted"
replies = ["from near"]
"""


async def notices_and_error(client) -> tuple[list[str], Exception | None]:
    texts: list[str] = []
    try:
        async for item in client.stream(HI):
            if isinstance(item, Notice):
                texts.append(item.text)
    except Exception as exc:  # the error the caller gets, to read
        return texts, exc
    return texts, None


async def test_retries_name_the_unreachable_model_once(monkeypatch):
    monkeypatch.setenv("MOOT_FAR_KEY", "sk-test")
    port = free_port()
    registry = ModelRegistry(parse_models(far_models(port, api_key_env='"MOOT_FAR_KEY"'), "models.toml"),
                             retry_delays=(0.01, 0.01))
    try:
        texts, error = await notices_and_error(registry.client("far"))
    finally:
        await registry.aclose()
    url = f"http://127.0.0.1:{port}/v1"
    assert texts == [f"model 'far': nothing answers at {url}: is the server running?; retrying in 0.01 s"] * 2
    assert isinstance(error, BackendUnavailable)
    assert str(error) == f"model 'far': nothing answers at {url}: is the server running?"


async def test_fallbacks_name_each_model_once(monkeypatch):
    monkeypatch.setenv("MOOT_FAR_KEY", "sk-test")
    monkeypatch.delenv("MOOT_UNSET_KEY", raising=False)
    port = free_port()
    text = far_models(port, api_key_env='"MOOT_FAR_KEY"', fallbacks='["farther", "near"]')
    registry = ModelRegistry(parse_models(text, "models.toml"), retry_delays=(0.01,))
    try:
        texts, error = await notices_and_error(registry.client("far"))
    finally:
        await registry.aclose()
    assert error is None and len(texts) == 4  # far retried, to farther, farther retried, to near
    assert texts[1].startswith("model 'far' failed (nothing answers at") and texts[1].endswith("falling back to 'farther'")
    assert texts[3].startswith("model 'farther' failed (") and texts[3].endswith("falling back to 'near'")
    for said in texts:
        assert said.count("model 'far'") + said.count("model 'farther'") == 1, said

    # a model that cannot be made (its key variable unset): its file and field, its name once
    text = far_models(port, api_key_env='"MOOT_UNSET_KEY"', fallbacks='["near"]')
    registry = ModelRegistry(parse_models(text, "models.toml"), retry_delays=(0.01,))
    try:
        texts, error = await notices_and_error(registry.client("far"))
    finally:
        await registry.aclose()
    assert error is None and len(texts) == 1
    assert texts[0].startswith("model 'far' cannot be used (models.toml: field 'api_key_env': ")
    assert "MOOT_UNSET_KEY" in texts[0] and texts[0].count("model 'far'") == 1, texts[0]


async def test_the_chat_retries_then_stops_naming_the_model_once(monkeypatch):
    monkeypatch.setenv("MOOT_FAR_KEY", "sk-test")
    port = free_port()
    config = parse_models(far_models(port, api_key_env='"MOOT_FAR_KEY"'), "models.toml")
    team = parse_team("""schema_version = 1
name = "t"
[[members]]
name = "user"
role = "user_proxy"
human_input_mode = "NEVER"
[[members]]
name = "coder"
model = "far"
[chat]
initiator = "user"
max_turns = 2
""", "t.toml", config)
    session = Session.start(team, "hello", models=config, record=False)
    try:
        events = [e async for e in session.stream()]
    finally:
        await session.aclose()
    said = [e.text for e in events if e.type == "notice"] + [e.reason for e in events if e.type == "stopped"]
    assert [e.kind for e in events if e.type == "notice"] == ["retry", "retry"]  # the registry's own retries
    assert said[-1] == f"coder: the model failed: model 'far': nothing answers at http://127.0.0.1:{port}/v1: is the server running?"
    for text in said:
        assert text.count("model 'far'") == 1, text
