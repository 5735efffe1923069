"""Two-agent chats: summaries, carryover, nested chats, hooks, fallbacks, events, termination."""

from __future__ import annotations

import asyncio

import pytest

from agent_test_helpers import Human
from moot.agents import (
    AssistantAgent,
    ConversableAgent,
    ExternalStop,
    MaxMessages,
    TextMention,
    Timeout,
    TokenBudget,
    UserProxyAgent,
    initiate_chats,
    use_models,
)
from moot.agents.events import ChatStarted, Event, MessagePosted, Stopped, TokenDelta, UsageReport
from moot.backends import ChatMessage, ModelRegistry
from moot.backends.config import scripted_models


def proxy(**kw):
    kw.setdefault("human_input_mode", "NEVER")
    kw.setdefault("code_execution_config", False)
    return UserProxyAgent("user", **kw)


async def test_max_turns_counts_rounds_and_says_so(models):
    models(a=["r1", "r2", "r3"])
    user = proxy(default_auto_reply="again")
    asst = AssistantAgent("asst", llm_config="a")
    result = await user.a_initiate_chat(asst, message="go", max_turns=2, silent=True)
    assert [m["content"] for m in result.chat_history] == ["go", "r1", "again", "r2"]
    assert result.stop_condition == "max_turns"
    assert "2 turns" in result.stop_reason
    assert [m["role"] for m in result.chat_history] == ["assistant", "user", "assistant", "user"]
    assert result.chat_history[1]["name"] == "asst"


async def test_summary_methods(models):
    models(a=["answer", "the summary"])
    user = proxy()
    asst = AssistantAgent("asst", llm_config="a")
    result = await user.a_initiate_chat(asst, message="q", max_turns=1, summary_method="reflection_with_llm", silent=True)
    assert result.summary == "the summary"
    assert result.usage["a"].completion_tokens > 0
    assert result.cost["usage_including_cached_inference"]["a"]["total_tokens"] == result.usage["a"].total_tokens

    models(a=["answer"])
    asst = AssistantAgent("asst", llm_config="a")
    result = await user.a_initiate_chat(asst, message="q", max_turns=1, silent=True)
    assert result.summary == "answer"  # last_msg

    seen = []

    def custom(sender, recipient, args):
        seen.append((sender.name, recipient.name, args))
        return "custom!"

    result = await user.a_initiate_chat(asst, message="q", max_turns=1, summary_method=custom,
                                        summary_args={"k": 1}, silent=True)
    assert result.summary == "custom!" and seen == [("user", "asst", {"k": 1})]
    with pytest.raises(ValueError):
        await user.a_initiate_chat(asst, message="q", summary_method="nope")


async def test_reflection_without_any_model_says_why(models):
    a = ConversableAgent("a", llm_config=False, human_input_mode="NEVER", default_auto_reply="x")
    b = ConversableAgent("b", llm_config=False, human_input_mode="NEVER", default_auto_reply="y")
    result = await a.a_initiate_chat(b, message="hi", max_turns=1, summary_method="reflection_with_llm", silent=True)
    assert result.summary == ""
    assert "needs an agent with a model" in result.stop_reason


async def test_initiate_chats_carries_summaries_over(models):
    models(a=["first result"], b=["second result"])
    user = proxy()
    one = AssistantAgent("one", llm_config="a")
    two = AssistantAgent("two", llm_config="b")
    results = await user.a_initiate_chats([
        {"recipient": one, "message": "task one", "max_turns": 1, "summary_method": "last_msg", "silent": True},
        {"recipient": two, "message": "task two", "max_turns": 1, "carryover": "given", "silent": True},
    ])
    assert [r.summary for r in results] == ["first result", "second result"]
    first_to_two = two.chat_messages[user][0]["content"]
    assert first_to_two == "task two\nContext: \ngiven\nfirst result"
    # the module-level form takes explicit senders
    models(a=["x"], b=["y"])
    one = AssistantAgent("one", llm_config="a")
    two = AssistantAgent("two", llm_config="b")
    results = await asyncio.to_thread(initiate_chats, [
        {"sender": user, "recipient": one, "message": "m1", "max_turns": 1, "silent": True},
        {"sender": user, "recipient": two, "message": "m2", "max_turns": 1, "silent": True,
         "finished_chat_indexes_to_exclude_from_carryover": [0]},
    ])
    assert two.chat_messages[user][0]["content"] == "m2"


