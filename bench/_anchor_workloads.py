"""The orchestration workload on the anchors, run inside the side venv `make bench-anchors` builds.

Four agents in round-robin, scripted zero-latency replies of ~200 characters, N messages.
- AutoGen 0.4 API (autogen-agentchat): RoundRobinGroupChat + ReplayChatCompletionClient.
- AG2 0.14 (the last release with the 0.2 API): GroupChat round_robin, replies via register_reply,
  silent as its users run it: ``GroupChatManager(..., silent=True)`` (without it the manager prints
  every message, whatever ``initiate_chat(silent=True)`` says) and ``initiate_chat(silent=True)``.
Both print nothing; bench/orchestration_overhead.py fails a run that prints anything.

    .venv-anchors/bin/python bench/_anchor_workloads.py autogen|ag2 N   -> one JSON line

Each run reports its wall time and this process's CPU time for the chat alone (set-up and imports
left out); on a shared machine the CPU time is the steadier of the two.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

AGENTS = 4
TASK = "Start."
REPLY = ("Noted. I checked the previous step, the numbers add up, and the next part of the plan can go "
         "ahead as written; I will hand over to the next agent with a short summary of what has changed so far.")
assert 190 <= len(REPLY) <= 210


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_autogen(n: int) -> tuple[float, float, int]:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import MaxMessageTermination
    from autogen_agentchat.teams import RoundRobinGroupChat
    from autogen_ext.models.replay import ReplayChatCompletionClient

    agents = [
        AssistantAgent(f"agent{i}", model_client=ReplayChatCompletionClient([REPLY] * (n // 4 + 2)))
        for i in range(AGENTS)
    ]
    team = RoundRobinGroupChat(agents, termination_condition=MaxMessageTermination(n))

    async def go():
        started, cpu = time.perf_counter(), time.process_time()
        result = await team.run(task=TASK)
        return time.perf_counter() - started, time.process_time() - cpu, len(result.messages)

    return asyncio.run(go())


def run_ag2(n: int) -> tuple[float, float, int]:
    from autogen import Agent, ConversableAgent, GroupChat, GroupChatManager

    def reply(recipient, messages=None, sender=None, config=None):
        return True, REPLY

    agents = [ConversableAgent(f"agent{i}", llm_config=False, human_input_mode="NEVER") for i in range(AGENTS)]
    for a in agents:
        a.register_reply([Agent, None], reply, position=0)
    chat = GroupChat(agents, messages=[], max_round=n, speaker_selection_method="round_robin")
    manager = GroupChatManager(chat, llm_config=False, silent=True)
    started, cpu = time.perf_counter(), time.process_time()
    agents[0].initiate_chat(manager, message=TASK, silent=True)
    return time.perf_counter() - started, time.process_time() - cpu, len(chat.messages)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("autogen", "ag2") or not sys.argv[2].isdigit():
        # `make bench` runs every script in bench/: this one is a child of orchestration_overhead.py
        print("bench/_anchor_workloads.py runs inside .venv-anchors: _anchor_workloads.py autogen|ag2 N "
              "(bench/orchestration_overhead.py starts it)")
        sys.exit(0 if len(sys.argv) == 1 else 2)
    which, n = sys.argv[1], int(sys.argv[2])
    before = rss_mb()
    wall, cpu, messages = (run_autogen if which == "autogen" else run_ag2)(n)
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "messages": messages, "peak_rss_mb": rss_mb(),
                      "rss_before_mb": before}))
