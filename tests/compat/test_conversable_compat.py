"""Issue 10, items 4, 5, 7 and 9: ConversableAgent's AutoGen 0.2 surface, called as an AutoGen user
calls it (sync reply steps, tool state in llm_config, hooks, history, reply_at_receive), on
scripted models."""

from __future__ import annotations

import warnings
from typing import Annotated

import pytest

import moot as autogen
from moot import ConversableAgent, UserProxyAgent, register_function
from moot.backends.config import scripted_models
from moot.exception_utils import InvalidCarryOverType, SenderRequired


def quiet(name: str, **kw) -> ConversableAgent:
    return ConversableAgent(name, llm_config=kw.pop("llm_config", False), human_input_mode="NEVER", **kw)


# -- item 4: the sync reply steps -----------------------------------------------------------------

def test_generate_oai_reply_called_directly_and_replaced_in_a_chat():
    autogen.use_models(scripted_models({"m": ["from the model"]}, source="test"))
    asst = quiet("asst", llm_config="m")
    assert asst.generate_oai_reply([{"role": "user", "content": "hi"}]) == (True, "from the model")

    seen = []

    def canned(recipient, messages=None, sender=None, config=None):
        seen.append(messages[-1]["content"])
        return True, "canned"

    asst.replace_reply_func(ConversableAgent.generate_oai_reply, canned)
    user = quiet("user", max_consecutive_auto_reply=0)
    result = user.initiate_chat(asst, message="question", max_turns=1, silent=True)
    assert seen == ["question"]
    assert result.chat_history[-1]["content"] == "canned"


def test_a_sync_builtin_step_registered_again_runs_as_its_async_form():
    asst = quiet("asst")
    asst.register_reply([ConversableAgent, None], ConversableAgent.generate_tool_calls_reply)
    assert ConversableAgent.a_generate_tool_calls_reply in asst.reply_funcs
    assert ConversableAgent.generate_tool_calls_reply not in asst.reply_funcs


