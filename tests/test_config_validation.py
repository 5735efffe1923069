"""Bad input that once crashed `moot run` (issue 9, case 11), run as a user runs it: each is a clear
error naming the file, the entry and the field, exit 2 before anything runs; a bad `# filename:`
fails its block with a message to the agent and the chat goes on. The nasty inputs are made here."""

from __future__ import annotations

import pytest

from moot.backends import ConfigError, parse_models
from moot.backends.config import BACKEND_OPTIONS, OllamaOptions, shown
from tests.test_run_cli import moot

SCRIPTED = """
schema_version = 1
default = "coderbot"
[[models]]
name = "coderbot"
backend = "scripted"
replies = ["The answer is 42. DONE"]
{extra}
"""

TEAM = """
schema_version = 1
[[members]]
name = "runner"
role = "user_proxy"
human_input_mode = "NEVER"
[members.code_execution]
executor = "local"
timeout = 10
work_dir = "work"
{code_extra}
[[members]]
name = "coder"
model = "coderbot"
{member_extra}
[chat]
max_turns = 8
[termination]
text = "DONE"
"""


def write(folder, models_extra="", code_extra="", member_extra="", models_text=None):
    (folder / "models.toml").write_text(models_text if models_text is not None else SCRIPTED.format(extra=models_extra))
    (folder / "team.toml").write_text(TEAM.format(code_extra=code_extra, member_extra=member_extra))


def refused(folder) -> str:
    """Run the team; it must stop with exit 2 before any model or code ran. Returns stderr."""
    result = moot("run", "team.toml", "--task", "What is six times seven?", cwd=folder, timeout=120)
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr
    assert result.stdout == "" and "session " not in result.stderr  # no chat, nothing recorded
    assert not (folder / "work").exists()  # no code ran
    return result.stderr


# -- backend options ---------------------------------------------------------------------------------

def test_scripted_options_are_checked_by_name_and_type(tmp_path):
    write(tmp_path, 'options = { chunk_size = 0, chunk_delay_s = "slow", chunk_sise = 4 }')
    err = refused(tmp_path)
    where = f"{tmp_path / 'models.toml'}: [[models]] entry 1 ('coderbot')"
    assert f"{where}: field 'options.chunk_size': Input should be greater than 0 (got 0)" in err
    assert f"{where}: field 'options.chunk_delay_s': Input should be a valid number (got 'slow')" in err
    assert (f"{where}: field 'options.chunk_sise': backend 'scripted' has no option 'chunk_sise' "
            f"(options: chunk_size, chunk_delay_s)") in err


def test_every_backend_has_its_table_of_options():
    def problems(entry: str) -> list[str]:
        with pytest.raises(ConfigError) as info:
            parse_models(f"schema_version = 1\n[[models]]\nname = \"m\"\n{entry}\n", "models.toml")
        return info.value.problems

    where = "models.toml: [[models]] entry 1 ('m')"
    assert problems('backend = "llama_cpp"\nmodel_path = "m.gguf"\n'
                    'options = { prompt_layout = "sideways", n_threads = 0, kv_reuse = "yes", n_ctx = 5 }') == [
        f"{where}: field 'options.n_threads': Input should be greater than 0 (got 0)",
        f"{where}: field 'options.kv_reuse': Input should be a valid boolean (got 'yes')",
        f"{where}: field 'options.prompt_layout': Input should be 'auto', 'shared_transcript', 'shared_prefix' or 'as_given' (got 'sideways')",
        f"{where}: field 'options.n_ctx': backend 'llama_cpp' has no option 'n_ctx' (options: "
        + ", ".join(BACKEND_OPTIONS["llama_cpp"].model_fields) + ")",
    ]
    ollama = problems('backend = "ollama"\nmodel = "q"\noptions = { top_k = "3", stop = ["a", 1], topk = 3 }')
    assert ollama[:2] == [f"{where}: field 'options.top_k': Input should be a valid integer (got '3')",
                          f"{where}: field 'options.stop.1': Input should be a valid string (got 1)"]
    assert ollama[2].startswith(f"{where}: field 'options.topk': backend 'ollama' has no option 'topk' (options: numa,")
    # openai and anthropic pass options on as extra request fields, but not the ones moot sets itself
    assert problems('backend = "openai"\nmodel = "g"\noptions = { stream = false, max_tokens = 9, top_k = 3, '
                    'at = 1979-05-27 }') == [
        f"{where}: field 'options.stream': moot sets 'stream' itself for backend 'openai'",
        f"{where}: field 'options.max_tokens': moot sets 'max_tokens' itself for backend 'openai'; set the "
        f"entry's field 'max_output_tokens' instead",
        f"{where}: field 'options.at': must be a string, number, boolean, array or table (dates and times "
        f"cannot be sent) (got datetime.date(1979, 5, 27))",
    ]
    assert problems('backend = "anthropic"\nmodel = "c"\noptions = { system = "x" }') == [
        f"{where}: field 'options.system': moot sets 'system' itself for backend 'anthropic'"]
    # a bad option inherited from [defaults] is named there; one no backend of the file takes too
    assert problems('backend = "scripted"\nreplies = ["hi"]\n[defaults]\noptions = { chunk_size = -1, seed = 3 }') == [
        "models.toml: [defaults]: field 'options.seed': no backend this file uses takes it "
        "(scripted: chunk_size, chunk_delay_s)",
        "models.toml: [defaults]: field 'options.chunk_size': Input should be greater than 0 (got -1)",
    ]


def test_the_ollama_table_knows_every_option_of_the_ollama_client():
    ollama = pytest.importorskip("ollama")
    assert set(ollama.Options.model_fields) <= set(OllamaOptions.model_fields)


