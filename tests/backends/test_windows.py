"""Each model's real window: llama.cpp's n_ctx (capped by the training context), Ollama's
``/api/show``, an OpenAI-compatible server's report, a model family's stated window, and where each
came from in ``moot models list``.

Real parts: the bundled SmolLM2 through llama.cpp; ``python -m llama_cpp.server`` on loopback (the
``llama_server`` fixture, ``--n_ctx 2048``), which reports no window at all; the Ollama PROTOCOL
STAND-IN (``ollama_standin.py``: Ollama's wire format, the real bundled model behind it). Servers
that cannot run here are played by loopback STAND-INS answering in their recorded shapes: vLLM's
``GET /v1/models`` (``max_model_len``) and llama.cpp's C++ server's ``GET /props``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from moot.backends import ChatMessage
from moot.backends.anthropic import AnthropicBackend
from moot.backends.config import BUILTIN_DEFAULTS
from moot.backends.llama_cpp import LlamaCppBackend
from moot.backends.ollama import OllamaBackend
from moot.backends.openai import OpenAIBackend

DEFAULT = BUILTIN_DEFAULTS["context_length"]


def json_reply(value) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(value).encode()


# -- llama.cpp ------------------------------------------------------------------------------------

async def test_llama_cpp_window_is_n_ctx_once_loaded(make_config):
    b = LlamaCppBackend(make_config(backend="llama_cpp", model_path="bundled:smollm2", context_length=1024))
    if b.loaded.llm is None:  # not loaded yet (another test may have loaded this shared instance): the file's
        assert b.context_window() == 1024 and b.window_source() == "models.toml"
    await b.load()
    assert await b.discover_window() == 1024 == b.loaded.llm.n_ctx()
    assert b.window_source() == "llama.cpp n_ctx"


async def test_llama_cpp_window_is_capped_by_the_training_context(make_config):
    # SmolLM2-135M was trained on 8192 tokens; a bigger n_ctx is not a bigger window.
    b = LlamaCppBackend(make_config(backend="llama_cpp", model_path="bundled:smollm2", context_length=32768))
    assert b.context_window() == 32768  # no I/O yet
    assert await b.discover_window() == 8192  # from the file's metadata, the weights not loaded
    assert b.loaded.llm is None and b.window_source() == "trained context"


# -- Ollama (the protocol stand-in) ---------------------------------------------------------------

def num_ctx_sent(url: str) -> list:
    return httpx.get(f"{url}/_standin/num_ctx").json()


@pytest.fixture
def standin_window(ollama_standin):
    """Set the window the stand-in's /api/show reports; put back the model's own afterwards."""
    def set_window(n: int | None) -> None:
        httpx.post(f"{ollama_standin}/_standin/window", json={"context_length": n})
    yield set_window
    set_window(None)


async def test_ollama_asks_api_show_and_sends_that_window_as_num_ctx(make_config, ollama_standin, standin_window):
    standin_window(3072)
    b = OllamaBackend(make_config(backend="ollama", model="smollm2:135m", base_url=ollama_standin, max_output_tokens=8))
    assert b.context_window() == DEFAULT and b.window_source() == "default"  # nothing asked yet
    await b.complete([ChatMessage("user", "Say hi.")])
    await b.complete([ChatMessage("user", "Say bye.")])
    await b.aclose()
    assert b.context_window() == 3072 and b.window_source() == "server /api/show"
    assert num_ctx_sent(ollama_standin)[-2:] == [3072, 3072]  # from the first call on
    shows = [r for r in httpx.get(f"{ollama_standin}/_standin/requests").json() if r["path"] == "/api/show"]
    assert len([r for r in shows if r["body"].get("model") == "smollm2:135m"]) >= 1


async def test_ollama_caps_a_huge_reported_window_at_the_default(make_config, ollama_standin, standin_window):
    standin_window(131072)
    b = OllamaBackend(make_config(backend="ollama", model="smollm2:135m", base_url=ollama_standin, max_output_tokens=8))
    await b.complete([ChatMessage("user", "Say hi.")])
    await b.aclose()
    assert b.context_window() == DEFAULT  # a 128k KV cache is not what an unset context_length asks for
    assert num_ctx_sent(ollama_standin)[-1] == DEFAULT


async def test_ollama_context_length_from_models_toml_wins_and_nothing_is_asked(make_config, ollama_standin,
                                                                                 standin_window):
    standin_window(3072)
    before = len(httpx.get(f"{ollama_standin}/_standin/requests").json())
    b = OllamaBackend(make_config(backend="ollama", model="smollm2:135m", base_url=ollama_standin,
                                  max_output_tokens=8, context_length=1536))
    await b.complete([ChatMessage("user", "Say hi.")])
    await b.aclose()
    assert b.context_window() == 1536 and b.window_source() == "models.toml"
    assert num_ctx_sent(ollama_standin)[-1] == 1536
    paths = [r["path"] for r in httpx.get(f"{ollama_standin}/_standin/requests").json()[before:]]
    assert paths == ["/api/chat"]


async def test_ollama_unreachable_keeps_the_default_and_does_not_raise(make_config, dead_port):
    b = OllamaBackend(make_config(backend="ollama", model="x", base_url=f"http://127.0.0.1:{dead_port}"))
    assert await b.discover_window() == DEFAULT and b.window_source() == "default"
    await b.aclose()


# -- OpenAI-compatible servers --------------------------------------------------------------------

async def test_llama_cpp_python_server_reports_no_window_so_the_default_stands(make_config, llama_server):
    # python -m llama_cpp.server (--n_ctx 2048) has neither /props nor max_model_len: the stated default.
    b = OpenAIBackend(make_config(backend="openai", model="m", base_url=llama_server))
    assert await b.discover_window() == DEFAULT and b.window_source() == "default"
    await b.aclose()
    told = OpenAIBackend(make_config(backend="openai", model="m", base_url=llama_server, context_length=2048))
    assert await told.discover_window() == 2048 and told.window_source() == "models.toml"
    done = await told.complete([ChatMessage("user", "Say OK.")], max_tokens=4)
    await told.aclose()
    assert done.usage.prompt_tokens < 2048


async def test_vllm_max_model_len_from_v1_models(make_config, loopback_server):
    asked = []

    def vllm(method, path, headers, body):  # STAND-IN: vLLM's GET /v1/models, as it answers
        asked.append(path)
        if path == "/v1/models":
            return json_reply({"object": "list", "data": [
                {"id": "other", "object": "model", "owned_by": "vllm", "max_model_len": 32768},
                {"id": "Qwen/Qwen3-4B", "object": "model", "created": 1764000000, "owned_by": "vllm",
                 "root": "Qwen/Qwen3-4B", "parent": None, "max_model_len": 4096, "permission": []}]})
        return 404, "application/json", b'{"detail": "Not Found"}'

    b = OpenAIBackend(make_config(backend="openai", model="Qwen/Qwen3-4B", base_url=loopback_server(vllm)))
    assert await b.discover_window() == 4096 and b.window_source() == "server /v1/models"
    assert await b.discover_window() == 4096 and asked == ["/v1/models"]  # asked once
    await b.aclose()


async def test_llama_cpp_server_n_ctx_from_props(make_config, loopback_server):
    def llama_server_cpp(method, path, headers, body):  # STAND-IN: llama.cpp's llama-server
        if path == "/v1/models":
            return json_reply({"object": "list", "data": [{"id": "qwen3.gguf", "object": "model", "owned_by": "llamacpp",
                                                           "meta": {"n_ctx_train": 40960, "n_vocab": 151936}}]})
        if path == "/props":
            return json_reply({"default_generation_settings": {"n_ctx": 2048, "params": {"n_predict": -1}},
                               "total_slots": 1, "model_path": "qwen3.gguf", "chat_template": "..."})
        return 404, "application/json", b'{"error": {"code": 404, "message": "File Not Found"}}'

    b = OpenAIBackend(make_config(backend="openai", model="qwen3", base_url=loopback_server(llama_server_cpp) + "/v1"))
    assert await b.discover_window() == 2048 and b.window_source() == "server /props"
    await b.aclose()


async def test_a_server_that_answers_garbage_or_nothing_leaves_the_default(make_config, loopback_server, dead_port):
    garbage = loopback_server(lambda *a: (200, "text/html", b"<html>hi</html>"))
    for url in (garbage, f"http://127.0.0.1:{dead_port}"):
        b = OpenAIBackend(make_config(backend="openai", model="x", base_url=url))
        assert await b.discover_window() == DEFAULT and b.window_source() == "default"
        await b.aclose()


def test_model_families_have_their_stated_window_without_io(make_config):
    claude = AnthropicBackend(make_config(backend="anthropic", model="claude-sonnet-4-5"))
    assert claude.context_window() == 200_000 and claude.window_source() == "model family"
    told = AnthropicBackend(make_config(backend="anthropic", model="claude-sonnet-4-5", context_length=50_000))
    assert told.context_window() == 50_000 and told.window_source() == "models.toml"
    gpt = OpenAIBackend(make_config(backend="openai", model="gpt-4o-mini"))
    assert gpt.context_window() == 128_000 and gpt.window_source() == "model family"
    unknown = OpenAIBackend(make_config(backend="openai", model="my-finetune"))
    assert unknown.context_window() == DEFAULT and unknown.window_source() == "default"


def test_defaults_table_context_length_counts_as_set_in_models_toml(tmp_path):
    from moot.backends import parse_models

    config = parse_models('schema_version = 1\n[defaults]\ncontext_length = 4096\n'
                          '[[models]]\nname = "a"\nbackend = "openai"\nmodel = "x"\n', "m.toml")
    assert config.get("a").context_length == 4096 and config.get("a").context_length_explicit


# -- moot models list -----------------------------------------------------------------------------

def test_models_list_shows_each_window_and_where_it_came_from(tmp_path, loopback_server):
    def vllm(method, path, headers, body):  # STAND-IN: vLLM's GET /v1/models
        if path == "/v1/models":
            return json_reply({"object": "list", "data": [{"id": "q", "object": "model", "max_model_len": 4096}]})
        return 404, "application/json", b"{}"

    conf = tmp_path / "m.toml"
    conf.write_text('schema_version = 1\n'
                    '[[models]]\nname = "set"\nbackend = "scripted"\nreplies = ["x"]\ncontext_length = 2048\n'
                    '[[models]]\nname = "plain"\nbackend = "scripted"\nreplies = ["x"]\n'
                    f'[[models]]\nname = "vllm"\nbackend = "openai"\nmodel = "q"\nbase_url = "{loopback_server(vllm)}"\n'
                    '[[models]]\nname = "local"\nbackend = "llama_cpp"\nmodel_path = "bundled:smollm2"\n'
                    'context_length = 32768\n')
    env = {**os.environ, "COLUMNS": "200", "NO_PROXY": "127.0.0.1,localhost"}
    run = [sys.executable, "-m", "moot", "--models", str(conf), "models", "list"]
    listed = subprocess.run([*run, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    models = {m["name"]: m for m in json.loads(listed.stdout)["models"]}
    assert {n: (m["window"], m["window_from"]) for n, m in models.items()} == {
        "set": (2048, "models.toml"), "plain": (None, "none"), "vllm": (4096, "server /v1/models"),
        "local": (8192, "trained context")}
    table = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[2:]}
    assert "2k models.toml" in rows["set"] and "- none" in rows["plain"]
    assert "4k server /v1/models" in rows["vllm"] and "8k trained context" in rows["local"]
