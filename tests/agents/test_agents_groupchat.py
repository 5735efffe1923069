"""Group chats: every speaker-selection method, transition graphs, tool-call owners, termination."""

from __future__ import annotations

import pytest

from agent_test_helpers import Human, call
from moot.agents import (
    ConversableAgent,
    GroupChat,
    GroupChatManager,
    Handoff,
    MaxMessages,
    Stall,
    TextMention,
)
from moot.agents.events import MessagePosted, SpeakerSelected


def bot(name, reply=None, **kw):
    kw.setdefault("llm_config", False)
    return ConversableAgent(name, human_input_mode="NEVER", default_auto_reply=reply or f"{name} speaks",
                            description=f"{name} does {name} things", **kw)


async def run(initiator, manager, message="start", **kw):
    stream = initiator.run_stream(manager, message=message, **kw)
    events = await stream.collect()
    return stream.result, events


def selections(events):
    return [e for e in events if isinstance(e, SpeakerSelected)]


def speakers(result):
    return [m["name"] for m in result.chat_history]


async def test_round_robin_and_max_round(models):
    a, b, c = bot("a"), bot("b"), bot("c")
    gc = GroupChat([a, b, c], messages=[], max_round=5, speaker_selection_method="round_robin")
    result, events = await run(a, GroupChatManager(gc, llm_config=False))
    assert speakers(result) == ["a", "b", "c", "a", "b"]
    assert result.stop_condition == "max_round" and "max_round reached (5 messages)" == result.stop_reason
    assert [m["content"] for m in gc.messages] == ["start", "b speaks", "c speaks", "a speaks", "b speaks"]
    sel = selections(events)
    assert [s.speaker for s in sel] == ["b", "c", "a", "b"]
    assert all(s.candidates == ("a", "b", "c") and s.method == "round_robin" for s in sel)
    # each agent's history holds what the others said, as "user", and its own words as "assistant"
    assert [(m["name"], m["role"]) for m in c.chat_messages[gc_manager(a)]][:3] == [("a", "user"), ("b", "user"), ("c", "assistant")]


def gc_manager(agent):
    return next(k for k in agent.chat_messages if isinstance(k, GroupChatManager))


async def test_random_only_eligible_and_no_repeats_when_forbidden(models):
    agents = [bot(n) for n in "abcd"]
    gc = GroupChat(agents, max_round=30, speaker_selection_method="random", allow_repeat_speaker=False, seed=7)
    result, events = await run(agents[0], GroupChatManager(gc, llm_config=False))
    names = speakers(result)
    assert len(names) == 30
    assert all(x != y for x, y in zip(names, names[1:]))
    assert len(set(names)) == 4
    for s in selections(events):
        assert s.speaker in s.candidates and s.method == "random"


async def test_manual_selection_asks_the_human(models):
    a, b, c = bot("a"), bot("b"), bot("c")
    gc = GroupChat([a, b, c], max_round=4, speaker_selection_method="manual")
    manager = GroupChatManager(gc, llm_config=False)
    human = Human("3", "B", "", )
    manager.a_get_human_input = human
    result, events = await run(a, manager)
    assert speakers(result) == ["a", "c", "b", "c"]
    assert "1: a\n2: b\n3: c" in human.prompts[0]
    sel = selections(events)
    assert [s.raw_answer for s in sel[:2]] == ["3", "B"]
    assert sel[2].fallback and "next in turn" in sel[2].fallback  # empty answer, no model: round robin


async def test_callable_selection_and_none_ends_the_chat(models):
    a, b = bot("a"), bot("b")
    picks = iter([b, "round_robin", None])

    def choose(last, groupchat):
        assert groupchat is gc
        return next(picks)

    gc = GroupChat([a, b], max_round=10, speaker_selection_method=choose)
    result, events = await run(a, GroupChatManager(gc, llm_config=False))
    assert speakers(result) == ["a", "b", "a"]
    assert result.stop_condition == "speaker_selection"
    assert "returned None" in result.stop_reason


