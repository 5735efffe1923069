"""The conversation engine on the REAL bundled model (SmolLM2-135M through llama.cpp)."""

from __future__ import annotations

import pytest

from agent_test_helpers import install_models
from moot.agents import AssistantAgent, ConversableAgent, GroupChat, GroupChatManager, UserProxyAgent
from moot.agents.events import SpeakerSelected, ToolResult

pytestmark = pytest.mark.model

BUNDLED = {"backend": "llama_cpp", "model_path": "bundled:smollm2", "context_length": 4096, "max_output_tokens": 64,
           "temperature": 0.7}


@pytest.fixture
def bundled(bundled_model_path):
    return install_models(smol=BUNDLED)


def bot(name, description):
    return ConversableAgent(name, llm_config=False, human_input_mode="NEVER", description=description,
                            default_auto_reply=f"{name} has done its part of the work.")


async def test_auto_selection_over_fifty_turns_is_always_a_valid_eligible_name(bundled):
    planner = bot("planner", "Plans the work step by step.")
    coder = bot("coder", "Writes Python code.")
    reviewer = bot("reviewer", "Reviews code and points out bugs.")
    tester = bot("tester", "Runs the tests and reports failures.")
    graph = {planner: [coder, reviewer, tester], coder: [reviewer, tester], reviewer: [planner, coder], tester: [planner, coder, reviewer]}
    gc = GroupChat([planner, coder, reviewer, tester], max_round=52, speaker_selection_method="auto",
                   allowed_or_disallowed_speaker_transitions=graph, speaker_transitions_type="allowed",
                   allow_repeat_speaker=False)
    manager = GroupChatManager(gc, llm_config="smol")
    stream = planner.run_stream(manager, message="Build a small calculator module with tests.")
    selections = [e async for e in stream if isinstance(e, SpeakerSelected)]
    assert len(selections) >= 50
    allowed = {a.name: {b.name for b in bs} for a, bs in graph.items()}
    previous = "planner"
    for s in selections:
        assert s.speaker in s.candidates
        assert set(s.candidates) == allowed[previous]
        assert s.fallback is None, s.fallback  # the constrained answer was always a candidate's name
        if len(s.candidates) > 1:
            assert s.raw_answer == s.speaker
        previous = s.speaker
    assert stream.result.stop_condition == "max_round"


async def test_tool_call_round_trip(bundled):
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
    asst = AssistantAgent("asst", system_message="You are a helpful assistant. Use the tools.",
                          llm_config={"model": "smol", "tool_choice": "get_weather", "temperature": 0})

    calls = []

    @user.register_for_execution()
    @asst.register_for_llm(description="Get the current weather in a city.")
    def get_weather(city: str) -> str:
        calls.append(city)
        return f"It is sunny and 21 C in {city}."

    stream = user.run_stream(asst, message="What is the weather in Paris?", max_turns=2)
    events = [e async for e in stream]
    history = stream.result.chat_history
    assert history[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    results = [e for e in events if isinstance(e, ToolResult)]
    assert results and not results[0].is_error, results[0].content if results else None
    assert calls and "sunny" in history[2]["tool_responses"][0]["content"]
    assert history[2]["tool_responses"][0]["tool_call_id"] == history[1]["tool_calls"][0]["id"]
    assert len(history) == 4  # the model answered again after seeing the result
    assert stream.result.stop_condition == "max_turns"
