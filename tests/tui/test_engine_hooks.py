"""The small engine hook the TUI needs: ``GroupChat.request_next_speaker`` (``/next NAME``)."""

from __future__ import annotations

import pytest

from moot.agents import AssistantAgent, GroupChat, GroupChatManager, UserProxyAgent, use_models
from conftest import app_models


async def test_request_next_speaker_overrides_round_robin_once():
    use_models(app_models(a=["from a"], b=["from b"], c=["from c"]))
    a, b, c = (AssistantAgent(n, llm_config=f"{n}") for n in "abc")
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
    group = GroupChat([a, b, c], max_round=4, speaker_selection_method="round_robin")
    manager = GroupChatManager(group, llm_config=False)
    with pytest.raises(ValueError, match="no agent named 'zed'"):
        group.request_next_speaker("zed")
    group.request_next_speaker("c")
    speakers = []
    async for event in user.run_stream(manager, message="go"):
        if event.type == "speaker_selected":
            speakers.append((event.speaker, event.reason))
    # the first selection honours the request, the later ones go on in turn from there
    assert speakers[0] == ("c", "chosen by the human with /next")
    assert [s for s, _ in speakers[1:]] == ["a", "b"]
