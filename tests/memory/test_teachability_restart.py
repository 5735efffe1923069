"""Teach in one process, quit, recall in a new one: real MiniLM embeddings, real Chroma (the
embedded store under $MOOT_HOME, then a real `chroma run` server), the scripted backend."""

from __future__ import annotations

from conftest_memos import chroma_server, learnt, memo, models_toml, run_python  # noqa: F401 (fixture)

TEACH = "Remember: I always want my Python code indented with tabs, never spaces."
ASK = "Please reformat this Python function for me."

CHILD = """
import asyncio, json, os
from moot.agents import AssistantAgent, Teachability, UserProxyAgent, use_models
registry = use_models(os.environ["MOOT_MODELS"])
sent = []
backend = registry.backend("bot")
original = backend._stream
def spy(request):
    sent.append([m.content for m in request.messages])
    return original(request)
backend._stream = spy
bot = AssistantAgent("bot", llm_config="bot")
teach = Teachability.from_config(policy=os.environ["POLICY"])  # the store models.toml's [memory] names
teach.add_to_agent(bot)
user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False, max_consecutive_auto_reply=0)
async def main():
    return [e.to_dict() for e in [e async for e in user.run_stream(bot, message=os.environ["MESSAGE"], max_turns=1)]]
events = asyncio.run(main())
print(json.dumps({"sent": sent[-1][-1], "history": bot.chat_messages[user][0]["content"],
                  "events": [e for e in events if e["type"].startswith("memory")],
                  "learn_calls": teach.learn_calls, "count": teach.memo_store.count(), "where": teach.memo_store.where}))
"""


def _teach_then_recall(tmp_path, memory_table):
    reply = learnt(memo("preference", "how the user wants Python code indented", "Indent Python code with tabs, never spaces."))
    conf = tmp_path / "models.toml"
    conf.write_text(models_toml(memory_table, bot=["Noted.", "Here it is."], learner=[reply]))
    env = {"MOOT_MODELS": str(conf)}
    first = run_python(CHILD, env={**env, "POLICY": "auto", "MESSAGE": TEACH})
    assert first["learn_calls"] == 1 and first["count"] == 1
    assert [e["type"] for e in first["events"]] == ["memory_stored"]
    second = run_python(CHILD, env={**env, "POLICY": "off", "MESSAGE": ASK})
    assert second["where"] == first["where"]
    assert second["learn_calls"] == 0
    assert ASK in second["sent"] and "Indent Python code with tabs, never spaces." in second["sent"]
    assert second["history"] == ASK  # recalled into the view, never into the stored history
    [recalled] = second["events"]
    assert recalled["type"] == "memory_recalled" and recalled["memos"][0]["id"] == first["events"][0]["memo_id"]
    return first, second


def test_teach_then_recall_in_a_new_process(tmp_path, monkeypatch):
    monkeypatch.setenv("MOOT_HOME", str(tmp_path / "home"))
    first, _ = _teach_then_recall(tmp_path, {"learn_model": "learner"})
    assert first["where"] == str(tmp_path / "home" / "memory")


def test_teach_then_recall_through_a_chroma_server(tmp_path, chroma_server):
    first, _ = _teach_then_recall(tmp_path, {"learn_model": "learner", "url": chroma_server, "collection": "moot-test"})
    assert first["where"] == chroma_server
