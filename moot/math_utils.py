"""``autogen.math_utils``: answers to math problems in ``\\boxed{...}``, compared and voted on."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from moot.code_utils import ask_model

__all__ = ["eval_math_responses", "get_answer", "is_equiv", "is_equiv_chain_of_thought", "last_boxed_only_string",
           "remove_boxed", "solve_problem", "voting_counts"]


def last_boxed_only_string(string: str) -> str | None:
    """The last ``\\boxed{...}`` (or ``\\fbox{...}``) of ``string``, braces balanced; None if none."""
    start = string.rfind("\\boxed")
    if start < 0:
        start = string.rfind("\\fbox")
        if start < 0:
            return None
    depth = 0
    for i in range(start, len(string)):
        if string[i] == "{":
            depth += 1
        elif string[i] == "}":
            depth -= 1
            if depth == 0:
                return string[start:i + 1]
    return None


def remove_boxed(string: str) -> str | None:
    """What is inside ``\\boxed{...}``; None when ``string`` is not one."""
    for prefix in ("\\boxed{", "\\fbox{"):
        if string.startswith(prefix) and string.endswith("}"):
            return string[len(prefix):-1]
    return None


def get_answer(solution: str | None) -> str | None:
    """The boxed answer of a worked solution."""
    if solution is None:
        return None
    boxed = last_boxed_only_string(solution)
    return remove_boxed(boxed) if boxed is not None else None


_REMOVED = ["\\left", "\\right", "\\!", "\\$", "$", "^\\circ", "^{\\circ}", " ", "\n"]


def _normalise(answer: str) -> str:
    text = answer
    for piece in _REMOVED:
        text = text.replace(piece, "")
    text = re.sub(r"\\text\{\s*[a-zA-Z ]*\}$", "", text)  # a trailing unit: 5\text{ cm}
    text = re.sub(r"\\[dt]frac", r"\\frac", text)
    text = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", text)
    text = re.sub(r"^[a-z]=", "", text)  # x=5 -> 5
    text = text.rstrip(".").replace("\\%", "").replace("%", "")
    if re.fullmatch(r"\d+/\d+", text):
        top, bottom = text.split("/")
        text = f"\\frac{{{top}}}{{{bottom}}}"
    if text.startswith("."):
        text = "0" + text
    return text


def is_equiv(str1: str | None, str2: str | None) -> float:
    """1.0 when two answers are the same once written alike (spaces, ``\\left``, units, ``x=``,
    ``a/b`` as a fraction, numbers and numeric fractions by value), else 0.0."""
    if str1 is None or str2 is None:
        return 0.0
    a, b = _normalise(str1), _normalise(str2)
    if a == b:
        return 1.0
    x, y = _value(a), _value(b)
    return float(x is not None and y is not None and abs(x - y) < 1e-9)


def _value(text: str) -> float | None:
    """The number a normalised answer writes (``1,000``, ``0.5``, ``\\frac{1}{2}``), if it is one."""
    fraction = re.fullmatch(r"(-?)\\frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}", text)
    try:
        if fraction:
            return (-1 if fraction[1] else 1) * float(fraction[2]) / float(fraction[3])
        return float(text.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def is_equiv_chain_of_thought(str1: str, str2: str) -> float:
    """``is_equiv`` of the boxed answers of two worked solutions."""
    return is_equiv(get_answer(str1), get_answer(str2))


def voting_counts(responses: list[str]) -> dict[int, int]:
    """For each distinct boxed answer, the index of the first response giving it -> its votes."""
    answers = [get_answer(r) for r in responses]
    firsts: dict[int, int] = {}
    for i, answer in enumerate(answers):
        first = next(j for j in range(i + 1) if is_equiv(answers[j], answer) or (answers[j] is answer is None))
        firsts[first] = firsts.get(first, 0) + 1
    return dict(Counter(firsts))


def eval_math_responses(responses: list[str], solution: str | None = None, **args: Any) -> dict[str, Any]:
    """Vote on the responses' answers and, given the canonical ``solution``, say how often they
    are right: ``expected_success``, ``success`` (any right), ``success_vote`` (the voted answer
    right), ``voted_answer`` (its response) and ``votes``."""
    n = len(responses)
    if not n:
        return {"expected_success": 0, "success": False, "success_vote": 0, "voted_answer": None, "votes": 0}
    right = [is_equiv_chain_of_thought(r, solution) for r in responses] if solution is not None else []
    counts = voting_counts(responses)
    voted, votes = max(counts.items(), key=lambda item: item[1])
    return {
        "expected_success": 1 - (1 - sum(right) / n) ** n if right else 0,
        "success": any(right),
        "success_vote": is_equiv_chain_of_thought(responses[voted], solution) if solution is not None else 0,
        "voted_answer": responses[voted],
        "votes": votes,
    }


def solve_problem(problem: str, **config: Any) -> str:
    """Ask a model (``config`` is an ``llm_config``) to solve ``problem``, its answer boxed."""
    answer, _cost = ask_model(f"Solve this math problem; put the final answer in \\boxed{{}}.\n{problem}", config)
    return answer
