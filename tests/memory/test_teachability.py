"""Teachability on real parts: the scripted backend (a real backend serving configured replies),
real Chroma, real MiniLM embeddings. What the model is sent is read with a spy on the backend."""

from __future__ import annotations

import asyncio
import json

import pytest

import moot.agents._models as models_module
from moot.agents import AssistantAgent, Teachability, UserProxyAgent
from moot.agents._teachability import teaches_nothing
from moot.agents.events import MessagePosted, Event, MemoryProposed, MemoryRecalled, MemoryStored, NoticeEvent
from conftest_memos import Spy, install, learnt, memo
from moot.memory.memos import MemoStore

TEACH = "Remember: I always want my Python code indented with tabs, never spaces."
ASK = "Please reformat this Python function for me."


@pytest.fixture(autouse=True)
def _fresh_registry():
    saved = models_module._registry
    yield
    models_module._registry = saved


@pytest.fixture
def store(tmp_path):
    return MemoStore(tmp_path / "store")


class ScriptedHuman:
    def __init__(self, *answers: str):
        self.answers = list(answers)

    async def __call__(self, prompt: str) -> str:
        return self.answers.pop(0) if self.answers else "exit"


def pair(teachability: Teachability | None, human: ScriptedHuman | None = None):
    bot = AssistantAgent("bot", llm_config="bot")
    if teachability is not None:
        teachability.add_to_agent(bot)
    user = UserProxyAgent("user", human_input_mode="ALWAYS" if human else "NEVER", code_execution_config=False,
                          max_consecutive_auto_reply=0 if human is None else None)
    if human is not None:
        user.a_get_human_input = human
    return bot, user


async def chat(user, bot, message, **kwargs) -> list[Event]:
    return [e async for e in user.run_stream(bot, message=message, **kwargs)]


async def test_recall_goes_into_the_models_view_only(store):
    registry = install(bot=["Reformatted."])
    spy = Spy(registry.backend("bot"))
    kept = store.add("how the user wants Python code indented", "Indent Python code with tabs, never spaces.",
                     kind="preference")
    store.add("the user's cat", "The user's cat is called Miso.")
    bot, user = pair(Teachability(store, policy="off"))
    events = await chat(user, bot, ASK, max_turns=1)
    sent = spy.calls[-1][-1]
    assert sent[0] == "user" and sent[1].startswith(ASK)
    assert "Indent Python code with tabs, never spaces." in sent[1]
    assert "Miso" not in sent[1]  # unrelated memos stay out
    assert bot.chat_messages[user][0]["content"] == ASK  # the stored history is untouched
    assert user.chat_messages[bot][0]["content"] == ASK
    recalled = [e for e in events if isinstance(e, MemoryRecalled)]
    assert len(recalled) == 1 and [m["id"] for m in recalled[0].memos] == [kept.id]
    assert Event.from_dict(json.loads(json.dumps(recalled[0].to_dict()))) == recalled[0]


async def test_recall_keeps_at_most_k_under_the_threshold_without_duplicates(store):
    registry = install(bot=["ok"])
    spy = Spy(registry.backend("bot"))
    for i in range(4):
        store.add(f"how the user wants Python code indented ({i})", "Indent Python code with tabs.", kind="preference")
    store.add("how the user names Python test files", "Name Python test files test_*.py.", kind="task_advice")
    store.add("the user's holidays", "The user is on holiday in August.")
    bot, user = pair(Teachability(store, policy="off", k=2, distance_threshold=0.7))
    events = await chat(user, bot, ASK, max_turns=1)
    [recalled] = [e for e in events if isinstance(e, MemoryRecalled)]
    assert len(recalled.memos) <= 2
    assert [m["recall"] for m in recalled.memos].count("Indent Python code with tabs.") == 1
    assert all(m["distance"] <= 0.7 for m in recalled.memos)
    assert spy.calls[-1][-1][1].count("Indent Python code with tabs.") == 1
    assert "holiday" not in spy.calls[-1][-1][1]


async def test_learning_stores_what_the_user_teaches(store):
    reply = learnt(memo("preference", "how the user wants Python code indented", "Indent Python code with tabs."))
    registry = install(bot=["Noted."], learner=[reply])
    learner = Spy(registry.backend("learner"))
    teach = Teachability(store, learn_model="learner")
    bot, user = pair(teach)
    events = await chat(user, bot, TEACH, max_turns=1)
    [stored] = [e for e in events if isinstance(e, MemoryStored)]
    assert stored.action == "added" and stored.agent == "bot"
    saved = store.get(stored.memo_id)
    assert saved.recall == "Indent Python code with tabs." and saved.agent == "bot" and saved.kind == "preference"
    assert saved.session_id  # the chat it was learnt in
    [taught] = [e for e in events if isinstance(e, MessagePosted) and e.content == TEACH]
    assert saved.message_id == taught.message_id  # and the message that taught it
    schema = learner.schemas[0]["properties"]["memos"]["items"]["properties"]
    assert schema["match"]["maxLength"] == 200 and schema["recall"]["maxLength"] == 300
    assert set(schema["kind"]["enum"]) == {"fact", "preference", "task_advice"}
    assert TEACH in learner.calls[0][-1][1]


