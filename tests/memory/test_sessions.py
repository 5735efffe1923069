"""The session store through its Python API: recording, listing, fork, export, import, resume, replay."""

from __future__ import annotations

import json
import time

import pytest

from moot.agents import a_replay_session, a_resume_session, load_team, use_models
from moot.agents.events import Event, MessagePosted, NoticeEvent, Stopped, TokenDelta
from moot.agents.transcript import to_markdown
from moot.backends import load_models
from moot.memory import SessionBusy, SessionNotFound, SessionStore, SessionStoreError
from moot.paths import data_dir


async def record_run(store: SessionStore, env, team_file: str, task: str = "Do the thing", models: str = "models.toml"):
    config = load_models(str(env / models))
    use_models(config)
    team = load_team(str(env / team_file), config)
    built = team.build()
    recorder = store.recorder(title=task, team=team, task=task, models=config)
    stream = built.initiator.run_stream(built.recipient, message=task, **built.chat_kwargs)
    async for event in stream:
        recorder(event)
    recorder.close()
    return recorder.session_id, stream.result


def markdown(store: SessionStore, sid: str) -> str:
    info = store.get(sid)
    return to_markdown(store.events(info.id), info)


def messages(store: SessionStore, sid: str) -> list[tuple[str, str, str]]:
    return [(e["sender"], e["recipient"], e["content"]) for e in store.events(sid) if e["type"] == "message"]


async def test_recording_keeps_every_event_and_the_session_facts(session_env, replies):
    store = SessionStore.open_default()
    assert store.path == data_dir() / "sessions.db"
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    sid, result = await record_run(store, session_env, "duo.toml")
    info = store.get(sid)
    assert info.status == "stopped" and info.stop_condition == "max_turns"
    assert info.stop_reason == result.stop_reason
    assert info.team_name == "duo" and "name = \"bob\"" in info.team_text
    assert info.task == "Do the thing" and info.models_source.endswith("models.toml")
    assert info.messages == 6
    events = store.events(sid)
    assert events[0]["type"] == "chat_started" and events[-1]["type"] == "stopped"
    got = messages(store, sid)
    assert got[0] == ("alice", "bob", "Do the thing")
    assert [m[2] for m in got[1:]] == replies[:5]
    # token deltas of one message are merged, and every delta text is kept
    deltas = "".join(e["text"] for e in events if e["type"] == "token_delta")
    assert deltas == "".join(replies[:5])
    # the stored events rebuild into the engine's event classes
    rebuilt = [Event.from_dict(e) for e in events]
    assert isinstance(rebuilt[-1], Stopped)
    assert [s.id for s in store.list()] == [sid]


def _merged(events: list[Event]) -> list[dict]:
    """The events as data, with consecutive token deltas of one message merged (as the store keeps them)."""
    out: list[dict] = []
    for e in events:
        d = e.to_dict()
        last = out[-1] if out else None
        if (d["type"] == "token_delta" and last is not None and last["type"] == "token_delta"
                and last["message_id"] == d["message_id"]):
            last["text"] += d["text"]
            continue
        out.append(d)
    return out


async def test_a_turn_is_one_row_and_reads_back_as_its_events(session_env):
    """The recorder writes one row per posted message (holding its turn's speaker choice, usage
    and merged deltas); events() gives back every event, in order, with its own time."""
    store = SessionStore.open_default()
    config = load_models(str(session_env / "models.toml"))
    use_models(config)
    team = load_team(str(session_env / "duo.toml"), config)
    built = team.build()
    recorder = store.recorder(title="rows", team=team, task="Do the thing", models=config)
    seen = []
    async for event in built.initiator.run_stream(built.recipient, message="Do the thing", **built.chat_kwargs):
        seen.append(event)
        recorder(event)
    recorder.close()
    sid = recorder.session_id
    assert any(isinstance(e, TokenDelta) for e in seen)
    assert store.events(sid) == _merged(seen)
    kinds = [r[0] for r in store.db.execute("SELECT type FROM events WHERE session_id = ? ORDER BY seq", (sid,))]
    posted = sum(isinstance(e, MessagePosted) for e in seen)
    assert kinds.count("message") == posted and "usage" not in kinds and "token_delta" not in kinds
    assert len(kinds) < len(_merged(seen)) / 2


