"""models.toml: validation messages, lookup order, defaults, readiness problems."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from moot.backends import ConfigError, find_models_file, load_models, parse_models
from moot.backends.config import PACKAGED_DEFAULT, models_document, scripted_models, toml_document

GOOD = """
schema_version = 1
default = "b"
[defaults]
temperature = 0.2
timeout_s = 30
options = { seed = 7 }
[[models]]
name = "a"
backend = "scripted"
replies = ["hi"]
[[models]]
name = "b"
backend = "openai"
model = "gpt-4o-mini"
base_url = "http://127.0.0.1:9/v1"
api_key_env = "MOOT_TEST_KEY"
temperature = 0.9
fallbacks = ["a"]
options = { top_p = 0.5 }
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_models(text, "models.toml")
    return info.value.problems


def test_good_file_applies_defaults_and_keeps_own_values():
    config = parse_models(GOOD, "models.toml")
    a, b = config.get("a"), config.get("b")
    assert config.default == "b"
    assert a.temperature == 0.2 and a.timeout_s == 30 and a.options == {"seed": 7}
    assert b.temperature == 0.9 and b.options == {"seed": 7, "top_p": 0.5}
    assert a.max_output_tokens == 512  # the built-in default when neither sets it
    assert [m.name for m in config.chain("b")] == ["b", "a"]


def test_eleven_mistakes_give_eleven_clear_messages():
    text = """
schema_version = 1
default = "ghost"
[[models]]
name = "one"
backend = "llama_cpp"
temprature = 0.5
[[models]]
name = "two"
backend = "olama"
model = "x"
[[models]]
name = "three"
backend = "openai"
model = "gpt"
temperature = "hot"
timeout_s = -1
base_url = "127.0.0.1:8080"
[[models]]
name = "four"
backend = "scripted"
[[models]]
name = "one"
backend = "ollama"
fallbacks = ["nowhere"]
"""
    problems = problems_of(text)
    assert len(problems) == 11, "\n".join(problems)
    joined = "\n".join(problems)
    for expected in [
        "[[models]] entry 1 ('one'): unknown field 'temprature'",
        "[[models]] entry 2 ('two'): field 'backend'",
        "[[models]] entry 3 ('three'): field 'temperature'",
        "[[models]] entry 3 ('three'): field 'timeout_s'",
        "[[models]] entry 3 ('three'): field 'base_url': must start with http:// or https://",
        "[[models]] entry 4 ('four'): backend 'scripted' needs exactly one of 'replies'",
        "[[models]] entry 5 ('one'): field 'name': duplicate name (also entry 1)",
        "[[models]] entry 5 ('one'): field 'model' is required for backend 'ollama'",
        "field 'default': no model named 'ghost'",
        "[[models]] entry 5 ('one'): field 'fallbacks': no model named 'nowhere'",
    ]:
        assert expected in joined, f"missing {expected!r} in:\n{joined}"
    assert all(p.startswith("models.toml: ") for p in problems)
    # And entry 1 (llama_cpp) has no model_path. Each message names the entry and the field.
    assert "[[models]] entry 1 ('one'): field 'model_path' is required for backend 'llama_cpp'" in joined


