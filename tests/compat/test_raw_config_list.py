"""An AutoGen 0.2 config_list of raw OpenAI-style entries works without a models.toml entry: each
becomes a model of its own on the backend its api_type names, and its key stays a secret."""

from __future__ import annotations

import json
import os

import pytest

import moot as autogen
from moot import AssistantAgent, UserProxyAgent, use_models
from moot.backends import ConfigError, ModelRegistry
from moot.backends.anthropic import AnthropicBackend
from moot.backends.config import scripted_models
from moot.backends.ollama import OllamaBackend
from moot.backends.openai import OpenAIBackend
from moot.coding import LocalCommandLineCodeExecutor
from moot.redact import Redactor

KEY = "sk-test-0123456789abcdefghijklmnop"


def models(**specs):
    return use_models(ModelRegistry(scripted_models(specs or {"local": ["from models.toml"]}, source="test"),
                                    retry_delays=()))


def proxy(code_execution_config=False, **kwargs):
    return UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=code_execution_config, **kwargs)


def inner_backends(agent):
    """The backends an agent's llm_config resolved to, in the order they are tried."""
    backend = agent.client.backend
    return list(getattr(backend, "backends", [backend]))


def test_an_openai_entry_chats_with_its_own_server_and_key(openai_standin):
    models()
    server = openai_standin(["hello from the raw entry"])
    config_list = [{"model": "gpt-4o-mini", "base_url": server.url, "api_key": KEY}]
    assistant = AssistantAgent("assistant", llm_config={"config_list": config_list, "temperature": 0})
    result = proxy().initiate_chat(assistant, message="hi", max_turns=1, silent=True)

    assert result.chat_history[-1]["content"] == "hello from the raw entry"
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["auth"] == f"Bearer {KEY}"
    assert sent["body"]["model"] == "gpt-4o-mini" and sent["body"]["temperature"] == 0


def test_the_key_lives_in_a_variable_the_model_names_never_in_its_config(openai_standin):
    models()
    server = openai_standin(["ok"])
    assistant = AssistantAgent("assistant", llm_config={"config_list": [
        {"model": "gpt-4o-mini", "base_url": server.url, "api_key": KEY}]})
    (backend,) = inner_backends(assistant)
    config = backend.config
    assert config.api_key_env and os.environ[config.api_key_env] == KEY
    for text in (config.model_dump_json(), repr(config), repr(backend), repr(assistant.client)):
        assert KEY not in text
    # The redactor knows the key: code output, the screen and the store never show it.
    assert KEY not in Redactor().redact(f"the key is {KEY}")


def test_code_run_by_the_agent_cannot_see_a_config_list_key(openai_standin, tmp_path):
    models()
    server = openai_standin(["```python\nimport os\nprint(sorted(v for v in os.environ.values() if 'sk-test' in v))\n```",
                             "TERMINATE"])
    assistant = AssistantAgent("assistant", llm_config={"config_list": [
        {"model": "gpt-4o-mini", "base_url": server.url, "api_key": KEY}]})
    user = proxy(code_execution_config={"executor": LocalCommandLineCodeExecutor(work_dir=tmp_path)},
                 is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""))
    result = user.initiate_chat(assistant, message="show the keys", max_turns=2, silent=True)
    report = result.chat_history[2]["content"]
    assert report.startswith("exitcode: 0") and "[]" in report
    assert all(KEY not in (m.get("content") or "") for m in result.chat_history)


def test_a_key_already_in_the_environment_keeps_its_variable(openai_standin, monkeypatch):
    monkeypatch.setenv("MY_OPENAI_KEY", KEY)
    models()
    server = openai_standin(["ok"])
    assistant = AssistantAgent("assistant", llm_config={"config_list": [
        {"model": "gpt-4o", "base_url": server.url, "api_key": os.environ["MY_OPENAI_KEY"]}]})
    assert inner_backends(assistant)[0].config.api_key_env == "MY_OPENAI_KEY"


def test_azure_ollama_and_anthropic_entries_go_to_their_backends():
    models()
    assistant = AssistantAgent("assistant", llm_config={"config_list": [
        {"model": "my-deployment", "api_type": "azure", "base_url": "https://example.openai.azure.com", "api_key": KEY},
        {"model": "llama3.1", "api_type": "ollama", "base_url": "http://127.0.0.1:11434"},
        {"model": "claude-3-5-haiku-latest", "api_type": "anthropic", "api_key": "sk-ant-test-key-123456"},
        {"model": "local"},
    ]})
    azure, ollama, anthropic, local = inner_backends(assistant)
    assert isinstance(azure, OpenAIBackend) and azure.azure
    assert azure.config.api_version == autogen.oai.DEFAULT_AZURE_API_VERSION
    assert isinstance(ollama, OllamaBackend) and ollama.host.startswith("http://127.0.0.1:11434")
    assert isinstance(anthropic, AnthropicBackend) and os.environ[anthropic.key_env] == "sk-ant-test-key-123456"
    assert local.name == "local"
    assert assistant.client.models == ["my-deployment", "llama3.1", "claude-3-5-haiku-latest", "local"]


async def test_an_azure_entry_calls_the_deployment_with_its_api_version(openai_standin):
    models()
    server = openai_standin(["from azure"])
    assistant = AssistantAgent("assistant", llm_config={"config_list": [
        {"model": "dep1", "api_type": "azure", "api_version": "2024-06-01", "base_url": server.url.removesuffix("/v1"),
         "api_key": KEY}]})
    result = await proxy().a_initiate_chat(assistant, message="hi", max_turns=1, silent=True)
    assert result.chat_history[-1]["content"] == "from azure"
    sent = server.requests[0]
    assert sent["path"] == "/openai/deployments/dep1/chat/completions?api-version=2024-06-01"
    assert sent["api_key"] == KEY


