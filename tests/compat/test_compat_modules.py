"""AutoGen 0.2's module paths exist under moot, and the small modules behind them work."""

from __future__ import annotations

import importlib

import pytest

import moot
import moot as autogen
from moot.backends.config import scripted_models
from moot.exception_utils import AgentNameConflict, InvalidCarryOverType, NoEligibleSpeaker, SenderRequired, UndefinedNextAgent
from moot.formatting_utils import colored
from moot.math_utils import eval_math_responses, get_answer, is_equiv, last_boxed_only_string


@pytest.mark.parametrize("path, names", [
    ("moot.agentchat", ["ConversableAgent", "AssistantAgent", "UserProxyAgent", "GroupChat", "GroupChatManager",
                        "Agent", "ChatResult", "initiate_chats", "register_function"]),
    ("moot.agentchat.conversable_agent", ["ConversableAgent", "register_function"]),
    ("moot.agentchat.groupchat", ["GroupChat", "GroupChatManager"]),
    ("moot.agentchat.chat", ["ChatResult", "initiate_chats", "a_initiate_chats"]),
    ("moot.agentchat.contrib.capabilities.teachability", ["Teachability"]),
    ("moot.agentchat.contrib.capabilities.agent_capability", ["AgentCapability"]),
    ("moot.coding", ["CodeBlock", "CodeExecutor", "LocalCommandLineCodeExecutor", "MarkdownCodeExtractor"]),
    ("moot.coding.base", ["CodeBlock", "CodeResult", "CodeExecutor", "CommandLineCodeResult"]),
    ("moot.oai", ["config_list_from_json", "filter_config"]),
    ("moot.oai.openai_utils", ["config_list_openai_aoai", "DEFAULT_AZURE_API_VERSION"]),
    ("moot.oai.client", ["TOOL_ENABLED"]),
    ("moot.code_utils", ["extract_code", "execute_code", "UNKNOWN", "CODE_BLOCK_PATTERN"]),
])
def test_autogen_module_paths_hold_their_names(path, names):
    module = importlib.import_module(path)
    for name in names:
        assert hasattr(module, name), f"{path} has no {name}"


def test_the_agent_names_are_moots_own():
    from moot.agentchat.conversable_agent import ConversableAgent

    assert ConversableAgent is moot.ConversableAgent
    assert autogen.agentchat.GroupChat is moot.GroupChat and autogen.coding.CodeBlock is not None


def test_exceptions_carry_a_default_message_and_take_another():
    for cls in (NoEligibleSpeaker, SenderRequired, InvalidCarryOverType, UndefinedNextAgent):
        assert str(cls()) == cls().message and str(cls("why")) == "why"
    assert str(AgentNameConflict()) == "Found multiple agents with the same name."
    with pytest.raises(Exception, match="why"):
        raise AgentNameConflict("why")


def test_colored(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert colored("hi", "red") == "\033[31mhi\033[0m"
    assert colored("hi", "green", "on_blue", ["bold"]) == "\033[32;44;1mhi\033[0m"
    assert colored("hi") == "hi" and colored(3, "nonsense") == "3"
    monkeypatch.setenv("NO_COLOR", "1")
    assert colored("hi", "red") == "hi"


def test_boxed_answers_are_found_and_compared():
    assert last_boxed_only_string("so \\boxed{\\frac{1}{2}} and") == "\\boxed{\\frac{1}{2}}"
    assert get_answer("no box here") is None
    assert is_equiv("\\dfrac12", "1/2") == 1.0 and is_equiv("x = 5", "5") == 1.0 and is_equiv("2", "3") == 0.0


def test_eval_math_responses_votes_and_scores():
    responses = ["it is \\boxed{1/2}", "so \\boxed{\\frac{1}{2}}", "maybe \\boxed{3}"]
    result = eval_math_responses(responses, solution="The answer is \\boxed{0.5}")
    assert result["success"] is True and result["votes"] == 2 and result["voted_answer"] == responses[0]
    assert result["success_vote"] == 1.0 and 0 < result["expected_success"] < 1
    assert eval_math_responses([])["votes"] == 0


def test_carryover_items_read_as_autogen_reads_them():
    from moot.agentchat.chat import _post_process_carryover_item

    assert _post_process_carryover_item({"content": "How can I help?", "role": "model"}) == "How can I help?"
    assert _post_process_carryover_item("plain") == "plain" and _post_process_carryover_item(3) == "3"


def test_gather_usage_summary_sums_what_the_agents_used():
    autogen.use_models(scripted_models({"m": ["a reply of several words", "another one"]}, source="test"))
    assert autogen.gather_usage_summary([]) == {"usage_including_cached_inference": {"total_cost": 0.0},
                                                "usage_excluding_cached_inference": {"total_cost": 0.0}}
    one, two = autogen.AssistantAgent("one", llm_config="m"), autogen.AssistantAgent("two", llm_config="m")
    user = autogen.UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False)
    user.initiate_chat(one, message="hi", max_turns=1, silent=True)
    user.initiate_chat(two, message="hi", max_turns=1, silent=True)
    summary = autogen.gather_usage_summary([one, two, user])["usage_including_cached_inference"]
    used = [one.usage["m"], two.usage["m"]]
    assert summary["total_cost"] == 0.0 and summary["m"]["cost"] == 0.0
    assert summary["m"]["prompt_tokens"] == sum(u.prompt_tokens for u in used) > 0
    assert summary["m"]["completion_tokens"] == sum(u.completion_tokens for u in used) > 0
