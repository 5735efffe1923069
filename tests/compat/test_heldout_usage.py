"""AutoGen 0.2 usages beyond AutoGen's own tests, as a ported script writes them: the top-level
names (``Cache``, ``OpenAIWrapper``, ``__version__``), the client's ``create`` on scripted models
and on a loopback stand-in for OpenAI, and an agent's usage summaries."""

from __future__ import annotations

import asyncio
from typing import Annotated

import pytest
from pydantic import BaseModel

import moot as autogen
from moot.backends.config import scripted_models


class Money(BaseModel):
    amount: float
    currency: str


def test_the_top_level_names_a_script_reaches_for():
    from moot.cache import Cache
    from moot.oai.client import ModelClient, OpenAIWrapper

    assert autogen.Cache is Cache and autogen.OpenAIWrapper is OpenAIWrapper
    assert autogen.oai.OpenAIWrapper is OpenAIWrapper and autogen.ModelClient is ModelClient
    assert autogen.__version__.count(".") >= 1


def test_the_legacy_completion_classes_are_refused_naming_the_client():
    with pytest.raises(AttributeError, match=r"OpenAIWrapper\(config_list=.*\)\.create\(messages="):
        autogen.Completion
    with pytest.raises(AttributeError, match="ChatCompletion"):
        autogen.ChatCompletion


def test_a_user_proxy_with_a_mode_that_does_not_exist_is_a_clear_error():
    with pytest.raises(ValueError, match="human_input_mode must be ALWAYS, TERMINATE or NEVER, not 'SOMETIMES'"):
        autogen.UserProxyAgent("user", human_input_mode="SOMETIMES")


def test_the_client_answers_from_a_config_list_in_openais_shape():
    autogen.use_models(scripted_models({"m": ["the answer"]}, source="test"))
    llm_config = {"config_list": [{"model": "m"}], "cache_seed": None, "temperature": 0.2, "timeout": 30}
    client = autogen.OpenAIWrapper(**llm_config)
    assert client.total_usage_summary is None
    response = client.create(messages=[{"role": "user", "content": "a question"}])
    assert response.choices[0].message.content == "the answer" and response.cost == 0.0
    assert client.extract_text_or_completion_object(response) == ["the answer"]
    summary = client.total_usage_summary
    assert summary["total_cost"] == 0.0 and summary["m"]["total_tokens"] > 0


