"""Tool calls as servers really send them, made into ``ToolCall``s.

Servers and small models send a call in many shapes: arguments as a JSON string or an object, the
``{"name", "arguments"}`` pair wrapped once more, several calls in one text, ``<tool_call>`` tags
or a fenced JSON block in plain content, "Run the following function(s): ..." text, a tool name
with a namespace prefix (``functions.get_time``). ``normalise_calls`` turns them into real calls
when that is unambiguous, and otherwise says what was wrong, so the model can be told.

Only a call to an OFFERED tool with object arguments counts: text that merely shows some JSON
stays text. A text call that is broken (not JSON, an unknown tool, arguments not an object) makes
no call at all: the reply keeps its text and ``problem`` says why.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._types import ToolCall, ToolSpec

ToolCallMode = Literal["native", "grammar", "text"]

_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|(?=<tool_call>)|\Z)", re.DOTALL)
_FENCE = re.compile(r"```[ \t]*(json|tool_call|tool_code)?[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL | re.IGNORECASE)
_MISTRAL = re.compile(r"\[TOOL_CALLS\]\s*")
_RUN = re.compile(r"\b(?:run|call|execute|invoke|use)\s+the\s+following\s+(?:function|tool)s?(?:\(s\))?\s*:?\s*",
                  re.IGNORECASE)
_CALL_SHAPE = re.compile(r'"name"\s*:\s*"[^"]*"\s*,\s*"(?:arguments|parameters)"|"function"\s*:\s*\{')
_SEPARATORS = ".:/"


@dataclass(frozen=True, slots=True)
class ParsedCalls:
    """The calls of one reply, the text left once they are taken out, and what was wrong (if
    anything: then ``calls`` holds only the server's own and ``text`` is the reply as written)."""

    calls: tuple[ToolCall, ...]
    text: str
    problem: str | None = None


class _Broken(ValueError):
    pass


def resolve_name(name: str, offered: Sequence[str]) -> str | None:
    """The offered tool ``name`` means: itself, or the one tool it names after a namespace prefix
    (``functions.x``, ``default_api:x``, ``tools/x``); ``None`` when none or several match."""
    if name in offered:
        return name
    matches = [t for t in offered if len(name) > len(t) and name.endswith(t) and name[-len(t) - 1] in _SEPARATORS]
    return matches[0] if len(matches) == 1 else None


def _unwrap(value: dict[str, Any]) -> tuple[Any, Any]:
    """(name, arguments) of a call object, through ``{"function": {...}}`` and a second
    ``{"name", "arguments"}`` layer around the real arguments."""
    for _ in range(4):
        if isinstance(value.get("function"), dict) and "name" not in value:
            value = value["function"]
            continue
        break
    name = value.get("name")
    args = value.get("arguments", value.get("parameters", {}))
    for _ in range(4):
        if isinstance(args, str):
            try:
                args = json.loads(args or "{}")
            except json.JSONDecodeError as exc:
                raise _Broken(f"tool {name!r}: the arguments are not valid JSON ({exc})") from None
        if isinstance(args, dict) and isinstance(args.get("function"), dict) and len(args) <= 2:
            args = args["function"]
        if (isinstance(args, dict) and set(args) <= {"name", "arguments", "parameters", "type"}
                and "name" in args and ("arguments" in args or "parameters" in args)
                and _same_tool(name, args["name"])):
            name, args = args["name"], args.get("arguments", args.get("parameters"))
            continue
        break
    return name, args


def _same_tool(outer: Any, inner: Any) -> bool:
    """Whether a wrapper's name and the name inside it are one tool (one may carry a prefix)."""
    if outer is None:
        return True
    outer, inner = str(outer), str(inner)
    return outer == inner or resolve_name(outer, [inner]) == inner or resolve_name(inner, [outer]) == outer


def _items(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list) and "name" not in value:
        return value["tool_calls"]
    return [value]


def _is_call_shaped(value: Any) -> bool:
    return isinstance(value, dict) and ((isinstance(value.get("name"), str) and ("arguments" in value or "parameters" in value))
                                        or isinstance(value.get("function"), dict))


def _call(item: Any, offered: Sequence[str], strict: bool) -> tuple[str, dict[str, Any]] | None:
    """(tool, arguments) of one call item; ``None`` when it is no call (``strict``: raise)."""
    if not _is_call_shaped(item):
        if strict:
            raise _Broken(f"{_short(item)} is not a tool call: expected {{\"name\": ..., \"arguments\": {{...}}}}")
        return None
    name, args = _unwrap(item)
    if not isinstance(name, str) or not name:
        raise _Broken(f"{_short(item)} names no tool")
    tool = resolve_name(name, offered)
    if tool is None:
        raise _Broken(f"there is no tool {name!r} (the tools: {', '.join(offered)})")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise _Broken(f"tool {tool!r}: the arguments must be a JSON object, not {type(args).__name__}")
    return tool, args


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text if len(text) <= 80 else text[:80] + "…")


