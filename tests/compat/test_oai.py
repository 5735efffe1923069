"""AutoGen 0.2's config-list helpers, called as an AutoGen script calls them."""

from __future__ import annotations

import json
import logging

import pytest

import moot as autogen
from moot import config_list_from_json, filter_config
from moot.oai.openai_utils import DEFAULT_AZURE_API_VERSION

CONFIGS = [
    {"model": "gpt-4o", "api_type": "openai", "tags": ["big", "tools"]},
    {"model": "gpt-4o-mini", "api_type": "openai", "tags": ["small"]},
    {"model": "dep1", "api_type": "azure", "api_version": "2024-02-01", "base_url": "https://x.openai.azure.com",
     "api_key": "k"},
    {"model": "local", "base_url": "http://127.0.0.1:8000/v1", "api_key": "not-needed"},
]


def test_filter_by_model_and_by_a_shared_tag():
    assert filter_config(CONFIGS, {"model": ["gpt-4o", "local"]}) == [CONFIGS[0], CONFIGS[3]]
    assert filter_config(CONFIGS, {"tags": ["tools", "nothing"]}) == [CONFIGS[0]]
    assert filter_config(CONFIGS, {"model": {"gpt-4o-mini"}, "api_type": ["openai"]}) == [CONFIGS[1]]


def test_filter_with_exclude_keeps_what_matches_no_criterion():
    assert filter_config(CONFIGS, {"tags": ["big", "small"]}, exclude=True) == CONFIGS[2:]


def test_a_lone_string_is_one_acceptable_value_not_letters():
    assert filter_config(CONFIGS, {"api_type": "azure"}) == [CONFIGS[2]]
    assert filter_config(CONFIGS, {"api_type": "a"}) == []


def test_none_among_the_values_matches_an_entry_without_the_field():
    assert filter_config(CONFIGS, {"api_type": ["azure", None]}) == [CONFIGS[2], CONFIGS[3]]
    assert filter_config(CONFIGS, {"api_type": ["azure"]}) == [CONFIGS[2]]


def test_no_filter_keeps_the_list():
    assert filter_config(CONFIGS, None) is CONFIGS
    assert filter_config(CONFIGS, {}) is CONFIGS


def test_config_list_from_a_file_in_a_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("OAI_CONFIG_LIST", raising=False)
    (tmp_path / "OAI_CONFIG_LIST").write_text(json.dumps(CONFIGS))
    assert config_list_from_json("OAI_CONFIG_LIST", file_location=str(tmp_path)) == CONFIGS
    assert autogen.config_list_from_json("OAI_CONFIG_LIST", file_location=str(tmp_path),
                                         filter_dict={"model": ["dep1"]}) == [CONFIGS[2]]


def test_config_list_from_an_env_var_holding_json_or_a_path(tmp_path, monkeypatch):
    monkeypatch.setenv("OAI_CONFIG_LIST", json.dumps(CONFIGS[:2]))
    assert config_list_from_json("OAI_CONFIG_LIST") == CONFIGS[:2]
    path = tmp_path / "configs.json"
    path.write_text(json.dumps(CONFIGS[2:]))
    monkeypatch.setenv("OAI_CONFIG_LIST", str(path))
    assert config_list_from_json("OAI_CONFIG_LIST", filter_dict={"model": ["local"]}) == [CONFIGS[3]]


def test_a_missing_config_list_is_file_not_found_naming_both_places(tmp_path, monkeypatch):
    monkeypatch.delenv("OAI_CONFIG_LIST", raising=False)
    with pytest.raises(FileNotFoundError, match="no environment variable OAI_CONFIG_LIST and no file"):
        config_list_from_json("OAI_CONFIG_LIST", file_location=str(tmp_path))


@pytest.mark.parametrize("text, message", [
    ('[{"model": "a",}]', r"not valid JSON: .* \(line 1, column"),
    ('{"model": "a"}', "a config list must be a JSON array of objects"),
])
def test_bad_json_names_the_file(tmp_path, monkeypatch, text, message):
    monkeypatch.delenv("BAD_LIST", raising=False)
    path = tmp_path / "BAD_LIST"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        config_list_from_json("BAD_LIST", file_location=str(tmp_path))
    assert str(info.value).startswith(str(path))