async def test_auto_is_constrained_to_candidates_and_records_the_answer(models):
    registry = models(sel=["b", "the answer is c", "nobody", "nobody", "nobody", "a"])  # 1 + 2 retries
    a, b, c = bot("a"), bot("b"), bot("c")
    gc = GroupChat([a, b, c], max_round=5, speaker_selection_method="auto", max_retries_for_selecting_speaker=2)
    manager = GroupChatManager(gc, llm_config="sel")
    result, events = await run(a, manager)
    sel = selections(events)
    assert [s.speaker for s in sel] == ["b", "c", "a", "a"]
    assert [s.raw_answer for s in sel[:2]] == ["b", "c"]  # matched within the reply, then constrained
    assert sel[2].fallback and "no valid name" in sel[2].fallback and sel[2].speaker == "a"  # round robin after c
    assert sel[3].raw_answer == "a" and sel[3].fallback is None
    for s in sel:
        assert s.speaker in s.candidates
    assert registry.backend("sel").calls == 6


async def test_single_candidate_means_no_model_call(models):
    registry = models(sel=["a"])
    a, b, c = bot("a"), bot("b"), bot("c")
    gc = GroupChat([a, b, c], max_round=7, speaker_selection_method="auto",
                   allowed_or_disallowed_speaker_transitions={a: [b], b: [c], c: [a]}, speaker_transitions_type="allowed")
    result, events = await run(a, GroupChatManager(gc, llm_config="sel"))
    assert speakers(result) == ["a", "b", "c", "a", "b", "c", "a"]
    assert registry.backend("sel").calls == 0
    assert all(len(s.candidates) == 1 and "only eligible" in s.reason for s in selections(events))


async def test_disallowed_transitions_are_never_taken(models):
    agents = [bot(n) for n in "abc"]
    a, b, c = agents
    gc = GroupChat(agents, max_round=40, speaker_selection_method="random", seed=3,
                   allowed_or_disallowed_speaker_transitions={a: [b], b: [a, b]}, speaker_transitions_type="disallowed")
    result, events = await run(a, GroupChatManager(gc, llm_config=False))
    names = speakers(result)
    pairs = set(zip(names, names[1:]))
    assert ("a", "b") not in pairs and ("b", "a") not in pairs and ("b", "b") not in pairs
    assert ("a", "c") in pairs and ("b", "c") in pairs
    with pytest.raises(ValueError, match="speaker_transitions_type"):
        GroupChat(agents, allowed_or_disallowed_speaker_transitions={a: [b]})
    outsider = bot("z")
    with pytest.raises(ValueError, match="not in the group chat"):
        GroupChat(agents, allowed_or_disallowed_speaker_transitions={a: [outsider]}, speaker_transitions_type="allowed")


async def test_pending_tool_call_goes_to_its_owner(models):
    registry = models(coder=[call("lookup", {"q": "x"}), "found it. TERMINATE"], sel=["coder"])
    coder = bot("coder", llm_config="coder")
    runner = bot("runner")
    other = bot("other")

    @runner.register_for_execution()
    @coder.register_for_llm(description="Look something up.")
    def lookup(q: str) -> str:
        return f"result for {q}"

    gc = GroupChat([other, coder, runner], max_round=4, speaker_selection_method=lambda last, g: coder if last is other else "auto")
    manager = GroupChatManager(gc, llm_config="sel", is_termination_msg=lambda m: "TERMINATE" in (m.get("content") or ""))
    result, events = await run(other, manager)
    sel = selections(events)
    assert sel[1].speaker == "runner" and sel[1].candidates == ("runner",) and "owner of the pending tool call" in sel[1].reason
    assert gc.messages[2]["tool_responses"][0]["content"] == "result for x"
    assert result.stop_condition == "is_termination_msg"
    assert registry.backend("sel").calls == 1  # only the choice after the tool result needed the model


async def test_group_termination_conditions(models):
    a, b = bot("a", "a: hello"), bot("b", "b: I APPROVE")
    gc = GroupChat([a, b], max_round=20, speaker_selection_method="round_robin", termination=TextMention("APPROVE"))
    result, _ = await run(a, GroupChatManager(gc, llm_config=False))
    assert result.stop_condition == "TextMention" and result.stop_reason == "b mentioned 'APPROVE'"

    a, b = bot("a"), bot("b")
    gc = GroupChat([a, b], max_round=20, speaker_selection_method="round_robin", termination=MaxMessages(3) | TextMention("zzz"))
    result, _ = await run(a, GroupChatManager(gc, llm_config=False))
    assert result.stop_condition == "MaxMessages" and len(gc.messages) == 3

    a, user, b = bot("a"), bot("user"), bot("b")
    gc = GroupChat([a, b, user], max_round=20, speaker_selection_method="round_robin", termination=Handoff("user"))
    result, events = await run(a, GroupChatManager(gc, llm_config=False))
    assert result.stop_condition == "Handoff" and "handed off to user" in result.stop_reason
    assert speakers(result) == ["a", "b"]


