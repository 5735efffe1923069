"""Teachability made with AutoGen 0.2's settings, on real parts (Chroma, the bundled MiniLM, a
scripted model)."""

from __future__ import annotations

from moot import AssistantAgent, UserProxyAgent, use_models
from moot.agentchat.contrib.capabilities.teachability import Teachability
from moot.agents.events import MemoryRecalled
from moot.backends.config import scripted_models


def test_autogen_settings_map_onto_moots(tmp_path):
    teachability = Teachability(verbosity=1, reset_db=True, path_to_db_dir=str(tmp_path / "db"), recall_threshold=1.2,
                                max_num_retrievals=4, llm_config={"config_list": [{"model": "learner"}]})
    assert teachability.k == 4 and teachability.distance_threshold == 0.6 and teachability.verbosity == 1
    assert teachability.learn_model == {"config_list": [{"model": "learner"}]}
    assert str(teachability.memo_store.path) == str(tmp_path / "db")


def test_reset_db_forgets_what_the_store_held(tmp_path):
    first = Teachability(path_to_db_dir=str(tmp_path / "db"))
    first.memo_store.add("the user's cat", "The user's cat is called Miso.")
    assert Teachability(path_to_db_dir=str(tmp_path / "db")).memo_store.count() == 1
    assert Teachability(reset_db=True, path_to_db_dir=str(tmp_path / "db")).memo_store.count() == 0


async def test_a_teachable_agent_recalls_a_memo_into_its_chat(tmp_path):
    use_models(scripted_models({"bot": ["Miso, of course.", "noted"]}, source="test"))
    teachability = Teachability(reset_db=True, path_to_db_dir=str(tmp_path / "db"), policy="off")
    teachability.memo_store.add("the name of the user's cat", "The user's cat is called Miso.")
    bot = AssistantAgent("bot", llm_config="bot")
    teachability.add_to_agent(bot)
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
    events = [e async for e in user.run_stream(bot, message="What is the name of my cat?", max_turns=1)]
    recalled = [e for e in events if isinstance(e, MemoryRecalled)]
    assert recalled and "Miso" in recalled[0].memos[0]["recall"]