def test_get_config_list_pairs_keys_and_urls_and_drops_blank_keys():
    out = autogen.get_config_list(["k1", " ", "k3"], ["https://a", "https://b", "https://c"], "azure", "2024-06-01")
    assert out == [{"api_key": "k1", "base_url": "https://a", "api_type": "azure", "api_version": "2024-06-01"},
                   {"api_key": "k3", "base_url": "https://c", "api_type": "azure", "api_version": "2024-06-01"}]
    assert autogen.get_config_list(["k1"]) == [{"api_key": "k1"}]
    with pytest.raises(AssertionError, match="The length of api_keys must match the length of base_urls"):
        autogen.get_config_list(["k1", "k2"], ["https://a"])


def test_config_list_openai_aoai_reads_key_files_then_the_environment(tmp_path, monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_API_BASE", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "key_openai.txt").write_text("sk-one\nsk-two\n")
    (tmp_path / "key_aoai.txt").write_text("az-one")
    (tmp_path / "base_aoai.txt").write_text("https://x.openai.azure.com")
    out = autogen.config_list_openai_aoai(key_file_path=str(tmp_path))
    assert out == [{"api_key": "sk-one"}, {"api_key": "sk-two"},
                   {"api_key": "az-one", "base_url": "https://x.openai.azure.com", "api_type": "azure",
                    "api_version": DEFAULT_AZURE_API_VERSION}]
    assert autogen.config_list_openai_aoai(key_file_path=None, exclude="openai") == out[2:]
    assert autogen.oai.config_list_openai_aoai(key_file_path=None, exclude="aoai") == out[:2]


def test_config_list_from_models_repeats_each_entry_per_model(tmp_path, monkeypatch):
    for name in ("OPENAI_API_BASE", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-one")
    out = autogen.config_list_from_models(key_file_path=str(tmp_path), model_list=["gpt-4o", "gpt-4o-mini"])
    assert out == [{"api_key": "sk-one", "model": "gpt-4o"}, {"api_key": "sk-one", "model": "gpt-4o-mini"}]
    assert [e["model"] for e in autogen.config_list_gpt4_gpt35(key_file_path=str(tmp_path))] == ["gpt-4", "gpt-3.5-turbo"]


def test_config_list_from_dotenv_loads_the_file_and_skips_models_without_a_key(tmp_path, monkeypatch, caplog):
    for name in ("OPENAI_API_KEY", "OTHER_KEY", "MISSING_KEY"):
        monkeypatch.delenv(name, raising=False)
    env = tmp_path / ".env"
    env.write_text("OPENAI_API_KEY=sk-from-dotenv-123456\nOTHER_KEY=sk-other-abcdef\n")
    with caplog.at_level(logging.WARNING):
        out = autogen.config_list_from_dotenv(str(env), model_api_key_map={
            "gpt-4": "MISSING_KEY",
            "my-model": {"api_key_env_var": "OTHER_KEY", "base_url": "https://api.example.com/v1", "api_type": "openai"},
        })
    assert out == [{"api_key": "sk-other-abcdef", "base_url": "https://api.example.com/v1", "api_type": "openai",
                    "model": "my-model"},
                   {"api_key": "sk-from-dotenv-123456", "model": "gpt-3.5-turbo"}]
    assert "API key not found or empty for model gpt-4" in caplog.text
    assert "sk-" not in caplog.text  # a warning names the model, never a key


def test_config_list_from_dotenv_says_when_the_file_is_missing(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-123456789")
    with caplog.at_level(logging.WARNING):
        out = autogen.config_list_from_dotenv(str(tmp_path / "nope.env"), filter_dict={"model": ["gpt-4"]})
    assert f"The specified .env file {tmp_path / 'nope.env'} does not exist." in caplog.text
    assert out == [{"api_key": "sk-env-123456789", "model": "gpt-4"}]