async def test_at_most_one_learning_call_per_user_message_and_none_for_chit_chat(store):
    messages = [TEACH, "ok", "My name is Ada and I work on the billing service.", "thanks!",
                "What is 2 + 2?", "From now on, write commit messages in the imperative mood.", "exitcode: 0\nhi"]
    registry = install(bot=["Sure."], learner=[learnt()])
    human = ScriptedHuman(*messages[1:])
    bot, user = pair(Teachability(store, learn_model="learner"), human)
    await chat(user, bot, messages[0], max_turns=len(messages))
    user_messages = [m for m in bot.chat_messages[user] if m["role"] == "user"]
    assert len(user_messages) == len(messages)
    calls = registry.backend("learner").calls
    assert calls == 3  # the three teachings; "ok", "thanks!", a bare question and code output cost nothing
    assert calls <= len(user_messages)


async def test_replying_twice_to_one_message_learns_once(store):
    registry = install(bot=["a", "b"], learner=[learnt()])
    teach = Teachability(store, learn_model="learner")
    bot, user = pair(teach)
    await chat(user, bot, TEACH, max_turns=1)
    await bot.a_generate_reply(sender=user)  # the same last message again
    assert registry.backend("learner").calls == 1 and teach.learn_calls == 1


def test_the_cheap_heuristic():
    for text in ("ok", "Thanks!", "TERMINATE", "exitcode: 1\nTraceback ...", "What's the time in Paris?", "", "   "):
        assert teaches_nothing(text), text
    for text in (TEACH, "My deploy target is fly.io.", "We use Postgres 16 for everything.",
                 "Should I remember that my dog is called Rex?"):
        assert not teaches_nothing(text), text


async def test_learn_from_limits_whose_messages_teach(store):
    registry = install(bot=["ok"], learner=[learnt()])
    bot, user = pair(Teachability(store, learn_model="learner", learn_from={"someone_else"}))
    await chat(user, bot, TEACH, max_turns=1)
    assert registry.backend("learner").calls == 0
    bot2, user2 = pair(Teachability(store, learn_model="learner", learn_from={"user"}))
    await chat(user2, bot2, TEACH, max_turns=1)
    assert registry.backend("learner").calls == 1


async def test_policy_off_never_calls_the_model(store):
    registry = install(bot=["ok"], learner=[learnt(memo("fact", "x", "y"))])
    bot, user = pair(Teachability(store, policy="off", learn_model="learner"))
    await chat(user, bot, TEACH, max_turns=1)
    assert registry.backend("learner").calls == 0 and store.count() == 0


async def test_a_later_contradiction_replaces_the_memo_named_by_the_model(store):
    old = store.add("how the user wants Python code indented", "Indent Python code with tabs.",
                    kind="preference", agent="bot", memo_id="mem-tabs00000001")
    reply = learnt(memo("preference", "indentation style for Python", "Indent Python code with 4 spaces.",
                        replaces="mem-tabs00000001"))
    registry = install(bot=["ok"], learner=[reply])
    learner = Spy(registry.backend("learner"))
    bot, user = pair(Teachability(store, learn_model="learner"))
    events = await chat(user, bot, "Actually, I changed my mind: always indent Python with 4 spaces.", max_turns=1)
    assert "mem-tabs00000001" in learner.calls[0][0][1]  # the model was shown the memo it may replace
    assert "mem-tabs00000001" in learner.schemas[0]["properties"]["memos"]["items"]["properties"]["replaces"]["enum"]
    [stored] = [e for e in events if isinstance(e, MemoryStored)]
    assert stored.action == "replaced" and stored.replaced == old.id
    assert store.count() == 1
    assert store.get(old.id).recall == "Indent Python code with 4 spaces."


async def test_a_restated_teaching_replaces_the_nearest_memo_instead_of_stacking(store):
    first = learnt(memo("preference", "how the user wants Python code indented", "Indent Python code with tabs."))
    second = learnt(memo("preference", "how the user wants Python code indented", "Indent Python code with 2 spaces."))
    other = learnt(memo("fact", "the user's cat", "The user's cat is called Miso."))
    registry = install(bot=["ok"], learner=[first, second, other])
    human = ScriptedHuman("No wait, I prefer 2 spaces for my Python code.", "My cat is called Miso, remember that.")
    bot, user = pair(Teachability(store, learn_model="learner"), human)
    await chat(user, bot, TEACH, max_turns=3)
    assert registry.backend("learner").calls == 3
    recalls = sorted(m.recall for m in store.list())
    assert recalls == ["Indent Python code with 2 spaces.", "The user's cat is called Miso."]


