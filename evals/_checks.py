"""What a finished session looks like to a check, and the checks of a user suite.

``Outcome view`` (``RunView``) is read from the session's events only: the root chat's messages,
the final message, the last code execution's exit code and every execution's output, how it
stopped. A user suite's checks (``contains``, ``regex``, ``exit_code``, ``expr``) all read it.

``expr`` is a Python expression evaluated by a whitelisting AST walker, not by ``eval``: names
come only from the view (plus a few pure built-ins), attributes are not reachable (the way out of
every ``eval`` jail) but for a few methods of a string (``final.endswith("x")``), and powers, repetitions and comprehension sizes are bounded.
A regex has no timeout in ``re``: checks are scored in the eval's worker process, under the
task's timeout, so a catastrophic pattern costs that task and nothing else.
"""

from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHECKS", "ExprError", "RunView", "check_expr", "evaluate", "run_checks"]

CHECKS = ("contains", "regex", "exit_code", "expr")


@dataclass
class RunView:
    """A finished session as checks see it."""

    messages: list[dict[str, Any]] = field(default_factory=list)  # root chat: sender, recipient, content, tool_calls
    executions: list[dict[str, Any]] = field(default_factory=list)  # exit_code, output, timed_out
    stop: str = ""  # the stop condition of the root chat
    reason: str = ""
    outcome: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    speakers: list[dict[str, Any]] = field(default_factory=list)  # speaker_selected events
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # name, arguments (every chat)
    recalled: list[str] = field(default_factory=list)  # the memos shown to agents (recall texts)

    @classmethod
    def of(cls, events: list[dict[str, Any]]) -> RunView:
        view = cls()
        root = next((e["chat_id"] for e in events if e["type"] == "chat_started" and not e.get("parent_chat_id")), None)
        for e in events:
            kind = e["type"]
            if kind == "usage":
                view.prompt_tokens += e.get("prompt_tokens", 0)
                view.completion_tokens += e.get("completion_tokens", 0)
            elif kind == "execution_finished":
                view.executions.append({"exit_code": e.get("exit_code"), "output": e.get("output", ""),
                                        "timed_out": bool(e.get("timed_out"))})
            elif kind == "memory_recalled":
                view.recalled += [m.get("recall", "") for m in e.get("memos") or ()]
            elif kind == "tool_call":
                view.tool_calls.append({"name": e.get("name"), "arguments": e.get("arguments")})
            elif e.get("chat_id") != root:
                continue
            elif kind == "message":
                view.messages.append({"sender": e.get("sender"), "recipient": e.get("recipient"),
                                      "content": e.get("content") or "", "tool_calls": list(e.get("tool_calls") or ())})
            elif kind == "speaker_selected":
                view.speakers.append({"speaker": e.get("speaker"), "candidates": list(e.get("candidates") or ()),
                                      "fallback": e.get("fallback"), "raw_answer": e.get("raw_answer")})
            elif kind == "stopped":
                view.stop, view.reason, view.outcome = e.get("condition", ""), e.get("reason", ""), e.get("outcome", "")
        return view

    @property
    def transcript(self) -> str:
        return "\n\n".join(m["content"] for m in self.messages if m["content"])

    @property
    def final(self) -> str:
        """The last message with words in it."""
        return next((m["content"] for m in reversed(self.messages) if m["content"].strip()), "")

    @property
    def exit_code(self) -> int | None:
        return self.executions[-1]["exit_code"] if self.executions else None

    def namespace(self) -> dict[str, Any]:
        """The names an ``expr`` check may read."""
        return {"transcript": self.transcript, "final": self.final, "exit_code": self.exit_code,
                "messages": [dict(m) for m in self.messages], "outputs": [x["output"] for x in self.executions],
                "stop": self.stop, "outcome": self.outcome, "tokens": self.prompt_tokens + self.completion_tokens}


# -- the restricted expression evaluator ---------------------------------------------------------

class ExprError(ValueError):
    """An ``expr`` that is not allowed, or failed: the message says which part."""


