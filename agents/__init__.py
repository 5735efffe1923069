"""The conversation engine: AutoGen 0.2-compatible agents, chats, tools, group chats, events.

Port an AutoGen 0.2 script by changing its import::

    from moot import AssistantAgent, UserProxyAgent, ConversableAgent, GroupChat, GroupChatManager, register_function

Models come from models.toml (``use_models(path)`` to pick one; ``llm_config`` names a model).
Every chat can also be consumed as a stream of events (``agent.run_stream(...)``, see
``moot.agents.events``); termination conditions live in ``moot.agents.termination``.
"""

from . import events, termination
from ._agent import Agent, ConversableAgent
from ._chat import ChatResult, ChatStream, a_initiate_chats, initiate_chats
from ._code import CodeApproval
from ._context import ChatStop, NoReply
from ._groupchat import GroupChat, GroupChatManager, Selection
from ._models import LLM, current_registry, resolve_llm, use_models, using_models
from ._roles import AssistantAgent, UserProxyAgent, register_function
from ._teachability import Teachability
from ._teamfile import TeamFile, find_team, list_teams, save_team, team_document, team_toml
from ._teams import BuiltTeam, Team, load_team, parse_team
from ._session import Budgets, ReplayResult, Session, budgets_of, export_session, a_replay_session, a_resume_session, replay_session, resume_session
from .outcome import Outcome, exit_code, outcome_of
from ._tools import Tool, build_tool, repair_json
from ._mcp import McpError, McpServer, register_mcp_tools
from .termination import (
    ExternalStop,
    Handoff,
    MaxMessages,
    Stall,
    TerminationCondition,
    TextMention,
    Timeout,
    TokenBudget,
)

__all__ = [
    "LLM",
    "Agent",
    "AssistantAgent",
    "ChatResult",
    "ChatStop",
    "ChatStream",
    "CodeApproval",
    "ConversableAgent",
    "ExternalStop",
    "GroupChat",
    "GroupChatManager",
    "Handoff",
    "MaxMessages",
    "NoReply",
    "Selection",
    "Stall",
    "Teachability",
    "TerminationCondition",
    "TextMention",
    "Timeout",
    "TokenBudget",
    "Tool",
    "UserProxyAgent",
    "a_initiate_chats",
    "build_tool",
    "current_registry",
    "events",
    "initiate_chats",
    "register_function",
    "repair_json",
    "resolve_llm",
    "termination",
    "use_models",
    "using_models",
    "BuiltTeam",
    "Team",
    "TeamFile",
    "find_team",
    "list_teams",
    "load_team",
    "parse_team",
    "save_team",
    "team_document",
    "team_toml",
    "Budgets", "Outcome", "ReplayResult", "Session", "a_replay_session", "a_resume_session", "replay_session",
    "resume_session",
    "budgets_of",
    "export_session",
    "exit_code",
    "outcome_of",
    "McpError", "McpServer", "register_mcp_tools",
]
