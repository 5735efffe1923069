"""Issue 10, item 10: the opt-in reply cache (``moot.cache``) and runtime logging
(``moot.runtime_logging``), as an AutoGen 0.2 user calls them, on scripted models and real
SQLite files."""

from __future__ import annotations

import json
import sqlite3

import pytest

import moot as autogen
from moot import AssistantAgent, ConversableAgent, UserProxyAgent
from moot.backends.config import scripted_models
from moot.cache import Cache
from moot.cache.in_memory_cache import InMemoryCache

SECRET = "sk-test-0123456789abcdefghij"


@pytest.fixture(autouse=True)
def _logging_stopped():
    yield
    autogen.runtime_logging.stop()


def quiet(name: str, **kw) -> ConversableAgent:
    return ConversableAgent(name, llm_config=kw.pop("llm_config", False), human_input_mode="NEVER", **kw)


# -- the cache ------------------------------------------------------------------------------------

def test_an_identical_request_is_answered_from_the_disk_cache(tmp_path):
    autogen.use_models(scripted_models({"m": ["first answer", "second answer", "third answer"]}, source="test"))
    asst = quiet("asst", llm_config="m")
    question = [{"role": "user", "content": "what is moot?"}]
    with Cache.disk(cache_seed=3, cache_path_root=str(tmp_path)) as cache:
        assert asst.generate_reply(question, cache=cache) == "first answer"
        assert asst.generate_reply(question, cache=cache) == "first answer"  # the model is not asked
        other = [{"role": "user", "content": "and what is it not?"}]
        assert asst.generate_reply(other, cache=cache) == "second answer"
    assert asst.generate_reply(question) == "third answer"  # without the cache, the model answers
    assert (tmp_path / "3").is_dir()


def test_a_cached_chat_replays_without_the_model_and_survives_the_process(tmp_path):
    autogen.use_models(scripted_models({"m": ["cached reply"]}, source="test"))
    user, asst = quiet("user"), AssistantAgent("asst", llm_config="m")
    with Cache.disk(cache_seed=42, cache_path_root=str(tmp_path)) as cache:
        first = user.initiate_chat(asst, message="hello", max_turns=1, cache=cache, silent=True)
    assert first.chat_history[-1]["content"] == "cached reply"
    assert user.client_cache is None and asst.client_cache is None  # lent for the chat only

    # A new registry whose model would answer differently: the stored reply comes back.
    autogen.use_models(scripted_models({"m": ["a fresh reply"]}, source="test"))
    user, asst = quiet("user"), AssistantAgent("asst", llm_config="m")
    with Cache.disk(cache_seed=42, cache_path_root=str(tmp_path)) as cache:
        again = user.initiate_chat(asst, message="hello", max_turns=1, cache=cache, silent=True)
    assert again.chat_history[-1]["content"] == "cached reply"
    with Cache.disk(cache_seed=43, cache_path_root=str(tmp_path)) as cache:  # another seed, another store
        other = user.initiate_chat(asst, message="hello", max_turns=1, cache=cache, silent=True)
    assert other.chat_history[-1]["content"] == "a fresh reply"


def test_a_chat_queue_entry_may_name_a_cache():
    autogen.use_models(scripted_models({"m": ["queued once", "queued twice"]}, source="test"))
    user, asst = quiet("user"), quiet("asst", llm_config="m")
    cache = Cache.in_memory()
    chat = {"recipient": asst, "message": "same question", "max_turns": 1, "cache": cache, "silent": True}
    first, = user.initiate_chats([chat])
    second, = user.initiate_chats([chat])
    assert first.summary == second.summary == "queued once"