_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_UN = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos}
_CMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
        ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
        ast.Is: operator.is_, ast.IsNot: operator.is_not}


def _re_search(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


# Pure functions of plain values: nothing here returns an object with a way back to the interpreter.
_FUNCS: dict[str, Any] = {
    "len": len, "any": any, "all": all, "min": min, "max": max, "sum": sum, "sorted": sorted, "abs": abs,
    "int": int, "float": float, "str": str, "bool": bool, "round": round, "list": list,
    "lower": str.lower, "upper": str.upper, "strip": str.strip, "count": lambda s, sub: s.count(sub),
    "startswith": lambda s, p: s.startswith(p), "endswith": lambda s, p: s.endswith(p),
    "search": _re_search, "lines": str.splitlines, "words": str.split,
}
# A string's methods that return plain values (no way back to the interpreter; replace and
# join are left out: they can make strings of any size).
_STR_METHODS = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "count", "find",
                          "split", "splitlines", "isdigit", "isalpha", "isspace", "casefold", "index"})
_MAX_SIZE = 1_000_000  # characters or items a repetition may make
_PLAIN = (str, int, float, bool, type(None), list, tuple, dict)


def _check_value(value: Any) -> Any:
    if not isinstance(value, _PLAIN):
        raise ExprError(f"a value of type {type(value).__name__} is not allowed")
    return value


