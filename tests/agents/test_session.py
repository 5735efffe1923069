"""The Session: one owner of a run. Start, stream, go on in the same chat, stop and resume, fork,
replay, export, close (executors and backends included), on the scripted backend and a real
session store in the test's data dir."""

from __future__ import annotations

import asyncio

import pytest

from moot.agents import Outcome, Session, events as ev, parse_team
from moot.backends.config import scripted_models
from moot.memory import SessionStore

DUO = """schema_version = 1
name = "duo"
[[members]]
name = "user"
role = "user_proxy"
model = "bot"
human_input_mode = "NEVER"
max_consecutive_auto_reply = 10
[[members]]
name = "bot"
role = "assistant"
model = "bot"
[chat]
initiator = "user"
max_turns = 2
"""

CODER = """schema_version = 1
name = "coder"
[[members]]
name = "runner"
role = "user_proxy"
human_input_mode = "NEVER"
[members.code_execution]
executor = "local"
work_dir = "{work}"
timeout = 20
[[members]]
name = "coder"
model = "bot"
[chat]
max_turns = 2
"""

GROUP = """schema_version = 1
name = "trio"
[[members]]
name = "a"
model = "bot"
[[members]]
name = "b"
model = "bot"
[[members]]
name = "c"
model = "bot"
[chat]
speaker_selection = "round_robin"
max_round = 3
[termination]
stall = false
"""


def models(*replies, **options):
    spec = {"replies": list(replies)}
    if options:
        spec["options"] = options
    return scripted_models({"bot": spec}, default="bot", source="test")


def team(text: str, config):
    return parse_team(text, "test team", config)


async def collect(session: Session, message: str | None = None) -> list[ev.Event]:
    return [e async for e in session.stream(message)]


async def test_a_new_message_after_a_stop_goes_on_in_the_same_root_chat():
    config = models(*(f"reply {i}" for i in range(1, 9)))
    store = SessionStore.open_default()
    async with Session.start(team(DUO, config), "the task", models=config, store=store) as session:
        first = await collect(session)
        assert session.outcome is Outcome.COMPLETED and first[-1].condition == "max_turns"
        root = session.root_chat_id
        second = await collect(session, "and now?")
        assert not any(isinstance(e, ev.ChatStarted) for e in second)  # the same chat, not a new one
        assert {e.chat_id for e in second if isinstance(e, ev.MessagePosted)} == {root}
        assert second[0].kind == "continued"
        assert session.outcome is Outcome.COMPLETED and session.result.chat_id == root
        assert [m["content"] for m in session.result.chat_history] == [
            "the task", "reply 1", "reply 2", "reply 3", "and now?", "reply 4", "reply 5", "reply 6"]
        sid = session.id
    info = store.get(sid)
    assert (info.status, info.outcome, info.resumable, info.messages) == ("stopped", "completed", False, 8)
    assert info.root_chat_id == root


async def test_a_stopped_run_is_resumable_and_goes_on_where_it_stopped_in_a_new_process_state():
    config = models("word " * 200, "done", "more", chunk_delay_s=0.005, chunk_size=4)
    store = SessionStore.open_default()
    session = Session.start(team(DUO, config), "talk", models=config, store=store)
    seen = []
    async with session:
        async for event in session.stream():
            seen.append(event)
            if isinstance(event, ev.TokenDelta) and len(seen) > 20:
                session.stop("enough for now")
        assert session.outcome is Outcome.CANCELLED and session.resumable
        assert session.stop_reason == "enough for now"
    info = store.get(session.id)
    assert (info.status, info.outcome, info.resumable) == ("stopped", "cancelled", True)
    # a new Session from the store: the agents are rebuilt and the run goes on
    async with Session.open(session.id, store=store, models=config) as again:
        assert again.resumable and again.root_chat_id == session.root_chat_id
        events = await collect(again)
        assert events[0].kind == "resumed"
        posted = [e for e in events if isinstance(e, ev.MessagePosted)]
        assert posted and {e.chat_id for e in posted} == {session.root_chat_id}
        assert again.outcome is Outcome.COMPLETED
    info = store.get(session.id)
    assert info.outcome == "completed" and not info.resumable


async def test_a_completed_session_takes_no_resume_without_a_message():
    config = models("a", "b", "c")
    async with Session.start(team(DUO, config), "go", models=config) as session:
        await collect(session)
        with pytest.raises(ValueError, match="completed .*give a message to go on"):
            await collect(session)


async def test_a_group_chat_goes_on_after_a_stop_with_its_members_history():
    config = models(*(f"turn {i}" for i in range(1, 10)))
    async with Session.start(team(GROUP, config), "plan it", models=config) as session:
        await collect(session)
        group = session.built.groupchat
        assert session.outcome is Outcome.COMPLETED and len(group.messages) == 3
        events = await collect(session, "once more")
        # max_round counts per run of the group, as AutoGen's manager does
        assert [e.sender for e in events if isinstance(e, ev.MessagePosted)][:1] == ["user"]
        assert len(group.messages) == 6
        assert not any(isinstance(e, ev.ChatStarted) for e in events)


