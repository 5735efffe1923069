"""AutoGen 0.2's GroupChat and GroupChatManager as a user calls them: errors of AutoGen's kinds,
names across nested teams, the transition dict, the selector's templates and retries, resume,
clear history, and any agent running a group with ``run_chat``."""

from __future__ import annotations

import builtins
import logging

import pytest

import moot as autogen
from moot import ConversableAgent, GroupChat, GroupChatManager, use_models
from moot.backends import ModelRegistry
from moot.backends.config import scripted_models
from moot.exception_utils import AgentNameConflict, UndefinedNextAgent

KEY = "sk-test-0123456789abcdefghijklmnop"


def member(name, reply=None, **kwargs):
    kwargs.setdefault("llm_config", False)
    return ConversableAgent(name, human_input_mode="NEVER", default_auto_reply=reply or f"{name} here",
                            description=f"{name} helps", **kwargs)


def selector_config(server):
    return {"config_list": [{"model": "gpt-4o-mini", "base_url": server.url, "api_key": KEY}]}


def last_request(server):
    return server.requests[-1]["body"]["messages"]


@pytest.fixture(autouse=True)
def _no_models_toml():
    use_models(ModelRegistry(scripted_models({"local": ["unused"]}, source="test"), retry_delays=()))


def test_any_agent_runs_a_group_with_run_chat_registered_as_its_reply():
    alice, bob = member("alice"), member("bob")
    group = GroupChat(agents=[alice, bob], messages=[], max_round=3)
    deputy = ConversableAgent("deputy", llm_config=False)
    deputy.register_reply(autogen.Agent, reply_func=GroupChatManager.run_chat, config=group, reset_config=GroupChat.reset)
    alice.initiate_chat(deputy, message="hi all", silent=True)
    assert [m["name"] for m in group.messages] == ["alice", "bob", "alice"]
    assert [m["content"] for m in alice.chat_messages[deputy]] == ["hi all", "bob here", "alice here"]
    deputy.reset()
    assert group.messages == []


def test_a_function_call_goes_to_the_agent_that_runs_it_and_an_unowned_one_is_an_error():
    alice = member("alice")
    bob = member("bob", function_map={"double": lambda x: 2 * x})
    group = GroupChat(agents=[alice, bob], messages=[], max_round=3)
    manager = GroupChatManager(groupchat=group, llm_config=False)
    alice.initiate_chat(manager, message={"function_call": {"name": "double", "arguments": '{"x": 21}'}}, silent=True)
    result = group.messages[1]
    assert (result["role"], result["name"], result["content"]) == ("function", "double", "42")
    assert group.messages[2]["name"] == "alice"

    lonely = GroupChat(agents=[member("a"), member("b")], messages=[], max_round=3)
    with pytest.raises(ValueError, match="No agent can execute the function triple"):
        member("c").initiate_chat(GroupChatManager(lonely, llm_config=False), silent=True,
                                  message={"function_call": {"name": "triple", "arguments": "{}"}})


def test_a_wrong_selection_method_fails_when_a_speaker_is_chosen_in_autogens_words():
    group = GroupChat(agents=[member("a"), member("b")], messages=[], speaker_selection_method="sideways")
    manager = GroupChatManager(group, llm_config=False)
    with pytest.raises(ValueError, match=r"speaker_selection_method is set to 'sideways'. It should be one of "
                                         r"\['auto', 'manual', 'random', 'round_robin'\]"):
        member("c").initiate_chat(manager, message="go", silent=True)
    with pytest.raises(ValueError, match="should be a bool or a list of Agents"):
        GroupChat(agents=[member("a")], messages=[], allow_repeat_speaker={})
    with pytest.raises(ValueError, match="underpopulated with 0 agents"):
        member("c").initiate_chat(GroupChatManager(GroupChat(agents=[], messages=[]), llm_config=False),
                                  message="anyone?", silent=True)


def test_the_manager_refuses_tools_in_its_llm_config():
    with pytest.raises(ValueError, match="not allowed to make function/tool calls"):
        GroupChatManager(GroupChat(agents=[member("a")], messages=[]),
                         llm_config={"config_list": [{"model": "m"}], "tools": [{"type": "function"}]})


