"""The context budget over a REAL OpenAI-compatible server (``python -m llama_cpp.server`` with the
bundled model, ``--n_ctx 2048``): no exact tokenizer on this side, so the agent budgets with an
estimate the server's own counts calibrate, and a group chat that outgrows the window compacts
instead of failing with the server's context error."""

from __future__ import annotations

import pytest

from moot.agents import ConversableAgent, GroupChat, GroupChatManager, use_models
from moot.agents.events import ContextCompacted, Stopped, UsageReport
from moot.backends.config import scripted_models

pytestmark = pytest.mark.server


async def test_a_group_chat_over_the_server_stays_inside_its_window(llama_server):
    use_models(scripted_models({"srv": {"backend": "openai", "model": "smollm2", "base_url": llama_server,
                                        "context_length": 2048, "max_output_tokens": 48, "temperature": 0.0}},
                               source="test"))
    writer = ConversableAgent("writer", system_message="You write one short sentence about the sea.",
                              llm_config="srv", human_input_mode="NEVER")
    logger = ConversableAgent("logger", llm_config=False, human_input_mode="NEVER",
                              default_auto_reply="LOG " + "the tide table for the harbour, hour by hour; " * 12)
    critic = ConversableAgent("critic", system_message="You say in one sentence what could be better.",
                              llm_config="srv", human_input_mode="NEVER")
    chat = GroupChat([writer, logger, critic], max_round=33, speaker_selection_method="round_robin")
    stream = writer.run_stream(GroupChatManager(chat, llm_config=False), message="Describe the sea at dawn.")
    events = [e async for e in stream]
    stop = [e for e in events if isinstance(e, Stopped)][-1]
    assert stop.condition == "max_round", stop.reason
    usage = [e for e in events if isinstance(e, UsageReport)]
    assert len(usage) >= 20
    for u in usage:  # the server's own count of every prompt, with the reply's room, fits
        assert u.window == 2048 and u.prompt_tokens + u.reserved <= 2048, (u.prompt_tokens, u.reserved)
    assert max(u.prompt_tokens for u in usage) > 1000  # the window was really used
    assert any(isinstance(e, ContextCompacted) for e in events)