async def test_nested_chats_reply_with_the_inner_summary(models):
    models(w=["draft"], c=["critique of the draft"])
    user = proxy()
    writer = AssistantAgent("writer", llm_config="w")
    critic = AssistantAgent("critic", llm_config="c")
    writer.register_nested_chats([{"recipient": critic, "max_turns": 1, "summary_method": "last_msg"}], trigger=user)
    events = []
    stream = user.run_stream(writer, message="write a poem", max_turns=1)
    async for e in stream:
        events.append(e)
    result = stream.result
    assert [m["content"] for m in result.chat_history] == ["write a poem", "critique of the draft"]
    # the inner chat: writer -> critic, starting from the message the writer received
    assert critic.chat_messages[writer][0]["content"] == "write a poem"
    started = [e for e in events if isinstance(e, ChatStarted)]
    assert len(started) == 2 and started[1].parent_chat_id == started[0].chat_id
    # the writer's own model was never asked (nested chats come before the LLM step)
    assert "w" not in result.usage


async def test_hooks_change_what_the_model_sees_not_the_history(models):
    models(a=["ok"])
    user = proxy()
    asst = AssistantAgent("asst", llm_config="a", system_message="sys")
    seen_views = []
    original = asst._stream_model

    async def spy(llm, view, **kw):
        seen_views.append(view)
        return await original(llm, view, **kw)

    asst._stream_model = spy
    asst.register_hook("process_last_received_message", lambda content: content.upper())

    def add_note(messages):
        messages[-1]["content"] += " (note)"  # edits in place: must not reach the stored history
        return messages + [{"role": "user", "content": "extra", "name": "hook"}]

    asst.register_hook("process_all_messages_before_reply", add_note)
    user.register_hook("process_message_before_send",
                       lambda sender, message, recipient, silent: message + "!")  # gets what is sent: a str
    result = await user.a_initiate_chat(asst, message="hello", max_turns=1, silent=True)
    view = seen_views[0]
    assert [m.content for m in view] == ["sys", "HELLO! (note)", "extra"]
    assert asst.chat_messages[user][0]["content"] == "hello!"  # before_send changes what is sent
    assert result.chat_history[0]["content"] == "hello!"
    with pytest.raises(ValueError):
        asst.register_hook("no_such_hook", print)


async def test_register_reply_runs_first_and_can_decline(models):
    models(a=["llm"])
    user = proxy()
    asst = AssistantAgent("asst", llm_config="a")
    calls = []

    def passive(recipient, messages=None, sender=None, config=None):
        calls.append((recipient.name, sender.name, messages[-1]["content"], config))
        return False, None

    async def canned(recipient, messages=None, sender=None, config=None):
        return ("m" in messages[-1]["content"]), "canned"

    asst.register_reply([ConversableAgent, None], canned)
    asst.register_reply(user, passive, config="cfg")
    result = await user.a_initiate_chat(asst, message="xyz", max_turns=1, silent=True)
    assert result.chat_history[-1]["content"] == "llm"
    result = await user.a_initiate_chat(asst, message="mmm", max_turns=1, silent=True)
    assert result.chat_history[-1]["content"] == "canned"
    assert calls == [("asst", "user", "xyz", "cfg"), ("asst", "user", "mmm", "cfg")]


async def test_config_list_falls_back_in_order_and_says_so(monkeypatch):
    monkeypatch.delenv("MOOT_TEST_UNSET_KEY", raising=False)
    models = scripted_models({
        "broken": {"backend": "openai", "model": "gpt-x", "api_key_env": "MOOT_TEST_UNSET_KEY"},
        "down": {"backend": "ollama", "model": "m", "base_url": "http://127.0.0.1:9"},
        "good": ["from the fallback"],
    })
    use_models(ModelRegistry(models, retry_delays=()))
    user = proxy()
    asst = AssistantAgent("asst", llm_config={"config_list": [{"model": "broken"}, {"model": "down"}, {"model": "good"}],
                                              "temperature": 0})
    events = [e async for e in user.run_stream(asst, message="hi", max_turns=1)]
    notices = [e for e in events if e.type == "notice"]
    assert len(notices) == 2 and all(n.kind == "fallback" for n in notices)
    assert "'down'" in notices[0].text and "'good'" in notices[1].text
    assert events[-1].reason.startswith("max_turns")
    assert [e for e in events if isinstance(e, MessagePosted)][-1].content == "from the fallback"