def test_next_agent_wraps_round_and_refuses_outsiders():
    a, b, c, outsider = member("a"), member("b"), member("c"), member("z")
    group = GroupChat(agents=[a, b, c], messages=[])
    assert [group.next_agent(x) for x in (a, b, c)] == [b, c, a]
    assert group.next_agent(a, [a, c]) == c and group.next_agent(outsider, [b, c]) == b
    with pytest.raises(UndefinedNextAgent):
        group.next_agent(a, [outsider])


def test_names_across_nested_teams_and_their_conflicts():
    def team(name, *members):
        return GroupChatManager(GroupChat(agents=list(members), messages=[]), name=name, llm_config=False)

    first, copy = member("writer"), member("writer")
    red, blue = team("team", first, member("editor")), team("team", copy, member("critic"))
    user = member("user")
    group = GroupChat(agents=[user, red, blue], messages=[])  # the same name twice is allowed
    assert group.agent_by_name("team") is red and group.agent_by_name("writer") is None
    assert group.agent_by_name("writer", recursive=True) is first
    assert [a.name for a in group.nested_agents()] == ["user", "team", "writer", "editor", "team", "writer", "critic"]
    with pytest.raises(AgentNameConflict):
        group.agent_by_name("team", raise_on_name_conflict=True)
    with pytest.raises(AgentNameConflict):
        group.agent_by_name("writer", recursive=True, raise_on_name_conflict=True)
    assert group.agent_by_name("nobody", recursive=True, raise_on_name_conflict=True) is None

    # a member of one team talks straight to a member of the other
    first.send({"content": "draft attached"}, group.agent_by_name("critic", recursive=True), request_reply=True,
               silent=True)
    critic = blue.groupchat.agents[1]
    assert [m["content"] for m in first.chat_messages[critic]][:2] == ["draft attached", "critic here"]


def test_the_transition_dict_says_who_may_follow_whom():
    a, b, c = member("a"), member("b"), member("c")
    everyone = GroupChat(agents=[a, b, c], messages=[])
    assert all(everyone.allowed_speaker_transitions_dict[x] == [a, b, c] for x in (a, b, c))
    no_repeat = GroupChat(agents=[a, b, c], messages=[], allow_repeat_speaker=[b])
    assert no_repeat.allowed_speaker_transitions_dict[a] == [b, c]
    assert no_repeat.allowed_speaker_transitions_dict[b] == [a, b, c]
    banned = GroupChat(agents=[a, b, c], messages=[], allowed_or_disallowed_speaker_transitions={a: [b]},
                       speaker_transitions_type="DISALLOWED")
    assert banned.allowed_speaker_transitions_dict[a] == [a, c] and banned.speaker_transitions_type == "disallowed"
    with pytest.raises(ValueError, match="speaker_transitions_type is None"):
        GroupChat(agents=[a, b], messages=[], allowed_or_disallowed_speaker_transitions={a: [b]})


def test_the_selector_templates_are_checked_and_filled():
    alice, bob = member("Alice"), member("Bob")
    group = GroupChat(agents=[alice, bob], messages=[], select_speaker_message_template="Team:\n{roles}\nPick from {agentlist}.",
                      select_speaker_prompt_template="")
    assert group.select_speaker_msg() == "Team:\nAlice: Alice helps\nBob: Bob helps\nPick from ['Alice', 'Bob']."
    assert group.select_speaker_prompt_template is None and group.select_speaker_prompt() is None
    for field in ("select_speaker_message_template", "select_speaker_auto_multiple_template",
                  "select_speaker_auto_none_template", "role_for_select_speaker_messages"):
        for empty in ("", None):
            with pytest.raises(ValueError, match=f"{field} cannot be empty or None."):
                GroupChat(agents=[alice, bob], messages=[], **{field: empty})
    with pytest.raises(ValueError, match="max_retries_for_selecting_speaker must be greater than or equal to zero"):
        GroupChat(agents=[alice, bob], messages=[], max_retries_for_selecting_speaker=-1)
    with pytest.raises(ValueError, match="select_speaker_transform_messages must be None or MessageTransforms."):
        GroupChat(agents=[alice, bob], messages=[], select_speaker_transform_messages=["not", "transforms"])