def test_tool_calls_and_function_call_steps_called_directly():
    def add(a: int, b: int) -> int:
        return a + b

    proxy = quiet("proxy", function_map={"add": add})
    call = {"role": "assistant", "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}]}
    final, reply = proxy.generate_tool_calls_reply([call])
    assert final and reply["tool_responses"] == [{"tool_call_id": "c1", "role": "tool", "content": "3"}]

    legacy = {"role": "assistant", "function_call": {"name": "add", "arguments": '{"a": 2, "b": 5}'}}
    assert proxy.generate_function_call_reply([legacy]) == (True, {"name": "add", "role": "function", "content": "7"})
    assert proxy.generate_reply(messages=[legacy])["content"] == "7"
    ok, result = proxy.execute_function({"name": "nope", "arguments": "{}"})
    assert not ok and "Function nope not found" in result["content"]
    assert proxy.generate_function_call_reply([{"role": "user", "content": "no call"}]) == (False, None)


def test_check_termination_and_human_reply_called_directly():
    agent = quiet("agent", max_consecutive_auto_reply=1)
    other = quiet("other")
    assert agent.check_termination_and_human_reply([{"role": "user", "content": "TERMINATE"}], other) == (True, None)
    assert agent.check_termination_and_human_reply([{"role": "user", "content": "go on"}], other) == (False, None)
    assert agent.check_termination_and_human_reply([{"role": "user", "content": "go on"}], other) == (True, None)


def test_generate_code_execution_reply_called_directly(tmp_path):
    agent = quiet("runner", code_execution_config={"work_dir": str(tmp_path), "use_docker": False})
    final, reply = agent.generate_code_execution_reply([{"role": "user", "content": "```python\nprint(6 * 7)\n```"}])
    assert final and reply.startswith("exitcode: 0") and "42" in reply
    assert agent.generate_code_execution_reply([{"role": "user", "content": "no code"}]) == (False, None)


def test_generate_reply_needs_messages_or_a_sender_and_a_name_trigger_needs_a_sender():
    agent = quiet("agent")
    with pytest.raises(AssertionError):
        agent.generate_reply(messages=None, sender=None)
    agent.register_reply(["someone", None], lambda *a, **k: (True, "x"))
    with pytest.raises(SenderRequired):
        agent.generate_reply(messages=[{"role": "user", "content": "hi"}], sender=None)


def test_a_sync_chat_refuses_an_async_reply_step_unless_told_to_ignore_it():
    agent, other = quiet("a0", max_consecutive_auto_reply=0), quiet("a1", max_consecutive_auto_reply=0)

    async def a_reply(recipient, messages, sender, config):
        return True, "async hello"

    agent.register_reply(other, a_reply)
    with pytest.raises(RuntimeError, match="The following async reply functions are found: a_reply"):
        other.initiate_chat(agent, message="hi")
    third = quiet("a2", max_consecutive_auto_reply=0)
    third.register_reply(other, a_reply, ignore_async_in_sync_chat=True)
    other.initiate_chat(third, message="hi", silent=True)  # no error
    assert other.last_message(third)["content"] == "async hello"  # moot runs it all the same


# -- item 5: tool state where AutoGen keeps it ----------------------------------------------------

def _agent_with_model() -> ConversableAgent:
    autogen.use_models(scripted_models({"m": ["ok"]}, source="test"))
    return ConversableAgent("caller", llm_config={"config_list": [{"model": "m"}]})


def test_register_for_llm_fills_llm_config_tools_and_functions():
    caller = _agent_with_model()

    @caller.register_for_llm(description="Add two numbers.")
    def add(a: Annotated[int, "first"], b: Annotated[int, "second"]) -> int:
        return a + b

    (entry,) = caller.llm_config["tools"]
    assert entry["type"] == "function" and entry["function"]["name"] == "add"
    assert entry["function"]["parameters"]["properties"]["a"] == {"type": "integer", "description": "first"}
    assert [t.name for t in caller.llm_tools] == ["add"]

    @caller.register_for_llm(name="mul", description="Multiply.", api_style="function")
    def mul(a: int, b: int) -> int:
        return a * b

    assert [f["name"] for f in caller.llm_config["functions"]] == ["mul"]
    caller.update_tool_signature("add", is_remove=True)
    assert "tools" not in caller.llm_config and [t.name for t in caller.llm_tools] == ["mul"]


def test_register_for_llm_refusals():
    caller = _agent_with_model()
    with pytest.raises(ValueError, match="Function description is required"):
        @caller.register_for_llm()
        def undocumented(x: int) -> int:
            return x
    with pytest.raises(AssertionError, match="must have an llm_config"):
        @quiet("no_model").register_for_llm(description="d")
        def f(x: int) -> int:
            return x


def test_update_signatures_warn_on_override_and_function_map_shows_functions():
    caller = _agent_with_model()
    caller.update_function_signature({"name": "sh", "parameters": {"type": "object", "properties": {}}}, is_remove=False)
    with pytest.warns(UserWarning, match="Function 'sh' is being overridden"):
        caller.update_function_signature({"name": "sh"}, is_remove=False)
    assert [f["name"] for f in caller.llm_config["functions"]] == ["sh"]

    def run_sh(script: str) -> str:
        return script

    caller.register_function({"sh": run_sh})
    assert caller.function_map == {"sh": run_sh} and caller.can_execute_function("sh")
    with pytest.warns(UserWarning, match="Function 'sh' is being overridden"):
        caller.register_function({"sh": run_sh})
    caller.register_function({"sh": None})
    assert not caller.can_execute_function("sh")


def test_register_for_execution_shows_the_wrapped_function_and_runs_it():
    caller = _agent_with_model()
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)

    def double(n: Annotated[int, "a number"]) -> int:
        return 2 * n

    register_function(double, caller=caller, executor=user, description="Double a number.")
    wrapped = user.function_map["double"]
    assert wrapped._origin is double
    assert wrapped(n="21") == "42"  # arguments converted, the result as the text the model gets
    assert caller.llm_config["tools"][0]["function"]["name"] == "double"


def test_llm_config_dict_is_copied_per_agent():
    autogen.use_models(scripted_models({"m": ["ok"]}, source="test"))
    shared = {"config_list": [{"model": "m"}]}
    a, b = ConversableAgent("a", llm_config=shared), ConversableAgent("b", llm_config=shared)
    a.update_tool_signature({"type": "function", "function": {"name": "t", "description": "d"}}, is_remove=False)
    assert "tools" not in shared and "tools" not in b.llm_config