async def test_backend_error_stops_the_chat_with_a_reason():
    models = scripted_models({"down": {"backend": "ollama", "model": "m", "base_url": "http://127.0.0.1:9"}})
    use_models(ModelRegistry(models, retry_delays=()))
    user = proxy()
    asst = AssistantAgent("asst", llm_config="down")
    result = await user.a_initiate_chat(asst, message="hi", silent=True)
    assert result.stop_condition == "backend_error"
    assert "asst: the model failed" in result.stop_reason


def test_unknown_model_is_a_config_error_at_construction(models, monkeypatch):
    from moot.backends import ConfigError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # with it, a bare name is an OpenAI model (tests/compat)
    models(a=["x"])
    with pytest.raises(ConfigError, match="no model named 'gpt-4'"):
        AssistantAgent("asst", llm_config={"model": "gpt-4"})


async def test_agents_naming_one_model_share_one_backend(models):
    registry = models(a=["x"])
    one = AssistantAgent("one", llm_config="a")
    two = AssistantAgent("two", llm_config={"model": "a", "temperature": 0.1})
    backend = registry.backend("a")
    assert one.client.primary is two.client.primary is backend
    asked = []  # the temperature each call reaches the backend with
    original = backend._stream
    backend._stream = lambda request: (asked.append(request.temperature), original(request))[1]
    hi = [ChatMessage("user", "hi")]
    await two.client.complete(hi)
    await two.client.complete(hi, temperature=0.9)  # the call's own setting wins over llm_config's
    await one.client.complete(hi)
    assert asked == [0.1, 0.9, None]  # None: the model's temperature from models.toml


async def test_event_stream_carries_the_transcript(models):
    models(a=["hello there, friend", "TERMINATE"])
    user = proxy(default_auto_reply="more")
    asst = AssistantAgent("asst", llm_config="a")
    stream = user.run_stream(asst, message="hi")
    events = await stream.collect()
    assert isinstance(events[0], ChatStarted) and isinstance(events[-1], Stopped)
    assert events[-1].condition == "is_termination_msg" and events[-1].summary == "TERMINATE"
    posted = [e for e in events if isinstance(e, MessagePosted)]
    assert [p.content for p in posted] == ["hi", "hello there, friend", "more", "TERMINATE"]
    assert [p.as_message()["content"] for p in posted] == [m["content"] for m in stream.result.chat_history]
    # deltas rebuild each streamed message and carry its id
    deltas = [e for e in events if isinstance(e, TokenDelta)]
    assert "".join(d.text for d in deltas if d.message_id == posted[1].message_id) == "hello there, friend"
    assert len({p.message_id for p in posted}) == 4
    assert sum(isinstance(e, UsageReport) for e in events) == 2
    for e in events:
        assert Event.from_dict(e.to_dict()) == e
    assert len({e.chat_id for e in events}) == 1


async def test_termination_conditions_in_a_two_agent_chat(models):
    models(a=["alpha", "beta DONE", "gamma"])
    user = proxy(default_auto_reply="go")
    asst = AssistantAgent("asst", llm_config="a")
    result = await user.a_initiate_chat(asst, message="x", termination=TextMention("DONE"), silent=True)
    assert result.stop_condition == "TextMention" and result.stop_reason == "asst mentioned 'DONE'"
    assert result.chat_history[-1]["content"] == "beta DONE"

    models(a=["alpha"])
    asst = AssistantAgent("asst", llm_config="a")
    result = await user.a_initiate_chat(asst, message="x", termination=MaxMessages(3) | TextMention("nope"), silent=True)
    assert result.stop_condition == "MaxMessages" and len(result.chat_history) == 3

    models(a=["alpha"])
    asst = AssistantAgent("asst", llm_config="a")
    result = await user.a_initiate_chat(asst, message="x", termination=TokenBudget(1), silent=True)
    assert result.stop_condition == "TokenBudget" and len(result.chat_history) == 2
    assert "token budget of 1" in result.stop_reason

    models(a=["alpha"])
    asst = AssistantAgent("asst", llm_config="a")
    both = MaxMessages(2) & TextMention("go")
    result = await user.a_initiate_chat(asst, message="x", termination=both, silent=True)
    assert result.stop_condition == "MaxMessages & TextMention"
    assert len(result.chat_history) == 3  # x, alpha (2 messages), go (mentions "go")


