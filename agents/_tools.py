"""Tools: JSON schemas from type hints and docstrings, argument repair, and running a call.

A failing tool, broken arguments or a call to an unknown tool never raise into the chat: the model
gets a tool result that says what went wrong, so it can try again.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from moot.backends import ToolSpec


@dataclass
class Tool:
    """A Python function the model can call."""

    name: str
    description: str
    func: Callable[..., Any]
    parameters: dict[str, Any]
    model: type[BaseModel] | None = None  # validates and converts the arguments
    wrapped: Callable[..., Any] | None = None  # AutoGen's wrapped form (``wrap_function``), when made

    def arguments(self, args: dict[str, Any]) -> dict[str, Any]:
        """``args`` validated and converted (a dict becomes the pydantic model a parameter names);
        raises pydantic's ``ValidationError``."""
        if self.model is None:
            return args
        validated = self.model.model_validate(args)
        return {k: getattr(validated, k) for k in type(validated).model_fields}

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)

    def openai_schema(self) -> dict[str, Any]:
        return self.spec.to_openai()


def _docstring_parts(doc: str | None) -> tuple[str, dict[str, str]]:
    """The summary paragraph and the per-argument descriptions of a Google/Sphinx-style docstring."""
    if not doc:
        return "", {}
    doc = inspect.cleandoc(doc)
    paragraphs = re.split(r"\n\s*\n", doc)
    summary = " ".join(paragraphs[0].split()) if paragraphs and not re.match(r"(Args|Arguments|Parameters|Returns|:param)", paragraphs[0]) else ""
    params: dict[str, str] = {}
    for m in re.finditer(r":param\s+(?:\w+\s+)?(\w+):\s*(.+)", doc):
        params[m.group(1)] = m.group(2).strip()
    section = re.search(r"^(?:Args|Arguments|Parameters):\s*\n((?:[ \t]+.*\n?|\s*\n)+)", doc, flags=re.M)
    if section:
        for m in re.finditer(r"^[ \t]+(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$", section.group(1), flags=re.M):
            params.setdefault(m.group(1).lstrip("*"), m.group(2).strip())
    return summary, params


def _strip_titles(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def build_tool(func: Callable[..., Any], name: str | None = None, description: str | None = None) -> Tool:
    """Describe ``func`` for the model: parameters from its type hints (``Annotated[int, "what it
    is"]`` gives a description), the description from ``description`` or the docstring."""
    target = func
    sig = inspect.signature(target)
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:
        hints = {}
    summary, arg_docs = _docstring_parts(inspect.getdoc(target))
    fields: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        annotation = hints.get(pname, param.annotation)
        if annotation is inspect.Parameter.empty:
            annotation = Any
        desc = arg_docs.get(pname)
        if typing.get_origin(annotation) is typing.Annotated:
            base, *meta = typing.get_args(annotation)
            texts = [m for m in meta if isinstance(m, str)]
            if texts:
                desc = texts[0]
                annotation = base
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, Field(default, description=desc))
    tool_name = name or getattr(target, "__name__", None) or "tool"
    model = create_model(f"{tool_name}_args", __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True), **fields)
    try:
        schema = _strip_titles(model.model_json_schema())
    except Exception as exc:
        raise TypeError(f"tool {tool_name!r}: cannot describe its parameters as JSON schema: {exc}") from None
    schema.pop("additionalProperties", None)
    schema.setdefault("properties", {})
    desc_text = description if description is not None else summary
    return Tool(tool_name, desc_text or "", func, schema, model)


# -- JSON argument repair -----------------------------------------------------------------------

_IN_STRING_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def format_json_str(text: str) -> str:
    """AutoGen's clean-up of a model's JSON arguments before parsing: line breaks between the
    tokens go, and a raw newline, tab or carriage return inside a string becomes its escape
    (``"x=3<newline>print(x)"`` -> ``"x=3\\nprint(x)"``). Escapes already there are kept."""
    out: list[str] = []
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
            out.append(_IN_STRING_ESCAPES.get(c, c))
        elif c == "\n":
            continue
        else:
            if c == '"':
                in_string = True
            out.append(c)
    return "".join(out)


_WORDS = {"True": "true", "False": "false", "None": "null", "true": "true", "false": "false", "null": "null"}