def test_tool_calls_are_cached_too():
    autogen.use_models(scripted_models({"m": [{"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]}]},
                                       source="test"))
    asst = quiet("asst", llm_config="m")
    cache = Cache.in_memory()
    first = asst.generate_reply([{"role": "user", "content": "1+2"}], cache=cache)
    second = asst.generate_reply([{"role": "user", "content": "1+2"}], cache=cache)
    assert first["tool_calls"][0]["function"]["name"] == "add" and second == first


def test_nothing_is_written_unless_a_cache_is_asked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    autogen.use_models(scripted_models({"m": ["hi"]}, source="test"))
    quiet("user").initiate_chat(quiet("asst", llm_config={"model": "m", "cache_seed": 41}), message="x", max_turns=1,
                                silent=True)
    Cache.disk(cache_seed=5)  # made, never used to store a reply
    assert list(tmp_path.iterdir()) == []


def test_the_cache_key_holds_no_api_key(tmp_path):
    seen: list[str] = []

    class Watching(InMemoryCache):
        def get(self, key, default=None):
            seen.append(key)
            return super().get(key, default)

    autogen.use_models(scripted_models({"m": ["ok"]}, source="test"))
    asst = quiet("asst", llm_config={"config_list": [{"model": "m", "api_key": SECRET}]})
    asst.generate_reply([{"role": "user", "content": "hi"}], cache=Watching())
    assert seen and all(SECRET not in k for k in seen)
    with Cache.disk(cache_path_root=str(tmp_path)) as cache:
        asst.generate_reply([{"role": "user", "content": "hi"}], cache=cache)
    assert all(SECRET.encode() not in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_a_cache_object_is_a_plain_store_too(tmp_path):
    with Cache.disk(cache_seed="s", cache_path_root=str(tmp_path)) as cache:
        assert cache.get("missing", "default") == "default"
        cache.set("k", {"any": ["value"]})
        assert cache.get("k") == {"any": ["value"]}
    with pytest.raises(ValueError, match="Invalid config key: colour"):
        Cache({"cache_seed": 1, "colour": "blue"})


def test_redis_without_the_package_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "redis", None)  # redis is no dependency of moot: as where it is missing
    with pytest.raises(ImportError, match="pip install redis"):
        Cache.redis()


# -- runtime logging --------------------------------------------------------------------------

def rows(db, query):
    con = sqlite3.connect(db)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_a_logged_chat_can_be_queried_as_autogens_tables(tmp_path):
    db = tmp_path / "logs.db"
    autogen.use_models(scripted_models({"m": ["logged answer"]}, source="test"))
    session_id = autogen.runtime_logging.start(logger_type="sqlite", config={"dbname": str(db)})
    assert autogen.runtime_logging.logging_enabled()
    user, asst = quiet("user"), AssistantAgent("asst", llm_config="m")
    user.initiate_chat(asst, message="log me", max_turns=1, silent=True)
    autogen.runtime_logging.stop()
    assert not autogen.runtime_logging.logging_enabled()

    (source, request, response, is_cached, sid), = rows(
        db, "SELECT source_name, request, response, is_cached, session_id FROM chat_completions")
    assert (source, is_cached, sid) == ("asst", 0, session_id)
    assert json.loads(request)["messages"][-1]["content"] == "log me"
    assert json.loads(response)["content"] == "logged answer"
    assert sorted(r[0] for r in rows(db, "SELECT name FROM agents")) == ["asst", "user"]
    events = rows(db, "SELECT source_name, event_name FROM events ORDER BY id")
    assert ("asst", "received_message") in events and ("asst", "reply_func_executed") in events


def test_a_cached_reply_is_logged_as_cached(tmp_path):
    autogen.use_models(scripted_models({"m": ["once"]}, source="test"))
    asst = quiet("asst", llm_config="m")
    cache = Cache.in_memory()
    autogen.runtime_logging.start(config={"dbname": str(tmp_path / "l.db")})
    for _ in range(2):
        asst.generate_reply([{"role": "user", "content": "q"}], cache=cache)
    autogen.runtime_logging.stop()
    assert rows(tmp_path / "l.db", "SELECT is_cached FROM chat_completions ORDER BY id") == [(0,), (1,)]


def test_tool_runs_are_logged_as_function_calls(tmp_path):
    autogen.runtime_logging.start(config={"dbname": str(tmp_path / "l.db")})
    user = UserProxyAgent("user", human_input_mode="NEVER", function_map={"twice": lambda n: n * 2})
    user.execute_function({"name": "twice", "arguments": '{"n": 4}'})
    autogen.runtime_logging.stop()
    (name, args, returns), = rows(tmp_path / "l.db", "SELECT function_name, args, returns FROM function_calls")
    assert name == "twice" and json.loads(returns) == "8" and '"n": 4' in json.loads(args)["arguments"]


def test_no_key_reaches_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVICE_TOKEN", SECRET)
    autogen.use_models(scripted_models({"m": [f"the token is {SECRET}"]}, source="test"))
    autogen.runtime_logging.start(config={"dbname": str(tmp_path / "l.db")})
    user = quiet("user")
    asst = AssistantAgent("asst", llm_config={"config_list": [{"model": "m", "api_key": SECRET}]})
    user.initiate_chat(asst, message=f"remember {SECRET}", max_turns=1, silent=True)
    autogen.runtime_logging.stop()
    assert SECRET.encode() not in (tmp_path / "l.db").read_bytes()
    assert rows(tmp_path / "l.db", "SELECT count(*) FROM chat_completions") == [(1,)]


def test_the_file_logger_writes_json_lines(tmp_path):
    path = tmp_path / "runtime.log"
    autogen.use_models(scripted_models({"m": ["in the file"]}, source="test"))
    autogen.runtime_logging.start(logger_type="file", config={"filename": str(path)})
    quiet("asst", llm_config="m").generate_reply([{"role": "user", "content": "q"}])
    autogen.runtime_logging.stop()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert any(r.get("response", {}).get("content") == "in the file" for r in records)


def test_logging_errors_a_user_can_cause_are_clear(tmp_path):
    with pytest.raises(ValueError, match="logger_type must be 'sqlite' or 'file'"):
        autogen.runtime_logging.start(logger_type="cosmos")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        autogen.runtime_logging.start(config={"dbname": str(tmp_path / "no" / "such" / "logs.db")})
    assert not autogen.runtime_logging.logging_enabled()