class _Evaluator:
    def __init__(self, names: dict[str, Any]):
        self.scopes = [names]

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        if name in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[name]
        raise ExprError(f"unknown name {name!r} (names: {', '.join(sorted(self.scopes[0]))}; "
                        f"functions: {', '.join(sorted(_FUNCS))})")

    def __call__(self, node: ast.AST) -> Any:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise ExprError(f"{type(node).__name__} is not allowed in an expr ({ast.unparse(node)!r})")
        return _check_value(method(node))

    def _Expression(self, n: ast.Expression) -> Any:
        return self(n.body)

    def _Constant(self, n: ast.Constant) -> Any:
        return n.value

    def _Name(self, n: ast.Name) -> Any:
        return self.lookup(n.id)

    def _BoolOp(self, n: ast.BoolOp) -> Any:
        value: Any = None
        for v in n.values:
            value = self(v)
            if isinstance(n.op, ast.And) and not value:
                return value
            if isinstance(n.op, ast.Or) and value:
                return value
        return value

    def _BinOp(self, n: ast.BinOp) -> Any:
        op = _BIN.get(type(n.op))
        if op is None:
            raise ExprError(f"operator {type(n.op).__name__} is not allowed")
        left, right = self(n.left), self(n.right)
        if isinstance(n.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 64:
            raise ExprError("an exponent above 64 is not allowed")
        if isinstance(n.op, ast.Mult):
            for seq, k in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(k, int) and len(seq) * k > _MAX_SIZE:
                    raise ExprError("that repetition is too large")
        try:
            return op(left, right)
        except Exception as exc:
            raise ExprError(f"{ast.unparse(n)!r}: {exc}") from None

    def _UnaryOp(self, n: ast.UnaryOp) -> Any:
        return _UN[type(n.op)](self(n.operand))

    def _Compare(self, n: ast.Compare) -> Any:
        left = self(n.left)
        for op, comparator in zip(n.ops, n.comparators):
            right = self(comparator)
            try:
                if not _CMP[type(op)](left, right):
                    return False
            except TypeError as exc:
                raise ExprError(f"{ast.unparse(n)!r}: {exc}") from None
            left = right
        return True

    def _IfExp(self, n: ast.IfExp) -> Any:
        return self(n.body) if self(n.test) else self(n.orelse)

    def _List(self, n: ast.List) -> Any:
        return [self(e) for e in n.elts]

    def _Tuple(self, n: ast.Tuple) -> Any:
        return tuple(self(e) for e in n.elts)

    def _Dict(self, n: ast.Dict) -> Any:
        return {self(k): self(v) for k, v in zip(n.keys, n.values) if k is not None}

    def _Subscript(self, n: ast.Subscript) -> Any:
        value = self(n.value)
        key = self(n.slice)
        try:
            return value[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise ExprError(f"{ast.unparse(n)!r}: {type(exc).__name__}: {exc}") from None

    def _Slice(self, n: ast.Slice) -> Any:
        return slice(*(None if p is None else self(p) for p in (n.lower, n.upper, n.step)))

    def _Call(self, n: ast.Call) -> Any:
        if isinstance(n.func, ast.Attribute) and not n.keywords:  # a string's method: text.endswith("x")
            target = self(n.func.value)
            if not isinstance(target, str) or n.func.attr not in _STR_METHODS:
                raise ExprError(f"only these methods of a string may be called: {', '.join(sorted(_STR_METHODS))} "
                                f"({ast.unparse(n)!r})")
            args = [self(a) for a in n.args]
            try:
                return getattr(target, n.func.attr)(*args)
            except Exception as exc:
                raise ExprError(f"{ast.unparse(n)!r}: {type(exc).__name__}: {exc}") from None
        if not isinstance(n.func, ast.Name) or n.func.id not in _FUNCS or n.keywords:
            raise ExprError(f"only these functions may be called, with positional arguments: "
                            f"{', '.join(sorted(_FUNCS))} ({ast.unparse(n)!r})")
        args = [self._iterable(a) if isinstance(a, ast.GeneratorExp) else self(a) for a in n.args]
        try:
            return _FUNCS[n.func.id](*args)
        except Exception as exc:
            raise ExprError(f"{ast.unparse(n)!r}: {type(exc).__name__}: {exc}") from None

    def _comprehension(self, n: ast.ListComp | ast.GeneratorExp) -> list[Any]:
        out: list[Any] = []

        def walk(i: int) -> None:
            if i == len(n.generators):
                out.append(self(n.elt))
                if len(out) > _MAX_SIZE:
                    raise ExprError("that comprehension is too large")
                return
            gen = n.generators[i]
            if not isinstance(gen.target, ast.Name) or gen.is_async:
                raise ExprError("a comprehension may bind one name only")
            for item in self(gen.iter):
                self.scopes.append({gen.target.id: item})
                try:
                    if all(self(cond) for cond in gen.ifs):
                        walk(i + 1)
                finally:
                    self.scopes.pop()

        walk(0)
        return out

    _ListComp = _comprehension

    def _iterable(self, n: ast.GeneratorExp) -> list[Any]:
        return self._comprehension(n)

    def _GeneratorExp(self, n: ast.GeneratorExp) -> Any:
        return self._comprehension(n)


def check_expr(source: str) -> ast.Expression:
    """Parse an ``expr`` (SyntaxError -> ExprError naming the problem)."""
    try:
        return ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"not a Python expression: {exc.msg}") from None


def evaluate(source: str, names: dict[str, Any]) -> Any:
    """Evaluate an ``expr`` over ``names`` with the whitelisting walker."""
    return _Evaluator(dict(names))(check_expr(source))


def run_checks(checks: dict[str, Any], view: RunView) -> tuple[bool, str]:
    """Whether every check holds, and the first that did not (in words)."""
    if "contains" in checks and str(checks["contains"]) not in view.transcript:
        return False, f"contains: {checks['contains']!r} is not in the transcript"
    if "regex" in checks and re.search(checks["regex"], view.transcript, re.MULTILINE) is None:
        return False, f"regex: {checks['regex']!r} does not match the transcript"
    if "exit_code" in checks and view.exit_code != checks["exit_code"]:
        got = "no code ran" if view.exit_code is None else f"the last code execution exited {view.exit_code}"
        return False, f"exit_code: wanted {checks['exit_code']}, {got}"
    if "expr" in checks:
        try:
            value = evaluate(checks["expr"], view.namespace())
        except ExprError as exc:
            return False, f"expr: {exc}"
        if not value:
            return False, f"expr: {checks['expr']!r} is {value!r}"
    return True, ""