def repair_json(text: str) -> tuple[Any, bool]:
    """Parse ``text`` as JSON, repairing what is unambiguous: single quotes, trailing commas,
    unclosed braces/brackets/strings at the end, Python's True/False/None, unquoted keys and a
    surrounding code fence. Returns ``(value, repaired)``; raises ``ValueError`` saying what is
    wrong when it cannot be repaired."""
    try:
        return json.loads(text), False
    except json.JSONDecodeError as exc:
        original = exc
    s = text.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", s, flags=re.S)
    if fence:
        s = fence.group(1)
    out: list[str] = []
    stack: list[str] = []
    quote: str | None = None
    i, n = 0, len(s)

    def drop_trailing_comma() -> None:
        j = len(out) - 1
        while j >= 0 and out[j].isspace():
            j -= 1
        if j >= 0 and out[j] == ",":
            del out[j]

    while i < n:
        c = s[i]
        if quote:
            if c == "\\" and i + 1 < n:
                nxt = s[i + 1]
                out.append(nxt if (quote == "'" and nxt == "'") else c + nxt)
                i += 2
                continue
            if c == quote:
                out.append('"')
                quote = None
            elif c == '"':
                out.append('\\"')
            elif c == "\n":
                out.append("\\n")
            else:
                out.append(c)
        elif c in "\"'":
            quote = c
            out.append('"')
        elif c in "{[":
            stack.append(c)
            out.append(c)
        elif c in "}]":
            want = "{" if c == "}" else "["
            if not stack or stack[-1] != want:
                raise ValueError(f"not valid JSON: unexpected {c!r} at position {i} ({original.msg})")
            drop_trailing_comma()
            stack.pop()
            out.append(c)
        elif c.isalpha() or c == "_":
            m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(s, i)
            assert m
            word = m.group(0)
            rest = s[m.end():].lstrip()
            if rest.startswith(":") and stack and stack[-1] == "{":
                out.append(json.dumps(word))  # an unquoted key
            elif word in _WORDS:
                out.append(_WORDS[word])
            else:
                raise ValueError(f"not valid JSON: bare word {word!r} at position {i} ({original.msg})")
            i = m.end()
            continue
        else:
            out.append(c)
        i += 1
    if quote:
        out.append('"')
    drop_trailing_comma()
    for opener in reversed(stack):
        out.append("}" if opener == "{" else "]")
    fixed = "".join(out)
    try:
        return json.loads(fixed), True
    except json.JSONDecodeError:
        raise ValueError(f"not valid JSON ({original.msg} at position {original.pos})") from None


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


@dataclass
class ToolOutcome:
    content: str
    is_error: bool = False
    repaired: bool = False


async def run_tool(tool: Tool | None, name: str, arguments: str, available: list[str]) -> ToolOutcome:
    """Run one call and return what goes back to the model."""
    if tool is None:  # AutoGen's words exactly: scripts and models match on them
        return ToolOutcome(f"Error: Function {name} not found.", True)
    try:
        args, repaired = repair_json(arguments or "{}")
    except ValueError as exc:
        return ToolOutcome(f"Error: the arguments for {name} are {exc}. Call {name} again with a JSON object "
                           f"of the arguments.", True)
    if not isinstance(args, dict):
        return ToolOutcome(f"Error: the arguments for {name} must be a JSON object, got {type(args).__name__}.", True, repaired)
    if tool.model is not None:
        try:
            kwargs = tool.arguments(args)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors())
            return ToolOutcome(f"Error: invalid arguments for {name}: {problems}", True, repaired)
    else:
        kwargs = args
    try:
        if inspect.iscoroutinefunction(tool.func):
            result = await tool.func(**kwargs)
        else:
            # A thread, so a slow tool does not freeze the TUI (AutoGen 0.2 blocks the event loop).
            result = await asyncio.to_thread(tool.func, **kwargs)
            if inspect.isawaitable(result):
                result = await result
    except Exception as exc:
        return ToolOutcome(f"Error: {name} failed: {type(exc).__name__}: {exc}", True, repaired)
    return ToolOutcome(_to_text(result), False, repaired)


def wrap_function(tool: Tool) -> Callable[..., Any]:
    """AutoGen's wrapped form of a function registered for execution: called with the model's
    arguments, it validates and converts them as a tool call does and returns the result as the
    text the model gets (a pydantic model as its JSON). Async stays async; ``_origin`` is the
    function itself. Made once per tool and kept in ``tool.wrapped``."""
    if tool.wrapped is not None:
        return tool.wrapped
    func = tool.func
    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return _to_text(await func(*args, **tool.arguments(kwargs)))
    else:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            return _to_text(func(*args, **tool.arguments(kwargs)))
    wrapper._origin = func  # type: ignore[attr-defined]
    tool.wrapped = wrapper
    return wrapper