def test_good_options_still_load():
    config = parse_models(SCRIPTED.format(extra="options = { chunk_size = 3, chunk_delay_s = 0 }"), "models.toml")
    assert config.get("coderbot").options == {"chunk_size": 3, "chunk_delay_s": 0}


# -- nesting too deep for the TOML reader --------------------------------------------------------------

def test_arrays_nested_3000_deep_in_models_toml_are_a_clear_error(tmp_path):
    deep = "[" * 3000 + "]" * 3000
    write(tmp_path, models_text=SCRIPTED.format(extra="") + f'[[models]]\nname = "deep"\nbackend = "scripted"\n'
                                                            f'replies = {deep}\n')
    err = refused(tmp_path)
    line = (tmp_path / "models.toml").read_text().splitlines().index(f"replies = {deep}") + 1
    assert (f"{tmp_path / 'models.toml'}: [[models]] entry 2: field 'replies': arrays or inline tables nested more "
            f"than 100 deep (line {line})") in err
    assert "RecursionError" not in err and len(err) < 1000


def test_arrays_nested_3000_deep_in_a_team_file_are_a_clear_error(tmp_path):
    write(tmp_path, member_extra="tools = " + "[" * 3000 + "]" * 3000)
    err = refused(tmp_path)
    line = (tmp_path / "team.toml").read_text().splitlines().index("tools = " + "[" * 3000 + "]" * 3000) + 1
    assert (f"team.toml: [[members]] entry 2: field 'tools': arrays or inline tables nested more "
            f"than 100 deep (line {line})") in err


def test_inline_tables_nested_deep_are_a_clear_error_too():
    with pytest.raises(ConfigError) as info:
        parse_models('schema_version = 1\n[defaults]\noptions = ' + "{a = " * 3000 + "1" + "}" * 3000, "m.toml")
    assert info.value.problems == ["m.toml: [defaults]: field 'options': arrays or inline tables nested more "
                                   "than 100 deep (line 3)"]


# -- team file values checked when the file is read -----------------------------------------------------

def test_last_n_messages_and_memory_are_checked_before_the_model_runs(tmp_path):
    write(tmp_path, code_extra='last_n_messages = -1\nmemory = "lots"')
    err = refused(tmp_path)
    where = "team.toml: [[members]] entry 1 ('runner')"
    assert f"{where}: field 'code_execution.last_n_messages': must be a number of messages (1 or more) or 'auto' (got -1)" in err
    assert err.count("last_n_messages") == 1
    assert f"{where}: field 'code_execution.memory': must be a size such as '256m' or '1g' (at least 6m) (got 'lots')" in err


def test_good_limits_still_load(tmp_path):
    write(tmp_path, code_extra='last_n_messages = 2\nmemory = "256m"')
    result = moot("run", "team.toml", "--task", "What is six times seven?", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "The answer is 42. DONE" in result.stdout


# -- huge values are quoted short -------------------------------------------------------------------------

BIG = 50 * 1024 * 1024


def test_a_50_mb_bad_value_is_quoted_as_a_short_prefix(tmp_path):
    big = "x" * BIG
    write(tmp_path, models_extra=f'temperature = "{big}"', member_extra=f'human_input_mode = "{big}"\ntools = ["{big}"]')
    err = refused(tmp_path)
    assert len(err) < 2000, len(err)  # one short line per mistake, not 100 MB
    cut = f"{'x' * 80!r}…({BIG:,} chars)"
    assert (f"{tmp_path / 'models.toml'}: [[models]] entry 1 ('coderbot'): field 'temperature': "
            f"Input should be a valid number, unable to parse string as a number (got {cut})") in err
    # the team file is checked once models.toml is good
    write(tmp_path, member_extra=f'human_input_mode = "{big}"')
    err = refused(tmp_path)
    assert len(err) < 2000 and f"field 'human_input_mode': " in err and f"(got {cut})" in err
    write(tmp_path, member_extra=f'tools = ["{big}"]')
    err = refused(tmp_path)
    assert len(err) < 2000 and f"field 'tools': no tool named {cut}" in err


def test_shown_cuts_long_values_and_keeps_short_ones():
    assert shown("short") == "'short'" and shown(7) == "7"
    assert shown("y" * 1000) == f"{'y' * 80!r}…(1,000 chars)"
    assert shown(list(range(1000))).endswith("…(4,890 chars)")


# -- a bad `# filename:` fails its block, the chat goes on ---------------------------------------------

def test_a_bad_filename_fails_its_block_and_the_chat_goes_on(tmp_path):
    long_name = "a" * 300 + ".py"
    replies = [
        f"```python\n# filename: {long_name}\nprint(1)\n```",
        "```python\n# filename: pkg/\nprint(2)\n```",
        "```sh\nmkdir -p made\n```",
        "```python\n# filename: made\nprint(3)\n```",
        "```python\n# filename: made/ok.py\nprint('still', 6 * 7)\n```",
        "The answer is 42. DONE",
    ]
    models = ('schema_version = 1\ndefault = "coderbot"\n[[models]]\nname = "coderbot"\nbackend = "scripted"\n'
              'replies = [\n' + "".join(f"  '''{r}''',\n" for r in replies) + "]\n")
    write(tmp_path, models_text=models)
    result = moot("run", "team.toml", "--task", "What is six times seven?", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    out = result.stdout
    assert f"filename {'a' * 80!r}…(303 chars) is too long: at most 200 characters" in out
    assert "filename 'pkg/' names a folder, not a file" in out
    assert "'made' is a folder in the work dir, so the code block cannot be saved under that name" in out
    assert "still 42" in out and "The answer is 42. DONE" in out
    assert sorted(p.name for p in (tmp_path / "work").iterdir() if not p.name.startswith("tmp_code_")) == ["made"]