def test_type_errors_say_what_was_expected_and_what_came():
    problems = problems_of('schema_version = 1\n[[models]]\nname = "m"\nbackend = "scripted"\nreplies = ["x"]\ncontext_length = "big"\n')
    assert len(problems) == 1
    assert "field 'context_length'" in problems[0] and "integer" in problems[0] and "'big'" in problems[0]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("schema_version = 1\n[[models]\n", "not valid TOML"),
        ("schema_version = 2\n[[models]]\nname='m'\nbackend='scripted'\nreplies=['x']\n", "field 'schema_version'"),
        ("[[models]]\nname='m'\nbackend='scripted'\nreplies=['x']\n", "field 'schema_version' is required"),
        ("schema_version = 1\n", "field 'models' is required"),
        ("schema_version = 1\ncolour = 'red'\n[[models]]\nname='m'\nbackend='scripted'\nreplies=['x']\n", "unknown field 'colour'"),
        ("schema_version = 1\n[defaults]\nname = 'x'\n[[models]]\nname='m'\nbackend='scripted'\nreplies=['x']\n", "[defaults]: unknown field 'name'"),
        ("schema_version = 1\n[embedding]\nbackend = 'magic'\n[[models]]\nname='m'\nbackend='scripted'\nreplies=['x']\n", "[embedding]: field 'backend'"),
        ("schema_version = 1\n[[models]]\nname='m'\nbackend='scripted'\nreplies=['x']\ncapabilities = { tools = true, telepathy = true }\n", "unknown field 'capabilities.telepathy'"),
        ("schema_version = 1\n[[models]]\nname='m'\nbackend='scripted'\nreplies=[{ content = 'x', tool_calls = [{ arguments = {} }] }]\n", "tool_calls.0.name"),
        ("schema_version = 1\n[[models]]\nname='m'\nbackend='openai'\nmodel='x'\nreplies=['x']\n", "only for backend 'scripted'"),
        ("schema_version = 1\n[[models]]\nname='m'\nbackend='scripted'\nreplies=['x']\nfallbacks=['m']\n", "cannot fall back to itself"),
        ("schema_version = 1\n[[models]]\nname='has space'\nbackend='scripted'\nreplies=['x']\n", "field 'name'"),
        ("schema_version = 1\n[[models]]\nname='m'\nbackend='openai'\nmodel='x'\napi_key_env='sk-123 secret'\n", "field 'api_key_env'"),
        ("schema_version = 1\n[[models]]\nname='m'\nbackend='scripted'\nreplies=['x']\nn_gpu_layers = -5\n", "field 'n_gpu_layers'"),
    ],
)
def test_each_validation_path_names_what_is_wrong(text, needle):
    problems = problems_of(text)
    assert any(needle in p for p in problems), problems


def test_unknown_model_name_lists_the_known_ones():
    config = parse_models(GOOD, "models.toml")
    with pytest.raises(ConfigError, match=r"no model named 'c' \(models: a, b\)"):
        config.get("c")


def test_readiness_problems_name_entry_and_field(tmp_path, monkeypatch):
    monkeypatch.delenv("MOOT_TEST_KEY", raising=False)
    text = f"""
schema_version = 1
[[models]]
name = "local"
backend = "llama_cpp"
model_path = "missing.gguf"
[[models]]
name = "odd"
backend = "llama_cpp"
model_path = "bundled:nothing"
[[models]]
name = "remote"
backend = "openai"
model = "x"
api_key_env = "MOOT_TEST_KEY"
[[models]]
name = "script"
backend = "scripted"
script = "replies.jsonl"
"""
    config = parse_models(text, "models.toml", base_dir=tmp_path)
    assert config.get("local").problems() == [f"model 'local': field 'model_path': no such file {str(tmp_path / 'missing.gguf')!r}"]
    assert "no bundled model 'nothing'" in config.get("odd").problems()[0]
    assert config.get("remote").problems() == ["model 'remote': field 'api_key_env': the environment variable MOOT_TEST_KEY is not set"]
    monkeypatch.setenv("MOOT_TEST_KEY", "sk-do-not-print")
    assert config.get("remote").problems() == []
    assert "field 'script': no such file" in config.get("script").problems()[0]
    (tmp_path / "replies.jsonl").write_text('"hello"\n')
    assert config.get("script").problems() == []


def test_bundled_model_resolves_from_the_installed_package(bundled_model_path):
    config = load_models(PACKAGED_DEFAULT)
    assert config.get("smollm2").resolved_model_path() == bundled_model_path
    assert config.get("smollm2").problems() == []
    assert config.default == "smollm2"


def _write(path: Path, default: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'schema_version = 1\ndefault = "{default}"\n[[models]]\nname = "{default}"\nbackend = "scripted"\nreplies = ["x"]\n')
    return path


