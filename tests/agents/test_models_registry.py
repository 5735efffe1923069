"""Which registry an agent's model comes from: given explicitly, scoped with ``using_models``, or
the process default that ``use_models`` sets. On real scripted backends."""

from __future__ import annotations

import asyncio

from moot.agents import AssistantAgent, UserProxyAgent, current_registry, resolve_llm, use_models, using_models
from moot.backends import ChatMessage, FallbackBackend, ModelRegistry
from moot.backends.config import scripted_models

HI = [ChatMessage("user", "hi")]


def registry(reply: str) -> ModelRegistry:
    return ModelRegistry(scripted_models({"a": [reply]}))


async def test_an_explicit_registry_and_a_scoped_one_win_over_the_default():
    use_models(registry("from the default"))
    mine = registry("from mine")
    bound = AssistantAgent("bound", llm_config=resolve_llm("a", registry=mine))
    plain = AssistantAgent("plain", llm_config="a")
    assert (await bound.client.complete(HI)).content == "from mine"
    assert (await plain.client.complete(HI)).content == "from the default"
    with using_models(registry("from the scope")) as scoped:
        assert current_registry() is scoped
        assert (await plain.client.complete(HI)).content == "from the scope"
        assert (await bound.client.complete(HI)).content == "from mine"  # bound: no ambient lookup
        use_models(registry("a new default"))  # changes the default; the block still wins
        assert (await plain.client.complete(HI)).content == "from the scope"
    assert (await plain.client.complete(HI)).content == "a new default"


async def test_two_tasks_each_in_its_own_scope_do_not_mix():
    async def run(reply: str) -> list[str]:
        with using_models(registry(reply)):
            user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
            asst = AssistantAgent("asst", llm_config="a")
            seen = []
            for _ in range(3):
                result = await user.a_initiate_chat(asst, message="hi", max_turns=1, silent=True)
                seen.append(result.chat_history[-1]["content"])
                await asyncio.sleep(0)  # let the other task run in between
            return seen

    one, two = await asyncio.gather(run("one"), run("two"))
    assert one == ["one"] * 3 and two == ["two"] * 3


async def test_a_config_list_is_one_fallback_backend_over_its_entries():
    use_models(ModelRegistry(scripted_models({"a": ["from a"], "b": ["from b"]})))
    llm = resolve_llm({"config_list": [{"model": "a", "temperature": 0.2}, "b"], "max_tokens": 9})
    assert isinstance(llm.backend, FallbackBackend) and llm.models == ["a", "b"]
    assert [s.defaults for s in llm.backend.steps] == [{"temperature": 0.2, "max_tokens": 9}, {"max_tokens": 9}]
    assert [s.label for s in llm.backend.steps] == ["", "config_list"]
    assert (await llm.complete(HI)).content == "from a"