async def test_closing_a_session_closes_its_executors(tmp_path):
    config = models("```python\nprint(6 * 7)\n```", "ok")
    session = Session.start(team(CODER.format(work=tmp_path / "work"), config), "compute", models=config,
                            record=False)
    events = await collect(session)
    assert any(isinstance(e, ev.ExecutionFinished) and e.exit_code == 0 for e in events)
    runner = session.built.members["runner"]
    executor = runner.executor
    assert executor is not None
    await session.aclose()
    assert runner.executor is None and executor._closed
    with pytest.raises(RuntimeError, match="closed"):
        await collect(session, "again")


async def test_two_sessions_in_one_process_keep_their_own_models():
    one, two = models("from one", "x", "y"), models("from two", "x", "y")
    async with Session.start(team(DUO, one), "hi", models=one, record=False) as a, \
            Session.start(team(DUO, two), "hi", models=two, record=False) as b:
        ra, rb = await asyncio.gather(collect(a), collect(b))
    first = lambda events: next(e.content for e in events if isinstance(e, ev.MessagePosted) and e.sender == "bot")
    assert first(ra) == "from one" and first(rb) == "from two"


async def test_fork_replay_and_export_go_through_the_session():
    config = models("r1", "r2", "r3", "r4", "r5")
    store = SessionStore.open_default()
    async with Session.start(team(DUO, config), "start", models=config, store=store) as session:
        await collect(session)
        markdown = session.export("md")
        for text in ("start", "r1", "r2", "r3"):
            assert text in markdown
        assert '"events"' in session.export("json")
        replay = await session.replay(record=False)
        assert replay.identical, replay.differences
        forked = session.fork(2)
    async with forked:
        assert forked.id != session.id and forked.resumable
        events = await collect(forked)
        posted = [e for e in events if isinstance(e, ev.MessagePosted)]
        assert posted and posted[0].sender == "user"  # the fork goes on after message 2 (the bot's)
    info = store.get(forked.id)
    assert info.parent_id == session.id and info.outcome == "completed"


SPLIT_KEY = '''```python
import sys, time
key = open("key.txt").read()
sys.stdout.write("the key is " + key[:9]); sys.stdout.flush(); time.sleep(0.3)
sys.stdout.write(key[9:] + " (printed in two writes)\\n")
```'''


async def test_a_key_printed_by_code_reaches_no_model_event_store_or_export(tmp_path, monkeypatch):
    """The key a models.toml names in api_key_env (a name that does not look secret) got into
    the work dir; code prints it in two writes. It is redacted from the executor's output before
    the model reads the report, and so from every event, the store and the Markdown export."""
    key = "sk-live-0123456789abcdef0123"
    monkeypatch.setenv("ACME_LLM", key)
    work = tmp_path / "work"
    work.mkdir()
    (work / "key.txt").write_text(key)
    config = scripted_models({"bot": [SPLIT_KEY, "done"],
                              "remote": {"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1",
                                         "api_key_env": "ACME_LLM"}}, default="bot", source="test")
    store = SessionStore.open_default()
    seen = []
    async with Session.start(team(CODER.format(work=work), config), "show the key", models=config,
                             store=store) as session:
        async for event in session.stream():
            seen.append(event)
        report = session.built.members["coder"].chat_messages[session.built.members["runner"]][-2]["content"]
        markdown = session.export("md")
        exported = session.export("json")
    streamed = "".join(e.text for e in seen if isinstance(e, ev.ExecutorOutput))
    assert "the key is [$ACME_LLM redacted] (printed in two writes)" in streamed
    assert "[$ACME_LLM redacted]" in report and key not in report  # what the model reads next
    for text in (streamed, report, markdown, exported, repr([e.to_dict() for e in seen])):
        assert key not in text and key[:9] + "\n" not in text
    rows = store.db.execute("SELECT payload FROM events WHERE session_id = ?", (session.id,)).fetchall()
    assert rows and not any(key in r[0] or key[9:] in r[0] for r in rows)


async def test_a_new_message_from_the_user_resets_the_agents_auto_reply_counts():
    # AutoGen resets an agent's count of consecutive automatic replies when a human speaks: a
    # follow-up gets the same number of automatic replies as the task did.
    config = models(*(f"reply {i}" for i in range(1, 9)))
    text = DUO.replace("max_consecutive_auto_reply = 10", "max_consecutive_auto_reply = 1").replace(
        "max_turns = 2", "max_turns = 10")
    async with Session.start(team(text, config), "the task", models=config, store=SessionStore.open_default()) as session:
        await collect(session)
        first = [m["content"] for m in session.result.chat_history]
        assert first == ["the task", "reply 1", "reply 2", "reply 3"]
        await collect(session, "and now?")
        assert [m["content"] for m in session.result.chat_history][4:] == ["and now?", "reply 4", "reply 5", "reply 6"]