def test_lookup_order(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    config_home = Path(os.environ["XDG_CONFIG_HOME"])
    # Nothing anywhere: the packaged default.
    assert find_models_file() == (PACKAGED_DEFAULT, "packaged default")
    user = _write(config_home / "moot" / "models.toml", "user")
    assert find_models_file() == (user, "user config dir")
    local = _write(work / "models.toml", "local")
    assert find_models_file()[1] == "./models.toml"
    env = _write(tmp_path / "env.toml", "env")
    monkeypatch.setenv("MOOT_MODELS", str(env))
    assert find_models_file() == (env, "$MOOT_MODELS")
    explicit = _write(tmp_path / "explicit.toml", "explicit")
    assert find_models_file(explicit) == (explicit, "--models")
    assert load_models(explicit).default == "explicit"
    assert load_models().default == "env"
    monkeypatch.delenv("MOOT_MODELS")
    assert load_models().default == "local" and local.is_file()


def test_lookup_names_a_missing_file(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="--models .*nope.toml.*: no such file"):
        find_models_file(tmp_path / "nope.toml")
    monkeypatch.setenv("MOOT_MODELS", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=r"\$MOOT_MODELS=.*gone.toml.*: no such file"):
        find_models_file()


def test_relative_paths_resolve_next_to_the_file(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    (tmp_path / "conf.toml").write_text('schema_version = 1\n[[models]]\nname = "m"\nbackend = "llama_cpp"\nmodel_path = "m.gguf"\n')
    config = load_models(tmp_path / "conf.toml")
    assert config.get("m").resolved_model_path() == tmp_path / "m.gguf"
    assert config.source == str(tmp_path / "conf.toml") and config.found_by == "--models"


# -- models built in Python: the same validation, no TOML ------------------------------------------

def test_scripted_models_equal_the_same_models_toml():
    built = scripted_models({"a": ["hi"], "b": {"backend": "openai", "model": "gpt-4o-mini", "base_url": "http://127.0.0.1:9/v1",
                                                "api_key_env": "MOOT_TEST_KEY", "temperature": 0.9, "fallbacks": ["a"],
                                                "options": {"top_p": 0.5}}},
                            default="b", defaults={"temperature": 0.2, "timeout_s": 30, "options": {"seed": 7}},
                            source="models.toml")
    parsed = parse_models(GOOD, "models.toml")
    assert built.models == parsed.models and built.default == parsed.default == "b"
    assert (built.memory, built.embedding, built.source) == (parsed.memory, parsed.embedding, "models.toml")
    assert built.found_by == "python"


def test_scripted_replies_and_tool_calls_are_validated_like_the_file():
    config = scripted_models({"coder": ["one", {"content": "", "tool_calls": [{"name": "calc", "arguments": {"x": 1}}]}]})
    replies = config.get("coder").replies
    assert replies[0] == "one" and replies[1].tool_calls[0].name == "calc" and replies[1].tool_calls[0].arguments == {"x": 1}
    assert config.default == "coder" and config.get().backend == "scripted"
    with pytest.raises(ConfigError) as info:
        scripted_models({"a": [{"content": "x", "tool_calls": [{"arguments": {}}]}], "b": []}, default="c", memory={"k": 0})
    assert info.value.problems == [
        "scripted models: [[models]] entry 1 ('a'): field 'replies.0.tool_calls.0.name' is required",
        "scripted models: [memory]: field 'k': Input should be greater than 0 (got 0)",
        "scripted models: [[models]] entry 2 ('b'): backend 'scripted' needs exactly one of 'replies' (a non-empty list) or 'script' (a JSONL file)",
        "scripted models: top level: field 'default': no model named 'c' (models: a, b)",
    ]
    with pytest.raises(TypeError, match="model 'a': expected a list of replies or a table"):
        scripted_models({"a": "just a string"})


def test_a_models_document_written_as_toml_reads_back_the_same(tmp_path):
    models = {"s": {"replies": ['say "hi"\n\\ then', {"content": "c", "tool_calls": [{"name": "t"}]}],
                    "options": {"chunk_delay_s": 0.5}},
              "local": {"backend": "llama_cpp", "model_path": "m.gguf", "n_gpu_layers": -1}}
    memory = {"policy": "confirm", "k": 2}
    document = models_document(models, default="s", memory=memory)
    path = tmp_path / "models.toml"
    path.write_text(toml_document(document))
    assert tomllib.loads(path.read_text()) == document
    loaded = load_models(path)
    built = scripted_models(models, default="s", memory=memory, base_dir=path.resolve().parent)
    assert loaded.models == built.models and loaded.memory == built.memory and loaded.default == "s"