def test_a_reply_that_differs_from_its_stream_keeps_its_deltas(session_env):
    """A posted message whose text is not what streamed (a hook changed it): the deltas stay as they were."""
    store = SessionStore.open_default()
    recorder = store.recorder(title="hooked")
    events = [TokenDelta("c1", agent="bob", message_id="m1", text="sec"),
              TokenDelta("c1", agent="bob", message_id="m1", text="ret 42"),
              MessagePosted("c1", message_id="m1", sender="bob", recipient="alice", role="user", content="[redacted] 42"),
              TokenDelta("c1", agent="alice", message_id="m2", text="half a rep")]
    for event in events:
        recorder(event)
    recorder.close()
    assert store.events(recorder.session_id) == _merged(events)


async def test_session_ids_by_prefix_and_unknown_ids(session_env):
    store = SessionStore.open_default()
    sid, _ = await record_run(store, session_env, "duo.toml")
    assert store.get(sid[:6]).id == sid
    with pytest.raises(SessionNotFound, match="no session 'zzz'"):
        store.get("zzz")


async def test_a_recorder_that_never_saw_a_stop_leaves_an_interrupted_session_with_its_partial_reply():
    store = SessionStore.open_default()
    rec = store.recorder(title="t")
    rec(MessagePosted("c1", message_id="m1", sender="a", recipient="b", role="assistant", content="hi"))
    rec(TokenDelta("c1", agent="b", message_id="m2", text="half a rep"))
    rec.close()
    info = store.get(rec.session_id)
    assert info.status == "interrupted" and info.interrupted_message_id == "m2"
    md = markdown(store, info.id)
    assert "## b (interrupted)" in md and "half a rep" in md


async def test_recording_is_flat_in_history_length():
    """The cost of recording one message does not grow with the session (no O(history) work)."""
    store = SessionStore.open_default()
    rec = store.recorder(title="bench")

    def batch(start: int, n: int) -> float:
        t = time.perf_counter()
        for i in range(start, start + n):
            rec(TokenDelta("c", agent="a", message_id=f"m{i}", text="hello " * 10))
            rec(MessagePosted("c", message_id=f"m{i}", sender="a", recipient="b", role="assistant", content="hello " * 10))
        rec.flush()
        return time.perf_counter() - t

    batch(0, 200)  # warm-up
    early = min(batch(200 + k * 500, 500) for k in range(2))
    batch(1200, 4000)
    late = min(batch(5200 + k * 500, 500) for k in range(2))
    rec.close()
    assert late < early * 3 + 0.05, (early, late)
    assert store.get(rec.session_id).messages == 6200


async def test_fork_copies_up_to_the_message_and_links_the_parent(session_env):
    store = SessionStore.open_default()
    sid, _ = await record_run(store, session_env, "duo.toml")
    fork = store.fork(sid, 3)
    info = store.get(fork)
    assert info.parent_id == sid and info.resumable and info.stop_condition == "fork"
    assert messages(store, fork) == messages(store, sid)[:3]
    third = store.events(sid)
    mid = [e["message_id"] for e in third if e["type"] == "message"][2]
    assert info.fork_message_id == mid
    assert messages(store, store.fork(sid, mid)) == messages(store, sid)[:3]
    with pytest.raises(SessionStoreError, match="has 6 messages; there is no message 9"):
        store.fork(sid, 9)
    # the fork resumes like any session: the chat goes on from message 3 and finishes
    result = await a_resume_session(fork, store=store, models=str(session_env / "models.toml"))
    assert result.stop_condition == "max_turns"
    after = messages(store, fork)
    assert after[:3] == messages(store, sid)[:3] and len(after) == 6
    assert store.get(fork).status == "stopped"