async def test_external_stop_cuts_a_streaming_reply_short(models):
    models(slow={"backend": "scripted", "replies": ["a long reply " * 20], "options": {"chunk_delay_s": 0.005, "chunk_size": 4}})
    user = proxy()
    asst = AssistantAgent("asst", llm_config="slow")
    stop = ExternalStop()
    events = []
    async for e in user.run_stream(asst, message="x", termination=stop):
        events.append(e)
        if isinstance(e, TokenDelta):
            stop.set()
    assert events[-1].condition == "ExternalStop" and events[-1].reason == "stopped by the user"
    assert sum(isinstance(e, TokenDelta) for e in events) < 5
    assert [e.content for e in events if isinstance(e, MessagePosted)] == ["x"]


async def test_timeout_stops_a_slow_chat(models):
    models(slow={"backend": "scripted", "replies": ["slow words " * 30], "options": {"chunk_delay_s": 0.01}})
    user = proxy()
    asst = AssistantAgent("asst", llm_config="slow")
    result = await asyncio.wait_for(user.a_initiate_chat(asst, message="x", termination=Timeout(0.1), silent=True), 5)
    assert result.stop_condition == "Timeout" and "0.1 s" in result.stop_reason


async def test_send_with_request_reply_continues_the_conversation(models):
    models(a=["a1", "TERMINATE"])
    user = proxy(default_auto_reply="ok")
    asst = AssistantAgent("asst", llm_config="a")
    user.reply_at_receive[asst] = True
    await user.a_send("start", asst, request_reply=True, silent=True)
    assert [m["content"] for m in user.chat_messages[asst]] == ["start", "a1", "ok", "TERMINATE"]


async def test_clear_history_false_keeps_the_conversation(models):
    models(a=["one", "two"])
    user = proxy()
    asst = AssistantAgent("asst", llm_config="a")
    await user.a_initiate_chat(asst, message="x", max_turns=1, silent=True)
    result = await user.a_initiate_chat(asst, message="y", max_turns=1, clear_history=False, silent=True)
    assert [m["content"] for m in result.chat_history] == ["x", "one", "y", "two"]


async def test_message_none_asks_the_human_first(models):
    models(a=["reply"])
    user = proxy()
    user.a_get_human_input = Human("typed task")
    asst = AssistantAgent("asst", llm_config="a")
    result = await user.a_initiate_chat(asst, max_turns=1, silent=True)
    assert result.chat_history[0]["content"] == "typed task"


async def test_long_history_is_trimmed_in_the_view_only(models):
    models(small={"backend": "scripted", "replies": ["ok"], "context_length": 1200, "max_output_tokens": 100})
    user = proxy()
    asst = AssistantAgent("asst", llm_config="small", system_message="sys")
    for i in range(60):
        await user.a_send(f"message {i} " + "x" * 80, asst, request_reply=False, silent=True)
    view = asst._view(asst.chat_messages[user], user, asst.client)
    assert len(asst.chat_messages[user]) == 60  # stored history untouched
    assert view[0].content == "sys" and view[-1].content.startswith("message 59")
    assert 10 < len(view) < 40
    cut_before = asst._views[user].cut
    await user.a_send("one more", asst, request_reply=False, silent=True)
    view = asst._view(asst.chat_messages[user], user, asst.client)
    assert view[-1].content == "one more"
    assert asst._views[user].cut == cut_before  # the cut moves in steps, not every turn