async def test_confirm_policy_waits_for_the_decision(store):
    reply = learnt(memo("preference", "how the user wants Python code indented", "Indent Python code with tabs."))
    install(bot=["Noted."], learner=[reply])
    decision = asyncio.Event()
    proposals = []

    async def decide(proposal):
        proposals.append(proposal)
        await decision.wait()
        return True

    bot, user = pair(Teachability(store, policy="confirm", learn_model="learner", decide=decide))
    seen: list[Event] = []

    async def run():
        async for e in user.run_stream(bot, message=TEACH, max_turns=1):
            seen.append(e)

    task = asyncio.create_task(run())
    for _ in range(200):
        if proposals:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert proposals and proposals[0].memo.recall == "Indent Python code with tabs."
    assert any(isinstance(e, MemoryProposed) for e in seen)
    assert not any(e.type == "message" and getattr(e, "sender", "") == "bot" for e in seen)  # the chat waits
    assert store.count() == 0
    decision.set()
    await asyncio.wait_for(task, 30)
    assert any(isinstance(e, MemoryStored) and e.action == "added" for e in seen)
    assert [m.recall for m in store.list()] == ["Indent Python code with tabs."]


async def test_confirm_policy_rejection_stores_nothing(store):
    reply = learnt(memo("fact", "the user's cat", "The user's cat is called Miso."))
    install(bot=["ok"], learner=[reply])
    bot, user = pair(Teachability(store, policy="confirm", learn_model="learner", decide=lambda p: False))
    events = await chat(user, bot, "My cat is called Miso, remember that.", max_turns=1)
    assert [e.action for e in events if isinstance(e, MemoryStored)] == ["rejected"]
    assert store.count() == 0


async def test_confirm_without_a_callback_keeps_the_proposal_pending(store):
    reply = learnt(memo("fact", "the user's cat", "The user's cat is called Miso."))
    registry = install(bot=["ok", "ok"], learner=[reply])
    spy = Spy(registry.backend("bot"))
    teach = Teachability(store, policy="confirm", learn_model="learner")
    bot, user = pair(teach)
    await chat(user, bot, "My cat is called Miso, remember that.", max_turns=1)
    [pending] = store.list(pending=True)
    assert pending.recall == "The user's cat is called Miso." and store.list() == []
    await chat(user, bot, "What is my cat's name?", max_turns=1)
    assert "Miso" not in spy.calls[-1][-1][1]  # a proposal is never recalled
    store.accept(pending.id)
    await chat(user, bot, "What is my cat's name?", max_turns=1)
    assert "The user's cat is called Miso." in spy.calls[-1][-1][1]


async def test_a_bad_learning_reply_is_a_notice_and_the_chat_goes_on(store):
    registry = install(bot=["Noted."], learner=["this is not JSON"])
    bot, user = pair(Teachability(store, learn_model="learner"))
    events = await chat(user, bot, TEACH, max_turns=1)
    assert any(isinstance(e, NoticeEvent) and "learning failed" in e.text for e in events)
    assert bot.chat_messages[user][-1]["content"] == "Noted."
    assert store.count() == 0 and registry.backend("learner").calls == 1


def test_memory_events_round_trip():
    for event in (MemoryProposed("c", agent="a", memo_id="m", kind="fact", match="x", recall="y", replaces="o"),
                  MemoryStored("c", agent="a", memo_id="m", kind="fact", match="x", recall="y", action="replaced",
                               replaced="o"),
                  MemoryRecalled("c", agent="a", query="q", memos=({"id": "m", "distance": 0.2},))):
        assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event


def test_a_team_file_switches_teachability_on(tmp_path, monkeypatch):
    from moot.agents import parse_team
    from moot.backends import ConfigError

    install({"k": 2, "policy": "confirm"}, bot=["ok"])
    text = """schema_version = 1
[[members]]
name = "bot"
model = "bot"
teachability = true
[[members]]
name = "helper"
model = "bot"
teachability = {policy = "off", k = 1}
[[members]]
name = "plain"
model = "bot"
[chat]
speaker_selection = "round_robin"
"""
    built = parse_team(text, "team.toml").build()

    def teach_of(name):
        hooks = built.members[name].hook_lists["process_last_received_message"]
        return hooks[0].teachability if hooks else None

    assert (teach_of("bot").policy, teach_of("bot").k) == ("confirm", 2)  # from models.toml's [memory]
    assert (teach_of("helper").policy, teach_of("helper").k) == ("off", 1)
    assert teach_of("plain") is None
    assert teach_of("bot").learn_from == {"user"}  # the humans (here the default initiator), not the other agents
    assert teach_of("bot").memo_store is teach_of("helper").memo_store  # one store for the team
    with pytest.raises(ConfigError, match="teachability"):
        parse_team(text.replace('teachability = true', 'teachability = {polcy = "auto"}'), "team.toml")


async def test_placeholder_memos_from_a_weak_model_are_dropped(store):
    # What SmolLM2-135M answered here once: the schema filled with a placeholder, and a copy of
    # the prompt's example. Neither shares a word with the message, so neither is stored.
    reply = learnt(memo("task_advice", "memo_ref", "memo_ref"),
                   memo("preference", "which language to answer in", "Always answer the user's preference."),
                   memo("preference", "how to indent Python", "Indent Python code with tabs."))
    install(bot=["ok"], learner=[reply])
    bot, user = pair(Teachability(store, learn_model="learner"))
    await chat(user, bot, TEACH, max_turns=1)
    assert [m.recall for m in store.list()] == ["Indent Python code with tabs."]