def test_auto_asks_again_with_the_retry_template_when_the_answer_names_nobody(openai_standin):
    server = openai_standin(["I cannot say", "Story_writer", "Product_manager, then Story_writer"])
    writer, pm, user = member("Story_writer"), member("Product_manager"), member("User")
    group = GroupChat(agents=[user, writer, pm], messages=[], max_round=3, max_retries_for_selecting_speaker=2,
                      select_speaker_auto_none_template="SOME name please, from {agentlist}",
                      role_for_select_speaker_messages="user")
    manager = GroupChatManager(group, llm_config=selector_config(server))
    user.initiate_chat(manager, message="Who writes the story?", silent=True)
    assert [m["name"] for m in group.messages] == ["User", "Story_writer", "Product_manager"]
    assert len(server.requests) == 3  # an answer naming nobody was asked again; two names: the first one
    asked = server.requests[1]["body"]["messages"]
    assert asked[-1] == {"role": "user", "content": "SOME name please, from ['User', 'Story_writer', 'Product_manager']"}
    assert asked[-2]["content"].startswith("Read the above conversation.") and asked[-2]["role"] == "user"


def test_auto_gives_up_after_one_plus_the_retries_and_the_next_in_turn_speaks(openai_standin):
    server = openai_standin(["nobody", "nobody again"])
    a, b, c = member("a"), member("b"), member("c")
    group = GroupChat(agents=[a, b, c], messages=[], max_round=2, max_retries_for_selecting_speaker=1)
    a.initiate_chat(GroupChatManager(group, llm_config=selector_config(server)), message="go", silent=True)
    assert len(server.requests) == 2 and group.messages[-1]["name"] == "b"


def test_select_speaker_auto_llm_config_is_the_selectors_model(openai_standin):
    server = openai_standin(["c"])
    a, b, c = member("a"), member("b"), member("c")
    group = GroupChat(agents=[a, b, c], messages=[], max_round=2, select_speaker_auto_llm_config=selector_config(server))
    manager = GroupChatManager(group)
    assert manager.llm_config is False  # the manager itself needs no model
    a.initiate_chat(manager, message="go", silent=True)
    assert group.messages[-1]["name"] == "c" and len(server.requests) == 1


def test_manual_selection_on_the_console(monkeypatch):
    a, b, c = member("a"), member("b"), member("c")
    group = GroupChat(agents=[a, b, c], messages=[], max_round=3, speaker_selection_method="manual",
                      allow_repeat_speaker=False)
    answers = iter(["2", "c", "9", "nope"])
    monkeypatch.setattr(builtins, "input", lambda prompt: next(answers))
    assert group.manual_select_speaker() is b
    assert group.manual_select_speaker([a, c]) is c
    assert group.manual_select_speaker() is None  # two invalid answers
    monkeypatch.setattr(builtins, "input", lambda prompt: "1")
    a.initiate_chat(GroupChatManager(group, llm_config=False), message="go", silent=True)
    assert [m["name"] for m in group.messages] == ["a", "b", "a"]  # "1" among those who may follow


def test_a_summary_of_the_group_reads_the_groups_messages_and_the_summary_role(openai_standin):
    server = openai_standin(["they greeted each other"])
    a, b = member("a"), member("b")
    group = GroupChat(agents=[a, b], messages=[], max_round=2, speaker_selection_method="round_robin")
    manager = GroupChatManager(group, llm_config=selector_config(server))
    result = a.initiate_chat(manager, message="hello", summary_method="reflection_with_llm",
                             summary_args={"summary_role": "user", "summary_prompt": "Sum it up."}, silent=True)
    assert result.summary == "they greeted each other"
    assert manager.chat_messages_for_summary(a) is group.messages and len(group.messages) == 2
    assert last_request(server)[-1] == {"role": "user", "content": "Sum it up."}


