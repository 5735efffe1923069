"""``bfcl``: the function-calling problems shipped as data in ``bfcl-eval`` (categories ``simple``,
``multiple``, ``parallel``), scored by moot's own checker of BFCL's documented AST rules.

Only the package's data files are read (it is installed with ``--no-deps``; importing it would
pull torch). Each problem's functions are offered to the team's model members as tools (through
the agents' public ``update_tool_signature``; a dotted name such as ``math.factorial`` is offered
as ``math_factorial``, as OpenAI-style APIs require); the first message with tool calls is what
is scored. The rules, as BFCL documents them:

- the calls name the expected functions: one call for ``simple`` and ``multiple`` (where several
  functions are offered), one call per expected call, in any order, for ``parallel``;
- every required parameter is given, and no parameter the function does not have;
- each value is among the allowed answers: an integer is accepted where a float is expected;
  strings compare case-blind with spaces and ``,./-_*^`` removed; lists element by element;
  dicts key by key; a parameter left out is fine only when ``""`` is among its answers.

``valid`` (a metric of every task): the reply held at least one call, each naming an offered
function with arguments that are a JSON object. ``tool_call_mode`` of the model decides whether
moot's grammar constrains the call (``grammar``) or only the prompt asks for it (``text``). The
``bare`` team asks for a call (``tool_choice = "required"``: one or more), as every problem here
wants, in both modes, so the grammar is all that differs; a team of the user's own asks as its
file says.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

from moot.agents import parse_team, team_toml

from ._checks import RunView
from ._suites import BARE, EvalTask, Score, Suite, SuiteError, TaskContext, bare_team

__all__ = ["BfclSuite", "check_calls", "tool_schema"]

_FILES = {"simple": "BFCL_v4_simple_python.json", "multiple": "BFCL_v4_multiple.json",
          "parallel": "BFCL_v4_parallel.json"}
_TYPES = {"dict": "object", "float": "number", "tuple": "array", "int": "integer", "bool": "boolean",
          "str": "string", "list": "array"}


def data_dir() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")  # found, never imported: its __init__ pulls heavy deps
    if spec is None or not spec.submodule_search_locations:
        raise SuiteError("the bfcl suite needs the bfcl-eval package's data: pip install --no-deps bfcl-eval")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise SuiteError(f"{path}: cannot read BFCL's data: {exc}") from None


def tool_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _schema(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "type" and isinstance(value, str):
                if value == "any":
                    continue
                out[key] = _TYPES.get(value, value)
            elif key in ("properties",) and isinstance(value, dict):
                out[key] = {k: _schema(v) for k, v in value.items()}
            else:
                out[key] = _schema(value)
        return out
    if isinstance(node, list):
        return [_schema(v) for v in node]
    return node


def tool_schema(function: dict[str, Any]) -> dict[str, Any]:
    """A BFCL function as an OpenAI-format tool (BFCL's own type names made JSON schema's)."""
    params = _schema(function.get("parameters") or {"type": "object", "properties": {}})
    params["type"] = "object"
    return {"type": "function", "function": {"name": tool_name(function["name"]),
                                             "description": function.get("description", ""), "parameters": params}}


# -- the checker ----------------------------------------------------------------------------------

def _standard(text: str) -> str:
    return re.sub(r"[ ,./\-_*^]", "", text).lower().replace("'", '"')


def _matches(value: Any, allowed: Any) -> bool:
    """Whether a given value equals one allowed answer, by BFCL's comparison rules."""
    if isinstance(allowed, bool) or isinstance(value, bool):
        return type(allowed) is type(value) and allowed == value
    if isinstance(allowed, float) and isinstance(value, int):
        return float(value) == allowed
    if isinstance(allowed, (int, float)) and isinstance(value, (int, float)):
        return type(allowed) is type(value) and value == allowed
    if isinstance(allowed, str):
        return isinstance(value, str) and _standard(value) == _standard(allowed)
    if isinstance(allowed, list):
        return (isinstance(value, (list, tuple)) and len(value) == len(allowed)
                and all(_matches(v, a) for v, a in zip(value, allowed)))
    if isinstance(allowed, dict):  # each key's value: a list of allowed answers ("" : may be left out)
        if not isinstance(value, dict) or set(value) - set(allowed):
            return False
        for key, answers in allowed.items():
            options = answers if isinstance(answers, list) else [answers]
            if key not in value:
                if "" not in options:
                    return False
            elif not any(_matches(value[key], o) for o in options if o != "" or value[key] == ""):
                return False
        return True
    return value == allowed