def test_a_raw_entry_that_is_down_falls_back_to_a_models_toml_model(tmp_path):
    models()
    path = tmp_path / "OAI_CONFIG_LIST"
    path.write_text(json.dumps([{"model": "gpt-4", "base_url": "http://127.0.0.1:9/v1", "api_key": KEY},
                                {"model": "local"}]))
    config_list = autogen.config_list_from_json("OAI_CONFIG_LIST", file_location=str(tmp_path))
    assistant = AssistantAgent("assistant", llm_config={"config_list": config_list})
    result = proxy().initiate_chat(assistant, message="hi", max_turns=1, silent=True)
    assert result.chat_history[-1]["content"] == "from models.toml"


def test_a_models_toml_name_wins_over_the_raw_fields():
    models(**{"gpt-4": ["the local stand-in for gpt-4"]})
    assistant = AssistantAgent("assistant", llm_config={"config_list": [{"model": "gpt-4", "api_key": KEY}]})
    assert inner_backends(assistant)[0].config.backend == "scripted"
    result = proxy().initiate_chat(assistant, message="hi", max_turns=1, silent=True)
    assert result.chat_history[-1]["content"] == "the local stand-in for gpt-4"


def test_a_bare_unknown_name_is_a_config_error_without_openai_api_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    models()
    with pytest.raises(ConfigError, match="no model named 'gpt-4'"):
        AssistantAgent("assistant", llm_config={"config_list": [{"model": "gpt-4"}]})


def test_a_bare_name_is_an_openai_model_while_openai_api_key_is_set(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    models()
    assistant = AssistantAgent("assistant", llm_config={"config_list": [{"model": "gpt-4"}, {"model": "local"}]})
    gpt4, local = inner_backends(assistant)
    assert isinstance(gpt4, OpenAIBackend) and gpt4.url == "https://api.openai.com/v1"
    assert gpt4.config.api_key_env == "OPENAI_API_KEY" and local.config.backend == "scripted"


@pytest.mark.parametrize("llm_config", [{"config_list": [{"model": ""}]}, {"model": "", "api_key": KEY}])
def test_an_empty_model_name_is_refused_as_autogen_does(llm_config):
    models()
    with pytest.raises(ValueError, match="specify a non-empty 'model' either in 'llm_config' or in each config"):
        AssistantAgent("assistant", llm_config=llm_config)


@pytest.mark.parametrize("entry, message", [
    ({"model": "gemini-pro", "api_type": "google", "api_key": "x"},
     r"llm_config\['config_list'\]\[0\]: api_type 'google' is not supported \(supported: openai, azure, ollama, anthropic\)"),
    ({"model": "m", "base_url": "ftp://host", "api_key": "x"},
     r"llm_config\['config_list'\]\[0\]: field 'base_url': must start with http:// or https://"),
    ({"model": "m", "api_key": 42}, r"llm_config\['config_list'\]\[0\]: field 'api_key' must be a string"),
])
def test_a_wrong_raw_entry_is_a_clear_config_error(entry, message):
    models()
    with pytest.raises(ConfigError, match=message):
        AssistantAgent("assistant", llm_config={"config_list": [entry]})


def test_a_top_level_llm_config_in_autogen_shape_works_too(openai_standin):
    models()
    server = openai_standin(["top level"])
    assistant = AssistantAgent("assistant", llm_config={"model": "gpt-4o-mini", "base_url": server.url, "api_key": KEY})
    result = proxy().initiate_chat(assistant, message="hi", max_turns=1, silent=True)
    assert result.chat_history[-1]["content"] == "top level"


def test_an_official_endpoint_entry_without_a_key_reads_openai_api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    models()
    assistant = AssistantAgent("assistant", llm_config={"config_list": [{"model": "gpt-4o", "api_type": "openai"}]})
    assert inner_backends(assistant)[0].config.api_key_env == "OPENAI_API_KEY"


def test_a_server_of_ones_own_never_gets_openai_api_key(openai_standin, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    models()
    server = openai_standin(["ok"])
    assistant = AssistantAgent("assistant", llm_config={"config_list": [{"model": "qwen", "base_url": server.url}]})
    proxy().initiate_chat(assistant, message="hi", max_turns=1, silent=True)
    assert server.requests[0]["auth"] == "Bearer not-needed"


def test_client_settings_moot_does_not_take_are_refused_by_name():
    models()
    with pytest.raises(TypeError, match=r"llm_config\['config_list'\]\[0\]: 'http_client', 'organization' cannot be set"):
        AssistantAgent("assistant", llm_config={"config_list": [
            {"model": "gpt-4o", "api_key": "", "http_client": object(), "organization": "org"}]})


def test_an_entry_without_a_model_serves_the_servers_own(openai_standin):
    models()
    server = openai_standin(["from the only model there"])
    assistant = AssistantAgent("assistant", llm_config={"config_list": [{"base_url": server.url, "api_key": "NULL"}]})
    result = proxy().initiate_chat(assistant, message="hi", max_turns=1, silent=True)
    assert result.chat_history[-1]["content"] == "from the only model there"
    assert server.requests[0]["body"]["model"] == ""