def test_a_saved_group_chat_resumes_where_it_stopped(caplog):
    a, b = member("a"), member("b")
    group = GroupChat(agents=[a, b], messages=[], max_round=3, speaker_selection_method="round_robin")
    manager = GroupChatManager(group, llm_config=False)
    a.initiate_chat(manager, message="let us start", silent=True)
    saved = manager.messages_to_string(group.messages)

    a2, b2 = member("a"), member("b", "b is back. TERMINATE")
    group2 = GroupChat(agents=[a2, b2], messages=[], max_round=3, speaker_selection_method="round_robin")
    manager2 = GroupChatManager(group2, llm_config=False, is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""))
    speaker, message = manager2.resume(manager2.messages_from_string(saved), silent=True)
    assert speaker is a2 and message["content"] == "a here"
    assert [m["content"] for m in group2.messages] == ["let us start", "b here"]
    assert [m["content"] for m in b2.chat_messages[manager2]] == ["let us start", "b here"]
    speaker.initiate_chat(manager2, message=message, clear_history=False, silent=True)
    assert [m["content"] for m in group2.messages] == ["let us start", "b here", "a here", "b is back. TERMINATE"]

    done = [{"content": "over. TERMINATE", "name": "b", "role": "user"}]
    with caplog.at_level(logging.WARNING):
        manager2.resume(done, silent=True)
    assert "Last message meets termination criteria" in caplog.text
    speaker, message = manager2.resume(done, remove_termination_string="TERMINATE", silent=True)
    assert speaker is b2 and message["content"] == "over. "
    with pytest.raises(ValueError, match="doesn't exist as agent in group chat: carol"):
        manager2.resume([{"content": "hi", "name": "carol"}], silent=True)
    with pytest.raises(ValueError, match="no messages were provided"):
        manager2.resume([], silent=True)
    with pytest.raises(ValueError, match="not a valid JSON string"):
        manager2.resume("let us go on", silent=True)
    with pytest.raises(TypeError):
        manager2.resume(42, silent=True)
    with pytest.raises(TypeError):
        manager2.resume("[1, 2]", silent=True)  # JSON, but not of messages


def test_clear_history_typed_by_a_human_member(monkeypatch):
    a, b = member("a"), member("b")
    human = ConversableAgent("human", human_input_mode="ALWAYS", llm_config=False)
    group = GroupChat(agents=[a, b, human], messages=[], max_round=3, speaker_selection_method="round_robin",
                      enable_clear_history=True)
    manager = GroupChatManager(group, llm_config=False)
    monkeypatch.setattr(builtins, "input", lambda prompt: "clear history b. Fresh start.")
    a.initiate_chat(manager, message="hello", silent=True)
    assert [m["content"] for m in group.messages] == ["hello", "b here", "Fresh start."]
    assert [m["content"] for m in b.chat_messages[manager]] == ["Fresh start."]  # only b forgot
    assert [m["content"] for m in a.chat_messages[manager]] == ["hello", "b here", "Fresh start."]
    assert human.chat_messages[manager][-1] == {"content": "Fresh start.", "role": "assistant", "name": "human"}

    monkeypatch.setattr(builtins, "input", lambda prompt: "CLEAR HISTORY 1 and go on")
    a.initiate_chat(manager, message="again", silent=True)
    assert [m["content"] for m in group.messages] == ["b here", "and go on"]
    assert [m["content"] for m in a.chat_messages[manager]] == ["b here", "and go on"]


def test_each_chat_with_the_manager_starts_the_members_afresh():
    a = member("a", max_consecutive_auto_reply=2)
    b = member("b", max_consecutive_auto_reply=2)
    group = GroupChat(agents=[a, b], messages=[], max_round=4, speaker_selection_method="round_robin")
    manager = GroupChatManager(group, llm_config=False)
    for _ in range(2):  # b's two auto-replies are counted per chat, and it hears only this chat
        result = a.initiate_chat(manager, message="go", silent=True)
        assert result.stop_condition == "max_round" and len(b.chat_messages[manager]) == 4
    a.initiate_chat(manager, message="go on", clear_history=False, silent=True)
    assert len(b.chat_messages[manager]) == 8