def _decode(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _Broken(f"the tool call {_short(raw)} is not valid JSON ({exc})") from None


def _json_prefix(raw: str) -> tuple[list[Any], int]:
    """The JSON values ``raw`` begins with (one, or several side by side), and where they end."""
    decoder, out, i, done = json.JSONDecoder(), [], 0, 0
    while i < len(raw) and raw[i] in "{[":
        try:
            value, end = decoder.raw_decode(raw, i)
        except json.JSONDecodeError:
            break
        out.extend(_items(value))
        i = done = end
        while i < len(raw) and raw[i] in " \t\r\n,;":
            i += 1
    return out, done


def _json_sequence(raw: str) -> list[Any] | None:
    """The JSON values ``raw`` is made of; ``None`` if it is not only JSON."""
    raw = raw.strip()
    items, end = _json_prefix(raw)
    return items if items and end == len(raw) else None


def _pythonic(raw: str) -> list[Any] | None:
    """``[get_time(city="Paris"), ...]`` or ``get_time(city="Paris")``: calls as Python writes them
    (literal keyword arguments only), as call objects; ``None`` when the text is not that."""
    try:
        tree = ast.parse(raw.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None
    nodes = tree.elts if isinstance(tree, ast.List | ast.Tuple) else [tree]
    out = []
    for node in nodes:
        if not isinstance(node, ast.Call) or node.args:
            return None
        try:
            name = ast.unparse(node.func)
            args = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        except (ValueError, TypeError, SyntaxError, RecursionError):
            return None
        out.append({"name": name, "arguments": args})
    return out or None


def _text_calls(content: str, offered: Sequence[str]) -> tuple[list[tuple[str, dict[str, Any]]], str]:
    """The calls written in ``content`` and the text around them; raises ``_Broken``."""
    found: list[tuple[str, dict[str, Any]]] = []
    spans: list[tuple[int, int]] = []
    tags = list(_TAG.finditer(content))
    if tags:  # a tag says "this is a call": anything wrong inside is a problem
        for m in tags:
            value = _decode(m.group(1))
            found += [_call(item, offered, strict=True) for item in _items(value)]  # type: ignore[misc]
            spans.append(m.span())
    else:
        mistral = _MISTRAL.search(content)
        run = _RUN.search(content)
        if mistral or run:
            start = (mistral or run).end()  # type: ignore[union-attr]
            tail = content[start:].strip()
            fenced = _FENCE.fullmatch(tail)
            body = fenced.group(2) if fenced else tail
            items = _json_sequence(body) or _pythonic(body)
            if items is None:
                if mistral or _CALL_SHAPE.search(body):
                    raise _Broken(f"the tool call {_short(body)} is not valid JSON")
                return [], content
            calls = [_call(item, offered, strict=bool(mistral)) for item in items]
            if all(calls):
                found += calls  # type: ignore[arg-type]
                spans.append(((mistral or run).start(), len(content)))  # type: ignore[union-attr]
            elif any(calls):
                raise _Broken("the text mixes tool calls with other JSON; write each call on its own")
        else:
            lead = len(content) - len(content.lstrip())
            items, end = _json_prefix(content[lead:])
            if items and all(_is_call_shaped(i) for i in items):
                # The reply opens with JSON calls (perhaps with words after them).
                blocks = [(content[lead:lead + end], (0, lead + end))]
            elif content[lead:lead + 1] in ("{", "["):
                blocks = [(content, (0, len(content)))]
            else:
                blocks = [(m.group(2), m.span()) for m in _FENCE.finditer(content)]
            for raw, span in blocks:
                items = _json_sequence(raw)
                if items is None:
                    if _CALL_SHAPE.search(raw):  # meant as a call, but broken
                        raise _Broken(f"the tool call {_short(raw.strip())} is not valid JSON")
                    continue
                calls = [_call(item, offered, strict=False) for item in items]
                if calls and all(calls):
                    found += calls  # type: ignore[arg-type]
                    spans.append(span)
                elif any(calls):
                    raise _Broken("a JSON block mixes tool calls with other values; write each call on its own")
    text, last = [], 0
    for start, end in spans:
        text.append(content[last:start])
        last = end
    text.append(content[last:])
    return found, "".join(text).strip()


def _call_id(seed: str, index: int) -> str:
    return "call_" + hashlib.sha1(f"{index}:{seed}".encode()).hexdigest()[:16]


def normalise_calls(content: str, native: Sequence[ToolCall], tools: Sequence[ToolSpec],
                    mode: ToolCallMode | None = None) -> ParsedCalls:
    """The tool calls of one completion, its text and any problem.

    ``native``: the calls the server sent as such; they are kept (a namespaced name mapped to the
    offered tool, a wrapper around the arguments taken off, arguments made a JSON object text when
    they are one); what is wrong with one is left for the tool run to report. ``mode``: "native"
    parses nothing from text; "text" ignores ``native`` and parses the text; "grammar" and ``None``
    parse the text only when the server sent no calls."""
    offered = [t.name for t in tools]
    if mode != "text" and (native or mode == "native"):
        return ParsedCalls(tuple(_native(c, offered) for c in native), content)
    try:
        found, text = _text_calls(content, offered)
    except _Broken as exc:
        return ParsedCalls((), content, f"a tool call in the reply was not understood: {exc}")
    except RecursionError:
        return ParsedCalls((), content, "a tool call in the reply was not understood: its JSON nests too deeply")
    calls = tuple(ToolCall(_call_id(content, i), name, json.dumps(args)) for i, (name, args) in enumerate(found))
    return ParsedCalls(calls, text if calls else content)


def _native(call: ToolCall, offered: Sequence[str]) -> ToolCall:
    try:
        name, args = _unwrap({"name": call.name, "arguments": call.arguments})
        original = json.loads(call.arguments or "{}")
    except (_Broken, json.JSONDecodeError):
        return call if call.name in offered else ToolCall(call.id, resolve_name(call.name, offered) or call.name,
                                                          call.arguments)
    tool = resolve_name(str(name), offered) or resolve_name(call.name, offered) or call.name
    arguments = json.dumps(args) if isinstance(args, dict) and args != original else call.arguments
    if tool == call.name and arguments == call.arguments:
        return call
    return ToolCall(call.id, tool, arguments)
