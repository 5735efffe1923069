"""``autogen.graph_utils``: checks of a group chat's speaker-transition graph (``{agent: [agents
who may speak next]}``), turning a disallowed graph into an allowed one, and drawing it."""

from __future__ import annotations

import logging
from typing import Any

from moot.agents import Agent

__all__ = ["check_graph_validity", "has_self_loops", "invert_disallowed_to_allowed", "visualize_speaker_transitions_dict"]

logger = logging.getLogger(__name__)


def has_self_loops(allowed_speaker_transitions: dict[Any, list[Any]]) -> bool:
    """Whether some agent may speak twice in a row."""
    return any(agent in after for agent, after in allowed_speaker_transitions.items())


def _names(agents: Any) -> list[str]:
    return [getattr(a, "name", repr(a)) for a in agents]


def check_graph_validity(allowed_speaker_transitions_dict: dict[Any, list[Any]], agents: list[Any]) -> None:
    """Raise ``ValueError`` for a graph that is not ``{agent of agents: [Agent, ...]}``; log a
    warning for agents no edge reaches or leaves, for agents of the graph and of ``agents`` that
    are not in both, and for an agent listed twice after another."""
    graph = allowed_speaker_transitions_dict
    if not isinstance(graph, dict):
        raise ValueError("allowed_speaker_transitions_dict must be a dictionary.")
    if not all(isinstance(after, list) for after in graph.values()):
        raise ValueError("allowed_speaker_transitions_dict must be a dictionary with lists as values.")
    strangers = [a for a in graph if a not in agents]
    if strangers:
        raise ValueError(f"allowed_speaker_transitions_dict has keys not in agents: {_names(strangers)}")
    if not all(isinstance(b, Agent) for after in graph.values() for b in after):
        raise ValueError("allowed_speaker_transitions_dict has values that are not lists of Agents.")
    leaving = {id(a) for a, after in graph.items() if after}
    reached = {id(b) for after in graph.values() for b in after}
    isolated = [a for a in agents if id(a) not in leaving and id(a) not in reached]
    if isolated:
        logger.warning("There are isolated agents (no edge reaches or leaves them): %s", _names(isolated))
    in_graph = {id(a) for a in graph} | reached
    unmatched = [a for a in agents if id(a) not in in_graph]
    unmatched += [b for after in graph.values() for b in after if b not in agents and b not in unmatched]
    if unmatched:
        logger.warning("The agents in allowed_speaker_transitions do not match agents: %s", _names(unmatched))
    for agent, after in graph.items():
        twice = [b for i, b in enumerate(after) if b in after[:i]]
        if twice:
            logger.warning("Agent '%s' has duplicate agents after it: %s; remove the duplicates.", agent.name, _names(twice))


def invert_disallowed_to_allowed(disallowed_speaker_transitions_dict: dict[Any, list[Any]], agents: list[Any]) -> dict:
    """The allowed graph of a disallowed one: each agent may be followed by every agent not listed."""
    return {a: [b for b in agents if b not in disallowed_speaker_transitions_dict.get(a, [])] for a in agents}


def visualize_speaker_transitions_dict(speaker_transitions_dict: dict[Any, list[Any]], agents: list[Any],
                                       export_path: str | None = None) -> None:
    """Draw the graph with networkx and matplotlib (save it to ``export_path``, else show it)."""
    try:
        import matplotlib.pyplot as plt
        import networkx as nx
    except ImportError:
        raise ImportError("drawing a transition graph needs networkx and matplotlib: pip install networkx matplotlib") from None
    graph = nx.DiGraph()
    graph.add_nodes_from(_names(agents))
    graph.add_edges_from((a.name, b.name) for a, after in speaker_transitions_dict.items() for b in after)
    nx.draw(graph, with_labels=True, font_weight="bold")
    if export_path is not None:
        plt.savefig(export_path)
    else:
        plt.show()