def test_the_client_returns_a_tool_call_as_the_message(tmp_path):
    autogen.use_models(scripted_models({"m": [{"tool_calls": [{"name": "lookup", "arguments": {"q": "x"}}]}]},
                                       source="test"))
    client = autogen.OpenAIWrapper(config_list=[{"model": "m"}])
    tool = {"type": "function", "function": {"name": "lookup", "description": "look up",
                                             "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}
    response = client.create(messages=[{"role": "user", "content": "find x"}], tools=[tool])
    [message] = client.extract_text_or_completion_object(response)
    assert message.tool_calls[0].function.name == "lookup" and '"q"' in message.tool_calls[0].function.arguments
    assert response.choices[0].finish_reason == "tool_calls"


def test_the_client_takes_a_cache_and_counts_a_hit_only_in_the_total(tmp_path):
    autogen.use_models(scripted_models({"m": ["first", "second"]}, source="test"))
    client = autogen.OpenAIWrapper(config_list=[{"model": "m"}])
    with autogen.Cache.disk(cache_seed=7, cache_path_root=str(tmp_path)) as cache:
        one = client.create(messages=[{"role": "user", "content": "hi"}], cache=cache)
        two = client.create(messages=[{"role": "user", "content": "hi"}], cache=cache)
    assert one.choices[0].message.content == two.choices[0].message.content == "first"
    assert two.is_cached and not one.is_cached
    total, actual = client.total_usage_summary["m"], client.actual_usage_summary["m"]
    assert total["completion_tokens"] == 2 * actual["completion_tokens"]
    client.clear_usage_summary()
    assert client.total_usage_summary is None


def test_the_client_talks_to_an_openai_server(openai_standin):
    standin = openai_standin(["from the server"])
    client = autogen.OpenAIWrapper(config_list=[{"model": "gpt-4o", "api_key": "sk-test", "base_url": standin.url}])
    response = client.create(messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
                             temperature=0)
    assert client.extract_text_or_completion_object(response) == ["from the server"]
    [request] = standin.requests
    assert request["auth"] == "Bearer sk-test" and request["body"]["model"] == "gpt-4o"
    assert request["body"]["messages"][-1] == {"role": "user", "content": "hi"}
    assert response.usage.total_tokens == 10


def test_the_client_refuses_what_moot_does_not_take():
    autogen.use_models(scripted_models({"m": ["x"]}, source="test"))
    client = autogen.OpenAIWrapper(config_list=[{"model": "m"}])
    with pytest.raises(TypeError, match="needs messages="):
        client.create(prompt="Complete: {text}", context={"text": "hi"})
    with pytest.raises(NotImplementedError, match="models.toml"):
        client.register_model_client(object)


def test_an_agents_usage_summaries_and_their_print(capsys):
    autogen.use_models(scripted_models({"m": ["hello"]}, source="test"))
    assistant = autogen.AssistantAgent("assistant", llm_config={"config_list": [{"model": "m"}]})
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
    assert assistant.get_total_usage() is None
    user.initiate_chat(assistant, message="hi", max_turns=1, silent=True)
    total, actual = assistant.get_total_usage(), assistant.get_actual_usage()
    assert total["total_cost"] == 0.0 and total["m"]["completion_tokens"] > 0
    assert actual["m"]["completion_tokens"] == total["m"]["completion_tokens"]
    assert user.get_total_usage() is None and user.get_actual_usage() is None
    capsys.readouterr()
    assistant.print_usage_summary()
    user.print_usage_summary(mode="total")
    out = capsys.readouterr().out
    assert "Agent 'assistant':" in out and "* Model 'm':" in out
    assert "No cost incurred from agent 'user'." in out


def test_token_counts_of_text_messages_and_functions():
    from moot.token_count_utils import count_token, get_max_token_limit, num_tokens_from_functions, token_left

    autogen.use_models(scripted_models({"m": ["x"]}, source="test"))
    assert count_token("hello world, friend") == 4
    one = count_token([{"role": "user", "content": "hi there"}])
    assert one > 2 and count_token([{"role": "user", "content": "hi there"}] * 2) > one
    assert get_max_token_limit("gpt-4o") == 128000 and get_max_token_limit("m") == 8192
    assert token_left("a b c", "m") == 8192 - 3
    assert num_tokens_from_functions([{"name": "f", "parameters": {"type": "object"}}]) > 0
    with pytest.raises(ValueError, match="'llama9'.*context_length in models.toml"):
        get_max_token_limit("llama9")
    assert autogen.token_count_utils.count_token is count_token


def test_a_functions_schema_for_a_hand_written_tools_list():
    from moot.function_utils import get_function_schema

    def forecast(city: Annotated[str, "the city"], days: int = 3) -> str:
        return city

    schema = get_function_schema(forecast, name="weather", description="the forecast")
    assert schema["type"] == "function" and schema["function"]["name"] == "weather"
    assert schema["function"]["description"] == "the forecast"
    parameters = schema["function"]["parameters"]
    assert parameters["required"] == ["city"] and parameters["properties"]["city"]["description"] == "the city"
    assert parameters["properties"]["days"]["type"] == "integer"

    def untyped(place, when=None):
        return place

    with pytest.raises(TypeError, match="'untyped': annotate the parameters 'place'"):
        get_function_schema(untyped, description="x")
    assert autogen.function_utils.get_function_schema is get_function_schema


def test_pydantic_arguments_are_loaded_and_results_serialized():
    from moot.function_utils import load_basemodels_if_needed, serialize_to_str

    @load_basemodels_if_needed
    def double(money: Annotated[Money, "the sum"]) -> Money:
        return Money(amount=money.amount * 2, currency=money.currency)

    @load_basemodels_if_needed
    async def a_double(money: Money) -> float:
        return money.amount * 2

    assert double(money={"amount": 2, "currency": "EUR"}) == Money(amount=4, currency="EUR")
    assert asyncio.run(a_double(money={"amount": 1.5, "currency": "USD"})) == 3.0
    assert serialize_to_str(Money(amount=1, currency="€")) == '{"amount":1.0,"currency":"€"}'
    assert serialize_to_str({"name": "Zoë"}) == '{"name": "Zoë"}' and serialize_to_str("as is") == "as is"


class RecordingStream:
    """A custom IOStream, as a web UI writes one: keeps what agents print, answers from a list."""

    def __init__(self, answers):
        self.printed, self.prompts, self.answers = [], [], list(answers)

    def print(self, *objects, sep=" ", end="\n", flush=False):
        self.printed.append(sep.join(map(str, objects)) + end)

    def input(self, prompt="", *, password=False):
        self.prompts.append(prompt)
        return self.answers.pop(0)


def test_a_custom_iostream_gets_the_messages_and_the_human_turns(capsys):
    from moot.io import IOConsole, IOStream

    autogen.use_models(scripted_models({"m": ["first answer", "second answer"]}, source="test"))
    assistant = autogen.AssistantAgent("assistant", llm_config={"config_list": [{"model": "m"}]})
    user = autogen.UserProxyAgent("user", human_input_mode="ALWAYS", code_execution_config=False)
    stream = RecordingStream(["tell me more", "exit"])
    assert isinstance(IOStream.get_default(), IOConsole)
    with IOStream.set_default(stream):
        assert IOStream.get_default() is stream
        result = user.initiate_chat(assistant, message="a question")
    assert isinstance(IOStream.get_default(), IOConsole)
    assert result.human_input == ["tell me more", "exit"] and len(stream.prompts) == 2
    printed = "".join(stream.printed)
    assert "user (to assistant):" in printed and "first answer" in printed and "second answer" in printed
    assert "first answer" not in capsys.readouterr().out


def test_the_global_stream_and_what_moot_io_does_not_have():
    from moot.io import IOStream

    before = IOStream.get_global_default()
    stream = RecordingStream([])
    IOStream.set_global_default(stream)
    try:
        a = autogen.ConversableAgent("a", llm_config=False, human_input_mode="NEVER")
        b = autogen.ConversableAgent("b", llm_config=False, human_input_mode="NEVER", default_auto_reply="pong")
        a.initiate_chat(b, message="ping", max_turns=1)
    finally:
        IOStream.set_global_default(before)
    assert "b (to a):\n\npong" in "".join(stream.printed)
    with pytest.raises(NotImplementedError, match="no IOWebsockets: give IOStream.set_default"):
        autogen.io.IOWebsockets.run_server_in_thread(on_connect=print, port=0)


def test_a_stream_subclass_nests_and_a_new_thread_sees_the_console():
    import threading

    from moot.io import IOConsole, IOStream

    class Quiet(IOStream):
        def print(self, *objects, sep=" ", end="\n", flush=False):
            pass

        def input(self, prompt="", *, password=False):
            return "fine"

    seen = []
    with IOStream.set_default(Quiet()):
        with IOStream.set_default(IOConsole()):
            assert isinstance(IOStream.get_default(), IOConsole)
        assert IOStream.get_default().input("?") == "fine"
        thread = threading.Thread(target=lambda: seen.append(IOStream.get_default()))
        thread.start()
        thread.join()
    assert isinstance(seen[0], IOConsole)


def test_tags_in_a_message_are_parsed_from_text_and_multimodal_content():
    parse = autogen.agentchat.utils.parse_tags_from_content
    text = "Compare <img http://example.com/a=1.png width='64'> with <img src=\"http://example.com/b.png\">"

    def plain(found):
        return [(t["tag"], t["attr"]) for t in found]

    expected = [("img", {"src": "http://example.com/a=1.png", "width": "64"}), ("img", {"src": "http://example.com/b.png"})]
    assert plain(parse("img", text)) == expected
    assert plain(parse("img", [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": "x"}}])) == expected
    [speech] = parse("audio", "say <audio text='it's late' voice='calm'> please")
    assert speech["attr"] == {"text": "it's late", "voice": "calm"} and speech["match"].group(0).startswith("<audio")
    assert parse("audio", text) == []
    with pytest.raises(ValueError, match="content must be a string or a list"):
        parse("img", 3)


def test_a_transition_graph_is_checked_inverted_and_used(caplog):
    import moot.graph_utils as graph_utils

    a, b, c, d = (autogen.ConversableAgent(n, llm_config=False, human_input_mode="NEVER", default_auto_reply=n.lower())
                  for n in "ABCD")
    disallowed = {a: [a], b: [b, a], c: [c]}
    allowed = graph_utils.invert_disallowed_to_allowed(disallowed, [a, b, c])
    assert allowed == {a: [b, c], b: [c], c: [a, b]} and not graph_utils.has_self_loops(allowed)
    assert graph_utils.has_self_loops({a: [a]})
    graph_utils.check_graph_validity(allowed, [a, b, c])
    with caplog.at_level("WARNING"):
        graph_utils.check_graph_validity({a: [b, b]}, [a, b, d])
    assert "isolated agents" in caplog.text and "'D'" in caplog.text and "duplicate agents" in caplog.text
    with pytest.raises(ValueError, match="keys not in agents"):
        graph_utils.check_graph_validity({d: [a]}, [a, b])
    with pytest.raises(ValueError, match="lists as values"):
        graph_utils.check_graph_validity({a: b}, [a, b])
    chat = autogen.GroupChat(agents=[a, b, c], messages=[], max_round=4, speaker_selection_method="round_robin",
                             allowed_or_disallowed_speaker_transitions=allowed, speaker_transitions_type="allowed")
    a.initiate_chat(autogen.GroupChatManager(groupchat=chat, llm_config=False), message="go", silent=True)
    assert [m["name"] for m in chat.messages] == ["A", "B", "C", "A"]


def test_autogen_use_docker_decides_an_agents_code_execution(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOGEN_USE_DOCKER", "False")
    assert autogen.UserProxyAgent("user", human_input_mode="NEVER")._code_execution_config["use_docker"] is False
    given = autogen.UserProxyAgent("given", human_input_mode="NEVER", code_execution_config={"use_docker": True})
    assert given._code_execution_config["use_docker"] is True
    assert autogen.UserProxyAgent("off", code_execution_config=False)._code_execution_config is False
    chosen = autogen.UserProxyAgent("chosen", code_execution_config={"executor": "sandbox"})
    assert "use_docker" not in chosen._code_execution_config
    monkeypatch.setenv("AUTOGEN_USE_DOCKER", "none")
    assert "use_docker" not in autogen.UserProxyAgent("default", human_input_mode="NEVER")._code_execution_config
    monkeypatch.setenv("AUTOGEN_USE_DOCKER", "perhaps")
    with pytest.raises(ValueError, match="AUTOGEN_USE_DOCKER='perhaps' is not understood"):
        autogen.UserProxyAgent("bad", human_input_mode="NEVER")
    monkeypatch.delenv("AUTOGEN_USE_DOCKER")
    assert "use_docker" not in autogen.UserProxyAgent("unset", human_input_mode="NEVER")._code_execution_config

    monkeypatch.setenv("AUTOGEN_USE_DOCKER", "0")
    autogen.use_models(scripted_models({"m": ["```python\nprint(6 * 7)\n```", "TERMINATE"]}, source="test"))
    assistant = autogen.AssistantAgent("assistant", llm_config={"config_list": [{"model": "m"}]})
    runner = autogen.UserProxyAgent("runner", human_input_mode="NEVER", code_execution_config={"work_dir": str(tmp_path)},
                                    is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""))
    result = runner.initiate_chat(assistant, message="compute", silent=True)
    assert "exitcode: 0" in result.chat_history[2]["content"] and "42" in result.chat_history[2]["content"]


def test_a_custom_model_client_is_refused_saying_what_to_do():
    class LocalClient:
        def __init__(self, config, **kwargs):
            pass

    autogen.use_models(scripted_models({"m": ["x"]}, source="test"))
    entry = {"model": "open-llama", "model_client_cls": "LocalClient"}
    with pytest.raises(NotImplementedError, match=r"config_list'\]\[0\]: model_client_cls 'LocalClient'.*models.toml"):
        autogen.AssistantAgent("assistant", llm_config={"config_list": [entry]})
    assistant = autogen.AssistantAgent("assistant", llm_config={"config_list": [{"model": "m"}]})
    with pytest.raises(NotImplementedError, match="register_model_client\\(LocalClient\\) is not supported"):
        assistant.register_model_client(model_client_cls=LocalClient)


def test_a_cache_seed_caches_as_autogens_client_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    autogen.use_models(scripted_models({"m": ["seeded", "fresh", "unseeded"]}, source="test"))
    client = autogen.OpenAIWrapper(config_list=[{"model": "m"}])
    question = [{"role": "user", "content": "three tips"}]
    first = client.create(messages=question, cache_seed=41)
    again = client.create(messages=question, cache_seed=41)
    assert first.choices[0].message.content == again.choices[0].message.content == "seeded" and again.is_cached
    assert (tmp_path / ".cache" / "41").is_dir()
    assert client.create(messages=question, cache_seed=None).choices[0].message.content == "fresh"
    assert client.total_usage_summary["m"]["completion_tokens"] > client.actual_usage_summary["m"]["completion_tokens"]
    assert autogen.OpenAIWrapper(config_list=[{"model": "m"}]).create(messages=question).choices[0].message.content == "unseeded"


def test_async_chats_by_chat_id_carry_over_their_prerequisites():
    autogen.use_models(scripted_models({"r": ["research notes"], "w": ["a draft"], "c": ["a critique"]}, source="test"))
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
    researcher = autogen.AssistantAgent("researcher", llm_config="r")
    writer = autogen.AssistantAgent("writer", llm_config="w")
    critic = autogen.AssistantAgent("critic", llm_config="c")
    queue = [
        {"chat_id": 3, "prerequisites": [1, 2], "recipient": critic, "message": "critique", "max_turns": 1,
         "silent": True},
        {"chat_id": 1, "recipient": researcher, "message": "research", "max_turns": 1, "silent": True},
        {"chat_id": 2, "prerequisites": [1], "recipient": writer, "message": "write", "max_turns": 1,
         "carryover": "be brief", "silent": True},
    ]
    results = asyncio.run(user.a_initiate_chats(queue))
    assert list(results) == [1, 2, 3] and results[3].summary == "a critique"
    assert writer.chat_messages[user][0]["content"] == "write\nContext: \nbe brief\nresearch notes"
    assert critic.chat_messages[user][0]["content"] == "critique\nContext: \nresearch notes\na draft"
    assert user.get_chat_results(2).summary == "a draft" and user.get_chat_results() is results

    with pytest.raises(ValueError, match=r"chat 1 has prerequisites \[9\] that no chat_id names"):
        asyncio.run(user.a_initiate_chats([{"chat_id": 1, "prerequisites": [9], "recipient": writer, "message": "x"}]))
    looped = [{"chat_id": 1, "prerequisites": [2], "recipient": writer, "message": "x"},
              {"chat_id": 2, "prerequisites": [1], "recipient": critic, "message": "y"}]
    with pytest.raises(ValueError, match=r"prerequisites of chats \[1, 2\] wait on each other"):
        asyncio.run(user.a_initiate_chats(looped))


def test_sync_chats_ignore_chat_ids_and_are_kept_on_the_sender():
    autogen.use_models(scripted_models({"m": ["one", "two"]}, source="test"))
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
    helper = autogen.AssistantAgent("helper", llm_config="m")
    results = user.initiate_chats([{"chat_id": 7, "recipient": helper, "message": "a", "max_turns": 1, "silent": True},
                                   {"chat_id": 8, "recipient": helper, "message": "b", "max_turns": 1, "silent": True}])
    assert [r.summary for r in results] == ["one", "two"] and user.get_chat_results(1) is results[1]
    assert "one" in helper.chat_messages[user][0]["content"]
