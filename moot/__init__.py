"""moot: an offline-first multi-agent workbench with AutoGen 0.2's names.

Port an AutoGen 0.2 script by changing its import::

    from moot import AssistantAgent, UserProxyAgent, GroupChat, GroupChatManager
    import moot as autogen

The names are loaded on first use, so ``import moot`` (and the ``moot`` command's first frame)
does not pay for the engine, the backends or the memory store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module under moot that defines it.
_EXPORTS = {
    **dict.fromkeys(
        [
            "Agent", "AssistantAgent", "BuiltTeam", "ChatResult", "ChatStop", "ChatStream", "CodeApproval",
            "ConversableAgent", "ExternalStop", "GroupChat", "GroupChatManager", "Handoff", "LLM",
            "MaxMessages", "NoReply", "Outcome", "ReplayResult", "Session", "Budgets", "Selection", "Stall", "Teachability", "Team", "TerminationCondition",
            "TextMention", "Timeout", "TokenBudget", "Tool", "UserProxyAgent", "a_initiate_chats",
            "a_replay_session", "a_resume_session", "build_tool", "current_registry", "events", "find_team",
            "initiate_chats", "list_teams", "load_team", "parse_team", "register_function", "repair_json",
            "replay_session", "resolve_llm", "resume_session", "termination", "use_models",
        ],
        "moot.agents",
    ),
    **dict.fromkeys(
        ["config_list_from_dotenv", "config_list_from_json", "config_list_from_models", "config_list_gpt4_gpt35",
         "config_list_openai_aoai", "filter_config", "get_config_list"],
        "moot.oai",
    ),
    **dict.fromkeys(
        ["AgentNameConflict", "InvalidCarryOverType", "NoEligibleSpeaker", "SenderRequired", "UndefinedNextAgent"],
        "moot.exception_utils",
    ),
    **dict.fromkeys(["DEFAULT_MODEL", "FAST_MODEL"], "moot.code_utils"),
    "gather_usage_summary": "moot.agentchat",
    "Cache": "moot.cache",
    **dict.fromkeys(["ModelClient", "OpenAIWrapper"], "moot.oai"),
}

# AutoGen's module paths under moot, imported on first attribute use (``autogen.oai.filter_config``).
_SUBMODULES = frozenset({"agentchat", "cache", "code_utils", "coding", "exception_utils", "formatting_utils",
                         "function_utils", "graph_utils", "io", "math_utils", "oai", "runtime_logging", "token_count_utils"})

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from moot.agents import *  # noqa: F403


def __getattr__(name: str) -> Any:
    if name == "__version__":  # AutoGen's ``autogen.__version__``: the installed moot's
        from importlib.metadata import version

        return version("moot")
    if name in _SUBMODULES:
        return importlib.import_module(f"moot.{name}")
    module = _EXPORTS.get(name)
    if module is None and name in ("Completion", "ChatCompletion"):
        raise AttributeError(f"moot has no {name} (AutoGen's pre-openai-1.0 API): call "
                             "moot.OpenAIWrapper(config_list=[...]).create(messages=[...]) instead")
    if module is None:
        raise AttributeError(f"module 'moot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