async def test_stall_detection_without_model_calls(models):
    a, b, c = bot("a", "same thing"), bot("b", "same  thing"), bot("c", "same thing\n")
    gc = GroupChat([a, b, c], max_round=20, speaker_selection_method="round_robin", termination=Stall())
    result, _ = await run(a, GroupChatManager(gc, llm_config=False), message="begin")
    assert result.stop_condition == "Stall(repeat)" and len(gc.messages) == 4
    assert "repeated 3 times" in result.stop_reason

    a, b = bot("a", "ping"), bot("b", "pong")
    gc = GroupChat([a, b], max_round=20, speaker_selection_method="round_robin", termination=Stall())
    result, _ = await run(a, GroupChatManager(gc, llm_config=False), message="ping")
    assert result.stop_condition == "Stall(ping_pong)" and len(gc.messages) == 4
    assert "a and b ping-ponged" in result.stop_reason or "b and a ping-ponged" in result.stop_reason

    models(coder=[call("fetch", {"url": "u", "n": 1}), call("fetch", '{"n": 1, "url": "u"}'), call("fetch", {"url": "u", "n": 1})])
    coder, runner = bot("coder", llm_config="coder"), bot("runner")
    coder.register_for_llm(name="fetch", description="Fetch.")(lambda url, n: "same page")
    runner.register_function({"fetch": lambda url, n: "same page"})
    gc = GroupChat([coder, runner], max_round=20, speaker_selection_method="round_robin", termination=Stall(max_repeats=3, ping_pong_rounds=0))
    result, _ = await run(runner, GroupChatManager(gc, llm_config=False), message="go")
    assert result.stop_condition == "Stall(tool_call)"
    assert 'fetch({"n": 1, "url": "u"}) was made 3 times' in result.stop_reason


async def test_manager_is_termination_and_speaker_without_reply(models):
    a, b = bot("a"), ConversableAgent("b", llm_config=False, human_input_mode="NEVER", max_consecutive_auto_reply=1,
                                      default_auto_reply="b once")
    gc = GroupChat([a, b], max_round=20, speaker_selection_method="round_robin")
    result, _ = await run(a, GroupChatManager(gc, llm_config=False))
    assert result.stop_condition == "max_consecutive_auto_reply" and "b reached" in result.stop_reason

    a, b = bot("a"), bot("b", "TERMINATE")
    gc = GroupChat([a, b], max_round=20, speaker_selection_method="round_robin")
    result, _ = await run(a, GroupChatManager(gc, llm_config=False))
    assert result.stop_condition == "is_termination_msg" and len(gc.messages) == 2


async def test_send_introductions_and_outsider_initiator(models):
    a, b = bot("a"), bot("b")
    boss = bot("boss")
    gc = GroupChat([a, b], max_round=3, speaker_selection_method="round_robin", send_introductions=True)
    manager = GroupChatManager(gc, llm_config=False)
    result, events = await run(boss, manager, message="task")
    assert a.chat_messages[manager][0]["content"].startswith("Hello everyone.")
    assert "b: b does b things" in a.chat_messages[manager][0]["content"]
    # the initiator is not in the group: its history would hold only its message, so the
    # result gives the group's messages instead
    assert [m["name"] for m in result.chat_history] == ["boss", "a", "b"]
    posted = [e for e in events if isinstance(e, MessagePosted)]
    assert posted[0].content == "task" and posted[1].recipient == "*"


async def test_select_speaker_model_overrides_the_manager(models):
    registry = models(sel=["c", "b"])
    a, b, c = bot("a"), bot("b"), bot("c")
    gc = GroupChat([a, b, c], max_round=3, speaker_selection_method="auto", select_speaker_model="sel")
    manager = GroupChatManager(gc)
    assert manager.llm_config is False  # no model of its own was needed
    result, events = await run(a, manager)
    assert speakers(result) == ["a", "c", "b"]
    assert registry.backend("sel").calls == 2


async def test_sync_api_inside_a_running_loop(models):
    a, b = bot("a"), bot("b")
    gc = GroupChat([a, b], max_round=3, speaker_selection_method="round_robin")
    result = a.initiate_chat(GroupChatManager(gc, llm_config=False), message="hi", silent=True)
    assert [m["name"] for m in result.chat_history] == ["a", "b", "a"]
