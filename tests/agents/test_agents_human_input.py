"""human_input_mode rules, per-sender auto-reply counters and termination, on the scripted backend."""

from __future__ import annotations

import pytest

from moot.agents import AssistantAgent, ConversableAgent, UserProxyAgent

from agent_test_helpers import Human


def pair(models, replies, **user_kwargs):
    models(a=replies)
    user_kwargs.setdefault("code_execution_config", False)
    user = UserProxyAgent("user", **user_kwargs)
    asst = AssistantAgent("asst", llm_config="a")
    return user, asst


def contents(result):
    return [m["content"] for m in result.chat_history]


async def test_never_stops_at_max_consecutive_auto_reply(models):
    user, asst = pair(models, ["a1", "a2", "a3", "a4"], human_input_mode="NEVER", max_consecutive_auto_reply=2,
                      default_auto_reply="go on")
    result = await user.a_initiate_chat(asst, message="task", silent=True)
    assert contents(result) == ["task", "a1", "go on", "a2", "go on", "a3"]
    assert result.stop_condition == "max_consecutive_auto_reply"
    assert "max_consecutive_auto_reply (2)" in result.stop_reason
    assert result.human_input == []


async def test_never_stops_on_termination_message(models):
    user, asst = pair(models, ["a1", "TERMINATE"], human_input_mode="NEVER", default_auto_reply="go on")
    result = await user.a_initiate_chat(asst, message="task", silent=True)
    assert contents(result) == ["task", "a1", "go on", "TERMINATE"]
    assert result.stop_condition == "is_termination_msg"
    assert "user received a termination message from asst" == result.stop_reason


async def test_always_asks_every_turn_empty_means_auto_reply_and_exit_ends(models):
    user, asst = pair(models, ["a1", "a2", "a3"], human_input_mode="ALWAYS", default_auto_reply="auto!")
    human = Human("more", "", "exit")
    user.a_get_human_input = human
    result = await user.a_initiate_chat(asst, message="task", silent=True)
    assert contents(result) == ["task", "a1", "more", "a2", "auto!", "a3"]
    assert len(human.prompts) == 3
    assert all(p.startswith("Replying as user. Provide feedback to asst.") for p in human.prompts)
    assert result.human_input == ["more", "", "exit"]
    assert result.stop_condition == "human_exit"


async def test_always_empty_reply_on_termination_message_stops(models):
    user, asst = pair(models, ["TERMINATE"], human_input_mode="ALWAYS", default_auto_reply="auto!")
    user.a_get_human_input = Human("")
    result = await user.a_initiate_chat(asst, message="task", silent=True)
    assert contents(result) == ["task", "TERMINATE"]
    assert result.stop_condition == "is_termination_msg"


async def test_terminate_mode_asks_only_at_limit_or_termination_and_human_reply_resets_counter(models):
    user, asst = pair(models, ["a1", "a2", "a3", "TERMINATE"], human_input_mode="TERMINATE",
                      max_consecutive_auto_reply=1, default_auto_reply="auto")
    human = Human("keep going", "")
    user.a_get_human_input = human
    result = await user.a_initiate_chat(asst, message="task", silent=True)
    # a1 -> auto (counter 1); a2 -> limit: asked, human answers (counter reset);
    # a3 -> auto again; TERMINATE -> asked, empty -> stop
    assert contents(result) == ["task", "a1", "auto", "a2", "keep going", "a3", "auto", "TERMINATE"]
    assert len(human.prompts) == 2
    assert "Press enter to skip and use auto-reply" in human.prompts[0]
    assert "Press enter or type 'exit' to stop" in human.prompts[1]
    assert result.stop_condition == "is_termination_msg"


async def test_terminate_mode_exit_at_limit(models):
    user, asst = pair(models, ["a1", "a2"], human_input_mode="TERMINATE", max_consecutive_auto_reply=0)
    user.a_get_human_input = Human("exit")
    result = await user.a_initiate_chat(asst, message="task", silent=True)
    assert contents(result) == ["task", "a1"]
    assert result.stop_condition == "human_exit"


async def test_counters_are_per_sender_and_exit_resets(models):
    models(a=["x"])
    agent = ConversableAgent("agent", llm_config=False, human_input_mode="NEVER", max_consecutive_auto_reply=1,
                             default_auto_reply="ok")
    one = ConversableAgent("one", llm_config=False)
    two = ConversableAgent("two", llm_config=False)
    msgs = [{"content": "hello", "role": "user", "name": "one"}]
    assert await agent.a_generate_reply(msgs, sender=one) == "ok"
    assert await agent.a_generate_reply(msgs, sender=one) is None  # limit reached for `one`
    assert agent._consecutive_auto_reply_counter[one] == 0  # the stop reset it
    assert await agent.a_generate_reply(msgs, sender=two) == "ok"  # `two` has its own counter
    agent.update_max_consecutive_auto_reply(3, sender=two)
    assert agent.max_consecutive_auto_reply(two) == 3
    assert agent.max_consecutive_auto_reply(one) == 1


async def test_is_termination_msg_receives_autogen_message_dict(models):
    seen = []

    def is_term(msg):
        seen.append(msg)
        return "DONE" in (msg.get("content") or "")

    user, asst = pair(models, ["a1", "DONE"], human_input_mode="NEVER", is_termination_msg=is_term,
                      default_auto_reply="next")
    result = await user.a_initiate_chat(asst, message="task", silent=True)
    assert result.stop_condition == "is_termination_msg"
    assert seen[0] == {"content": "a1", "role": "user", "name": "asst"}
    assert seen[-1]["content"] == "DONE"


async def test_human_reply_to_pending_tool_call_answers_each_call_interrupted(models):
    models(a=[{"content": "", "tool_calls": [{"name": "f", "arguments": {"x": 1}}, {"name": "f", "arguments": {"x": 2}}]}, "fine"])
    user = UserProxyAgent("user", human_input_mode="ALWAYS", code_execution_config=False)
    asst = AssistantAgent("asst", llm_config="a")
    ran = []

    @user.register_for_execution()
    @asst.register_for_llm(description="f")
    def f(x: int) -> int:
        ran.append(x)
        return x

    user.a_get_human_input = Human("no, do something else", "exit")
    result = await user.a_initiate_chat(asst, message="task", silent=True)
    assert ran == []
    reply = result.chat_history[2]
    assert reply["content"] == "no, do something else"
    assert [r["tool_call_id"] for r in reply["tool_responses"]] == [c["id"] for c in result.chat_history[1]["tool_calls"]]
    assert all("Interrupted" in r["content"] for r in reply["tool_responses"])
    # what the model saw next: a tool result for every call, then the human's words
    view = asst._view(asst.chat_messages[user], user)
    roles = [m.role for m in view]
    assert roles[-4:] == ["assistant", "tool", "tool", "user"] or roles[-5:-1] == ["assistant", "tool", "tool", "user"]


def test_sync_api_runs_the_async_core(models):
    user, asst = pair(models, ["TERMINATE"], human_input_mode="NEVER")
    result = user.initiate_chat(asst, message="task", silent=True)
    assert result.stop_condition == "is_termination_msg"
    with pytest.raises(ValueError):
        ConversableAgent("x", human_input_mode="SOMETIMES")