async def test_resume_restores_group_state_and_goes_on(session_env):
    """Resume a group chat cut after 3 messages: history, speaker order, counters and termination
    progress come back, and the chat ends exactly as an uninterrupted run does."""
    store = SessionStore.open_default()
    full, _ = await record_run(store, session_env, "trio.toml")
    cut = store.fork(full, 3)
    seen = []
    result = await a_resume_session(cut, store=store, models=str(session_env / "models.toml"), on_event=seen.append)
    assert messages(store, cut) == messages(store, full)
    assert result.stop_reason == "max_round reached (6 messages)"
    assert isinstance(seen[0], NoticeEvent) and seen[0].kind == "resumed"
    # the chat id is kept, so the session stays one chat
    assert {e["chat_id"] for e in store.events(cut) if e["type"] == "message"} == {store.get(cut).root_chat_id}


async def test_resume_restores_auto_reply_counters(session_env):
    """max_consecutive_auto_reply counts the replies made before the stop too."""
    text = (session_env / "duo.toml").read_text().replace("max_consecutive_auto_reply = 10", "max_consecutive_auto_reply = 2")
    text = text.replace("max_turns = 3", "max_turns = 10")
    (session_env / "capped.toml").write_text(text)
    store = SessionStore.open_default()
    full, res = await record_run(store, session_env, "capped.toml")
    assert res.stop_condition == "max_consecutive_auto_reply"
    n = len(messages(store, full))
    cut = store.fork(full, n - 1)
    result = await a_resume_session(cut, store=store, models=str(session_env / "models.toml"))
    assert result.stop_condition == "max_consecutive_auto_reply"
    assert messages(store, cut) == messages(store, full)


async def test_a_finished_session_is_not_resumed(session_env):
    store = SessionStore.open_default()
    sid, _ = await record_run(store, session_env, "duo.toml")
    with pytest.raises(SessionStoreError, match="nothing to resume. Go on with a message"):
        await a_resume_session(sid, store=store)


async def test_a_session_held_by_a_recorder_cannot_be_resumed_or_deleted(session_env):
    store = SessionStore.open_default()
    sid, _ = await record_run(store, session_env, "duo.toml")
    fork = store.fork(sid, 2)
    holder = store.recorder(session_id=fork)
    holder.begin_run()
    try:
        with pytest.raises(SessionBusy, match=r"being run by process \d+"):
            await a_resume_session(fork, store=store, models=str(session_env / "models.toml"))
        with pytest.raises(SessionBusy):
            store.delete(fork)
        assert store.get(fork).status == "running"  # held: not mistaken for a dead run
    finally:
        holder.close()
    store.delete(fork)
    with pytest.raises(SessionNotFound):
        store.get(fork)


@pytest.mark.parametrize("team_file", ["duo.toml", "trio.toml"])
async def test_replay_reproduces_the_transcript(session_env, team_file):
    store = SessionStore.open_default()
    sid, _ = await record_run(store, session_env, team_file)
    outcome = await a_replay_session(sid, store=store)
    assert outcome.identical, outcome.differences
    assert messages(store, outcome.session_id) == messages(store, sid)
    assert store.get(outcome.session_id).options["replay_of"] == sid


async def test_replay_notices_a_different_transcript(session_env):
    store = SessionStore.open_default()
    sid, _ = await record_run(store, session_env, "duo.toml")
    # tamper with the recording: the replayed chat now differs from what the record says
    store.db.execute("UPDATE events SET payload = json_set(payload, '$.content', 'edited') "
                     "WHERE session_id = ? AND type = 'message' AND seq = (SELECT max(seq) FROM events "
                     "WHERE session_id = ? AND type = 'message')", (sid, sid))
    store.db.execute("UPDATE events SET payload = json_set(payload, '$.content', 'edited by hand') WHERE session_id = ? "
                     "AND seq = (SELECT min(seq) FROM events WHERE session_id = ? AND type = 'message' AND "
                     "json_extract(payload, '$.sender') = 'bob')", (sid, sid))
    outcome = await a_replay_session(sid, store=store, record=False)
    # the script comes from the (edited) record, so the replay says "edited by hand" too ...
    assert outcome.identical
    # ... but a record whose stop differs is caught
    store.db.execute("UPDATE events SET payload = json_set(payload, '$.condition', 'other') WHERE session_id = ? "
                     "AND type = 'stopped'", (sid,))
    outcome = await a_replay_session(sid, store=store, record=False)
    assert not outcome.identical and "stop" in outcome.differences[-1]


