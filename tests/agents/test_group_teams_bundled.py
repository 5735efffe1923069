"""The shipped group teams on the REAL bundled model (SmolLM2-135M through llama.cpp): every
speaker is one the team's transition graph allows, and every run ends with a stop reason."""

from __future__ import annotations

import pytest

from agent_test_helpers import install_models
from moot.agents import load_team
from moot.agents.events import SpeakerSelected

pytestmark = pytest.mark.model

BUNDLED = {"backend": "llama_cpp", "model_path": "bundled:smollm2", "context_length": 4096, "max_output_tokens": 48,
           "temperature": 0.7}
STOPS = {"TextMention", "Stall(no_progress)", "Stall(repeat)", "Stall(ping_pong)", "Stall(tool_call)", "max_round",
         "MaxMessages", "speaker_selection"}


@pytest.mark.parametrize(("name", "task"), [
    ("planner-coder-reviewer", "Write a script that prints the sum of 2 and 3."),
    ("research-writer-editor", "A short note on why the sky is blue."),
])
async def test_a_shipped_group_team_speaks_in_its_allowed_order_and_stops(bundled_model_path, tmp_path, name, task):
    registry = install_models(smol=BUNDLED)
    team = load_team(name, registry.config)
    assert team.warnings == []
    built = team.build(executor="sandbox", work_dir=str(tmp_path), human_input_mode="NEVER")
    built.groupchat.max_round = 7  # short: the order and the stop are what is checked
    transitions = team.spec.chat.transitions
    stream = built.initiator.run_stream(built.recipient, **built.chat_kwargs, message=task)
    selections = [e async for e in stream if isinstance(e, SpeakerSelected)]
    previous = built.initiator.name
    for s in selections:
        owner = s.reason.startswith("the only eligible speaker (owner of the pending tool call")
        if previous in transitions and not owner:
            assert s.speaker in transitions[previous], (previous, s.speaker, s.reason)
        assert s.speaker in s.candidates and s.fallback is None, s
        previous = s.speaker
    result = stream.result
    assert result.stop_condition in STOPS and result.stop_reason, (result.stop_condition, result.stop_reason)
    assert [m["name"] for m in result.chat_history][0] == built.initiator.name
