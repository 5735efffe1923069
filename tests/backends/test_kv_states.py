"""KV reuse in a real group chat (backends/llama_cpp.py): the shared-transcript layout gives every
agent the same prompt prefix, and the kept KV states are bounded to what can be reused."""

from __future__ import annotations

import pytest

from moot.backends import ChatMessage
from moot.backends.llama_cpp import GROUP_HEAD, _make_prefix_cache, _to_plain, shared_transcript_layout


def _views():
    """What two agents of one group chat send: their own system prompt first, their own
    messages as assistant and the others' as user (AutoGen's rule)."""
    said = [("user", "TASK: plan a picnic"), ("planner", "1. pick a park"), ("coder", "print('park')")]

    def view(me: str, prompt: str):
        return [ChatMessage("system", prompt, me)] + [
            ChatMessage("assistant" if who == me else "user", text, who) for who, text in said]

    return view("planner", "You plan."), view("coder", "You code.")


def test_two_agents_share_the_whole_transcript_and_differ_only_at_the_end():
    planner, coder = _views()
    a = _to_plain(shared_transcript_layout(planner), False)
    b = _to_plain(shared_transcript_layout(coder), False)
    assert a[0] == b[0] == {"role": "system", "content": GROUP_HEAD}
    assert a[:-1] == b[:-1]  # token for token the same prefix: one KV state serves both
    assert [m["content"] for m in a[1:-1]] == ["user: TASK: plan a picnic", "planner: 1. pick a park",
                                               "coder: print('park')"]
    assert a[-1] == {"role": "system", "content": "You plan."} and b[-1] == {"role": "system", "content": "You code."}


class _State:
    def __init__(self, size: int) -> None:
        self.llama_state_size = size


def test_kept_states_are_the_newest_of_each_diverging_conversation_and_bounded():
    cache = _make_prefix_cache(capacity_bytes=10**9, max_states=4)
    # Four agents, each its own system prompt first (as_given): four conversations that diverge early.
    for turn in range(6):
        for agent in range(4):
            tokens = [1, 100 + agent] + list(range(1000, 1000 + 40 * (turn + 1))) + [agent]
            cache[tokens] = _State(1000)
    assert len(cache.states) == 4  # the newest of each agent; the older ones were superseded
    assert all(len(k) > 200 for k in cache.states)
    # A shared transcript (one conversation): each new state supersedes the last.
    shared = _make_prefix_cache(capacity_bytes=10**9)
    for turn in range(10):
        shared[[1] + list(range(2000, 2000 + 50 * (turn + 1))) + [turn]] = _State(1000)
    assert len(shared.states) == 1
    # The byte budget holds too.
    small = _make_prefix_cache(capacity_bytes=2500, max_states=8)
    for agent in range(5):
        small[[1, 500 + agent, 7, 7]] = _State(1000)
    assert len(small.states) == 2


@pytest.mark.model
async def test_a_real_group_chat_reuses_the_kv_prefix_across_agents(bundled_model_path):
    from moot.agents import ConversableAgent, GroupChat, GroupChatManager, current_registry, use_models
    from moot.agents.events import UsageReport
    from moot.backends.config import scripted_models

    use_models(scripted_models({"m": {"backend": "llama_cpp", "model_path": "bundled:smollm2", "context_length": 2048,
                                      "max_output_tokens": 24, "temperature": 0.0}}, source="test"))
    agents = [ConversableAgent(n, system_message=f"You are the {n}. Answer in one sentence.", llm_config="m",
                               human_input_mode="NEVER") for n in ("planner", "coder", "reviewer")]
    chat = GroupChat(agents, max_round=8, speaker_selection_method="round_robin")
    stream = agents[0].run_stream(GroupChatManager(chat, llm_config=False), message="Plan a tiny web page. " * 8)
    usage = [e async for e in stream if isinstance(e, UsageReport)]
    assert len(usage) == 7
    # After the first call, each agent (a different system prompt each) re-reads only what is new:
    # the last reply and its own system prompt, not the transcript, however long it grows.
    later = [(u.prompt_tokens, u.prompt_tokens - u.cached_tokens) for u in usage[1:]]
    assert all(evaluated <= 80 for _, evaluated in later), later
    assert later[-1][0] > later[0][0] + 60  # while the prompt itself grew
    backend = current_registry().backend("m").primary
    assert backend.kv_states[0] <= 2
    assert "KV state" in backend.status().detail and " MB)" in backend.status().detail  # their memory, shown