def _call_ok(name: str, args: dict[str, Any], expected: dict[str, Any], functions: dict[str, Any]) -> str:
    """Why a call does not match one expected call ("" when it does)."""
    want_name, answers = next(iter(expected.items()))
    if name != want_name:
        return f"called {name!r}, expected {want_name!r}"
    function = functions.get(want_name) or {}
    props = (function.get("parameters") or {}).get("properties") or {}
    required = (function.get("parameters") or {}).get("required") or []
    for p in required:
        if p not in args:
            return f"{name}: required argument {p!r} missing"
    for p in args:
        if p not in props and p not in answers:
            return f"{name}: argument {p!r} is not a parameter"
    for p, options in answers.items():
        if p not in args:
            if "" not in options:
                return f"{name}: argument {p!r} missing"
            continue
        if not any(_matches(args[p], o) for o in options if o != "" or args[p] == ""):
            return f"{name}: argument {p!r} = {args[p]!r} is not among {options!r}"
    return ""


def check_calls(calls: list[tuple[str, dict[str, Any]]], expected: list[dict[str, Any]],
                functions: dict[str, Any]) -> str:
    """Why the calls do not answer the problem ("" when they do); order-free for parallel."""
    if len(calls) != len(expected):
        return f"{len(calls)} call(s), expected {len(expected)}"

    def assign(i: int, used: frozenset[int]) -> str:
        if i == len(expected):
            return ""
        first = ""
        for j, (name, args) in enumerate(calls):
            if j in used:
                continue
            why = _call_ok(name, args, expected[i], functions)
            if not why and not assign(i + 1, used | {j}):
                return ""
            first = first or why or "the other calls do not match"
        return first or "no call left to match"

    return assign(0, frozenset())


class BfclSuite(Suite):
    name = "bfcl"
    description = "BFCL function calling (bfcl-eval data): simple, multiple, parallel; valid calls and accuracy"
    CATEGORIES = tuple(_FILES)
    bare_system = ("You are a function-calling assistant. Answer the user's request by calling the functions "
                   "you are given, with the arguments the request states. Call every function the request needs.")

    def __init__(self, category: str = "") -> None:
        super().__init__()
        if category and category not in _FILES:
            raise SuiteError(f"no BFCL category {category!r} (categories: {', '.join(_FILES)})")
        self.categories = [category] if category else list(_FILES)
        self.name = f"bfcl:{category}" if category else "bfcl"

    def load(self) -> list[EvalTask]:
        root = data_dir()
        per: list[list[EvalTask]] = []
        for category in self.categories:
            answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(root / "possible_answer" / _FILES[category])}
            tasks = []
            for q in _read_jsonl(root / _FILES[category]):
                turns = q["question"][0] if q["question"] and isinstance(q["question"][0], list) else q["question"]
                prompt = "\n".join(t["content"] for t in turns if t.get("role") == "user")
                tasks.append(EvalTask(q["id"], prompt, {"category": category, "functions": q["function"],
                                                       "expected": answers.get(q["id"], [])}))
            per.append(tasks)
        out: list[EvalTask] = []  # interleaved, so that --limit takes some of each category
        for i in range(max(map(len, per), default=0)):
            out += [tasks[i] for tasks in per if i < len(tasks)]
        return out

    def team(self, ctx: TaskContext) -> Any:
        """``bare``: the model alone, asked for at least one call (``tool_choice = "required"``), as
        every problem here wants; a team of the user's own calls as its file says."""
        if ctx.team != BARE:
            return super().team(ctx)
        spec = bare_team(ctx.config, self.bare_system).spec
        members = [m if m.role == "user_proxy" else m.model_copy(update={"tool_choice": "required"}) for m in spec.members]
        return parse_team(team_toml(spec.model_copy(update={"members": members})), "the bfcl bare team (moot eval)",
                          ctx.config)

    def prepare(self, ctx: TaskContext, session: Any) -> None:
        tools = [tool_schema(f) for f in ctx.task.data["functions"]]
        for member in session.team.spec.members:
            agent = session.members.get(member.name)
            if agent is None or member.role == "user_proxy" or member.model is False or agent.llm_config is False:
                continue
            for tool in tools:
                agent.update_tool_signature(tool, is_remove=False)

    async def score(self, ctx: TaskContext, view: RunView) -> Score:
        data = ctx.task.data
        functions = {f["name"]: f for f in data["functions"]}
        names = {tool_name(n): n for n in functions}
        message = next((m for m in view.messages if m["tool_calls"]), None)
        calls: list[tuple[str, dict[str, Any]]] = []
        valid = message is not None
        for call in (message or {}).get("tool_calls") or ():
            fn = call.get("function") or {}
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except json.JSONDecodeError:
                args = None
            if not isinstance(args, dict) or fn.get("name") not in names:
                valid = False
                args = args if isinstance(args, dict) else {}
            calls.append((names.get(fn.get("name"), fn.get("name") or ""), args))
        metrics = {"category": data["category"], "valid": valid, "calls": len(calls)}
        if message is None:
            return Score(False, "no_call", "the reply called no function", metrics)
        if not valid:
            return Score(False, "invalid_call", "a call names no offered function or its arguments are not a "
                                                "JSON object", metrics)
        why = check_calls(calls, data["expected"], functions)
        return Score(not why, "" if not why else "wrong_call", why, metrics)