async def test_markdown_export_reads_well(session_env):
    store = SessionStore.open_default()
    sid, _ = await record_run(store, session_env, "duo.toml")
    md = markdown(store, sid)
    lines = md.splitlines()
    assert lines[0] == "# Do the thing"
    assert "## 1. alice → bob" in lines and "## 2. bob → alice" in lines
    headings = [l for l in lines if l.startswith("## ")]
    assert len(headings) == 6
    # the reply's code block survives as a fenced block, and fences are balanced
    start = lines.index("```python")
    assert lines[start + 1] == "print(1 + 1)" and lines[start + 2] == "```"
    assert sum(1 for l in lines if l.startswith("```")) % 2 == 0
    assert lines[-1] == "**Stopped:** max_turns reached (3 turns, 6 messages) (`max_turns`)" or \
        "**Stopped:** max_turns reached (3 turns, 6 messages) (`max_turns`)" in md


async def test_markdown_sets_executor_output_apart():
    store = SessionStore.open_default()
    rec = store.recorder(title="code")
    from moot.agents.events import ChatStarted, CodeBlockFound, ExecutionFinished, ExecutorOutput

    rec(ChatStarted("c", initiator="u", participants=("u", "a")))
    rec(MessagePosted("c", message_id="m1", sender="a", recipient="u", role="assistant",
                      content="```python\nprint('```')\n```"))
    rec(CodeBlockFound("c", agent="u", execution_id="x1", language="python", code="print('```')"))
    rec(ExecutorOutput("c", agent="u", execution_id="x1", text="```\n"))
    rec(ExecutionFinished("c", agent="u", execution_id="x1", exit_code=0, output="```\n", duration_s=0.1))
    rec(Stopped("c", reason="done", condition="is_termination_msg"))
    rec.close()
    md = markdown(store, rec.session_id)
    assert "### Executor: u ran python" in md
    assert "**Output** (exit code 0 · 0.10 s):" in md
    assert "````text\n```\n````" in md  # a fence longer than the backticks inside
    assert md.rstrip().endswith("**Stopped:** done (`is_termination_msg`)")


async def test_json_export_round_trips(session_env):
    store = SessionStore.open_default()
    sid, _ = await record_run(store, session_env, "trio.toml")
    text = store.export(sid, "json")
    data = json.loads(text)
    assert data["format"] == "moot-session" and data["session"]["id"] == sid
    # into another store (a fresh data dir): same id, identical events
    other = SessionStore(data_dir() / "other" / "sessions.db")
    new = other.import_json(text)
    assert new == sid
    assert other.events(new) == store.events(sid)
    # the export again is the same but for the mark of where it came from (an imported session
    # never chooses how code runs: see test_session_import_safety.py)
    back = json.loads(other.export(new, "json"))
    assert back["session"]["options"].pop("imported")["id"] == sid
    assert back == data
    # into the same store: a new id, identical events
    again = store.import_json(text)
    assert again != sid and store.events(again) == store.events(sid)
    with pytest.raises(SessionStoreError, match="not a moot session export"):
        store.import_json('{"hello": 1}')


async def test_secrets_never_reach_the_store(session_env, monkeypatch):
    secret = "sk-test-0123456789abcdef"
    monkeypatch.setenv("MY_SERVICE_TOKEN", secret)
    (session_env / "keyed.toml").write_text(
        (session_env / "models.toml").read_text() + f'\n[[models]]\nname = "k"\nbackend = "openai"\nmodel = "x"\n'
        f'api_key_env = "MY_SERVICE_TOKEN"\n')
    store = SessionStore.open_default()
    config = load_models(str(session_env / "keyed.toml"))
    rec = store.recorder(title="secret", models=config)
    rec(MessagePosted("c", message_id="m1", sender="a", recipient="b", role="assistant", content=f"env says {secret}"))
    rec.close()
    store.close()
    raw = (data_dir() / "sessions.db").read_bytes() + b"".join(p.read_bytes() for p in data_dir().glob("sessions.db-*"))
    assert secret.encode() not in raw
    assert b"MY_SERVICE_TOKEN" in raw  # the redaction names the variable, never its value
    info = SessionStore.open_default().get(rec.session_id)
    assert "api_key_env" not in info.models_text and 'backend = "openai"' in info.models_text
