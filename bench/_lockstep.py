"""Shared machinery of bench/kv_reuse.py and bench/long_chat.py: moot's REAL GroupChat on the
bundled model in one process, the same calls on a plain shared ``llama_cpp.Llama`` in another,
run in lockstep (moot's call N, then the plain call N, then moot's call N+1, ...), so both see the
same machine load, and each process's peak memory is its own.

The moot process runs the group chat; after each model call it prints the call (what AutoGen would
send: the agent's system prompt first, its own messages as ``assistant``, the others' as ``user``,
and, with ``whole=True``, the whole stored history rather than moot's compacted view) with its own
figures, then waits for "go". The coordinator hands the call to the plain process and says "go"
once the plain call is done. Figures per call: prompt tokens evaluated (not reused), prompt
tokens, wall seconds, and an error if the call failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the moot side --------------------------------------------------------------------------------

def run_moot(spec: dict[str, Any]) -> None:
    """Run the group chat of ``spec`` (agents, task, rounds, model fields), reporting each call."""
    from moot.agents import ConversableAgent, GroupChat, GroupChatManager, use_models
    from moot.agents._messages import to_chat_messages
    from moot.agents import current_registry
    from moot.agents.events import ContextCompacted, Stopped
    from moot.backends.config import scripted_models
    from moot.backends.llama_cpp import LlamaCppBackend

    use_models(scripted_models({"m": {"backend": "llama_cpp", "model_path": "bundled:smollm2", **spec["model"]}},
                               source="bench"))
    agents = [ConversableAgent(n, system_message=s, llm_config="m", human_input_mode="NEVER")
              for n, s in spec["agents"].items()]
    chat = GroupChat(agents, max_round=spec["rounds"] + 1, speaker_selection_method="round_robin")
    manager = GroupChatManager(chat, llm_config=False)
    inner = LlamaCppBackend._stream
    current: dict[str, Any] = {}

    async def timed(self, request):  # noqa: ANN001
        start = time.perf_counter()
        async for item in inner(self, request):
            yield item
        current["wall"] = time.perf_counter() - start

    LlamaCppBackend._stream = timed
    real_call = ConversableAgent._call
    compacted: list[str] = []

    async def lockstep_call(self, llm, view, units, squeezed, tools):  # noqa: ANN001
        completion = await real_call(self, llm, view, units, squeezed, tools)
        system = [{"role": "system", "content": self.system_message}]
        if spec.get("whole"):
            messages = system + [m.to_openai() for m in to_chat_messages(self.chat_messages[manager])]
        else:  # the same call as moot's, in AutoGen's rendering
            messages = [m.to_openai() for m in view]
        usage = completion.usage
        line = {"agent": self.name, "evaluated": usage.prompt_tokens - usage.cached_tokens,
                "prompt": usage.prompt_tokens, "wall": current.get("wall", 0.0), "messages": messages}
        print(json.dumps(line), flush=True)
        assert sys.stdin.readline().strip() == "go"  # the plain process made the same call
        return completion

    ConversableAgent._call = lockstep_call

    async def go() -> str:
        stream = agents[0].run_stream(manager, message=spec["task"])
        stop = "?"
        async for event in stream:
            if isinstance(event, ContextCompacted):
                compacted.append(event.strategy)
            elif isinstance(event, Stopped):
                stop = f"{event.condition}: {event.reason}"
        return stop

    stop = asyncio.run(go())
    states, state_bytes = registry_backend_states()
    print(json.dumps({"done": True, "stop": stop, "rss_mb": peak_rss_mb(), "compacted": compacted,
                      "kv_states": states, "kv_state_mb": state_bytes / 2**20}), flush=True)


def registry_backend_states() -> tuple[int, int]:
    from moot.agents import current_registry

    backend = current_registry().backend("m")
    primary = getattr(backend, "primary", backend)
    return primary.kv_states


# -- the plain side -------------------------------------------------------------------------------

def run_plain(spec: dict[str, Any]) -> None:
    """A plain shared ``Llama``: each call's messages as given, greedy, the reply length capped."""
    import llama_cpp
    from llama_cpp import Llama

    from moot.backends.config import BUNDLED_MODELS
    from moot.backends.llama_cpp import _silence_llama_logging

    _silence_llama_logging()
    package, filename = BUNDLED_MODELS["smollm2"]
    import importlib.util

    path = Path(importlib.util.find_spec(package).origin).parent / filename
    llm = Llama(model_path=str(path), n_ctx=spec["model"]["context_length"], n_threads=os.cpu_count() or 1,
                seed=0xB0A7, verbose=False)
    counted = {"n": 0}
    original = llm.eval

    def counting(tokens):  # noqa: ANN001
        counted["n"] += len(tokens)
        return original(tokens)

    llm.eval = counting
    for raw in sys.stdin:
        call = json.loads(raw)
        if call.get("done"):
            break
        counted["n"] = 0
        start = time.perf_counter()
        error = None
        prompt = 0
        try:
            out = llm.create_chat_completion(messages=call["messages"], max_tokens=spec["model"]["max_output_tokens"],
                                             temperature=0.0)
            prompt = out["usage"]["prompt_tokens"]
        except ValueError as exc:
            error = str(exc)
        print(json.dumps({"evaluated": counted["n"], "prompt": prompt, "wall": time.perf_counter() - start,
                          "error": error}), flush=True)
    print(json.dumps({"done": True, "rss_mb": peak_rss_mb()}), flush=True)
    del llama_cpp


# -- the coordinator ------------------------------------------------------------------------------

def lockstep(spec: dict[str, Any]) -> dict[str, Any]:
    """One repetition: both processes, call by call. Returns both sides' per-call figures."""
    here = Path(__file__)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = json.dumps(spec)
    moot = subprocess.Popen([sys.executable, str(here), "moot", args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env, cwd=str(ROOT))
    plain = subprocess.Popen([sys.executable, str(here), "plain", args], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
    calls_moot, calls_plain = [], []
    end_moot: dict[str, Any] = {}
    try:
        for raw in moot.stdout:
            line = json.loads(raw)
            if line.get("done"):
                end_moot = line
                break
            plain.stdin.write(json.dumps({"messages": line.pop("messages")}) + "\n")
            plain.stdin.flush()
            calls_plain.append(json.loads(plain.stdout.readline()))
            calls_moot.append(line)
            moot.stdin.write("go\n")
            moot.stdin.flush()
        plain.stdin.write(json.dumps({"done": True}) + "\n")
        plain.stdin.flush()
        end_plain = json.loads(plain.stdout.readline())
    finally:
        for p in (moot, plain):
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
    return {"moot": calls_moot, "plain": calls_plain, "moot_end": end_moot, "plain_end": end_plain}


if __name__ == "__main__":
    role, raw = sys.argv[1], sys.argv[2]
    (run_moot if role == "moot" else run_plain)(json.loads(raw))