# -- item 7: hooks as AutoGen calls them ----------------------------------------------------------

def test_before_send_hook_gets_what_is_sent():
    sender, receiver = quiet("s"), quiet("r")
    got = []

    def hook(sender, message, recipient, silent):
        got.append(message)
        return message

    sender.register_hook("process_message_before_send", hook)
    sender.send("plain", receiver, request_reply=False, silent=True)
    sender.send({"content": "as dict"}, receiver, request_reply=False, silent=True)
    assert got == ["plain", {"content": "as dict"}]


async def test_async_hooks_run_in_an_async_chat():
    sender, receiver = quiet("s"), quiet("r", default_auto_reply="fine")

    async def shout(sender, message, recipient, silent):
        return message.upper()

    async def expand(content):
        return content + " [expanded]"

    sender.register_hook("a_process_message_before_send", shout)
    receiver.register_hook("a_process_last_received_message", expand)
    messages = [{"role": "user", "content": "hello"}]
    await receiver.a_generate_reply(messages=messages, sender=None)
    assert messages[-1]["content"] == "hello [expanded]"  # AutoGen edits the given messages
    await sender.a_send("quiet please", receiver, request_reply=False, silent=True)
    assert receiver.chat_messages[sender][-1]["content"] == "QUIET PLEASE"


def test_register_hook_checks_as_autogen_does():
    agent = quiet("a")

    async def a_hook(messages):
        return messages

    with pytest.warns(UserWarning, match="asynchronous, but it's being registered in a synchronous context"):
        agent.register_hook("process_all_messages_before_reply", a_hook)
    with pytest.raises(AssertionError, match="already registered"):
        agent.register_hook("process_all_messages_before_reply", a_hook)
    with pytest.raises(AssertionError, match="nope is not a hookable method"):
        agent.register_hook("nope", a_hook)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agent.register_hook("a_process_all_messages_before_reply", a_hook)


# -- item 9: keywords that act --------------------------------------------------------------------

def test_last_message_of_a_stranger_raises_key_error_and_clear_history_forgets():
    a, b, stranger = quiet("a"), quiet("b"), quiet("c")
    a.send("hi", b, request_reply=False, silent=True)
    assert a.last_message(b)["content"] == "hi"
    with pytest.raises(KeyError):
        a.last_message(stranger)
    for text in ("two", "three"):
        a.send(text, b, request_reply=False, silent=True)
    a.clear_history(nr_messages_to_preserve=1)
    assert [m["content"] for m in a.chat_messages[b]] == ["three"]
    a.clear_history()
    with pytest.raises(KeyError):
        a.last_message(b)


def test_reply_at_receive_after_a_chat_and_stop_reply_at_receive():
    bot = quiet("bot", max_consecutive_auto_reply=5, default_auto_reply="auto")
    user = quiet("user", max_consecutive_auto_reply=0)
    user.initiate_chat(bot, message="hello", silent=True)
    assert user.reply_at_receive[bot] is True and bot.reply_at_receive[user] is True
    user.send("again", bot, silent=True)  # bot replies, as it would in AutoGen
    assert user.last_message(bot)["content"] == "auto"
    bot.stop_reply_at_receive(user)
    user.send("once more", bot, silent=True)
    assert user.last_message(bot)["content"] == "once more"


def test_carryover_in_the_first_message():
    agent = quiet("a")
    assert agent.generate_init_message("task", carryover=["one", {"content": "two"}]) == "task\nContext: \none\ntwo"
    mm = {"content": [{"type": "text", "text": "see"}, {"type": "image_url", "image_url": {"url": "x"}}]}
    out = agent.generate_init_message(mm, carryover="before")
    assert len(out["content"]) == 3 and out["content"][0]["text"] == "\nContext: \nbefore" and len(mm["content"]) == 2
    with pytest.raises(InvalidCarryOverType):
        agent.generate_init_message("task", carryover=3)


def test_code_executor_attribute(tmp_path):
    from moot.coding import LocalCommandLineCodeExecutor

    executor = LocalCommandLineCodeExecutor(work_dir=tmp_path)
    assert quiet("a", code_execution_config={"executor": executor}).code_executor is executor
    assert quiet("b").code_executor is None
