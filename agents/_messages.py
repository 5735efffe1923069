"""AutoGen-shaped message dicts, and turning them into the backends' ``ChatMessage``."""

from __future__ import annotations

from typing import Any

from moot.backends import ChatMessage, ToolCall

# The keys AutoGen 0.2 keeps when it stores a message.
KEPT_KEYS = ("content", "function_call", "tool_calls", "tool_responses", "tool_call_id", "name", "context")


def content_str(content: Any) -> str:
    """The text of a message's content (a string, None, or a list of multimodal parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for item in content:
            if isinstance(item, dict) and item.get("type") == "text":
                parts.append(item.get("text", ""))
            elif isinstance(item, dict) and item.get("type") == "image_url":
                parts.append("<image>")
            else:
                parts.append(str(item))
        return "".join(parts)
    return str(content)


def as_message(message: dict[str, Any] | str | None) -> dict[str, Any]:
    """A message as a dict (a string becomes ``{"content": text}``)."""
    if isinstance(message, dict):
        return message
    if message is None:
        return {"content": None}
    return {"content": str(message)}


_KEPT = frozenset(KEPT_KEYS)


def stored_copy(message: dict[str, Any], role: str, name: str) -> dict[str, Any] | None:
    """The dict one side of a conversation stores (AutoGen's rules for role and name);
    ``None`` when the message has neither content nor tool calls. Runs for every message and
    every listener, so it is kept lean."""
    if len(message) == 1:
        content = message.get("content")
        if type(content) is str:  # a text sent as a string: the common message, made at once
            return {"content": content, "role": role, "name": name}
    out = {k: v for k, v in message.items() if v is not None and k in _KEPT}
    if "content" not in out:
        if out.get("tool_calls") or out.get("function_call"):
            out["content"] = None
        elif out.get("tool_responses"):
            out["content"] = ""
        else:
            return None
    given = message.get("role")
    if given == "tool" or given == "function":
        out["role"] = given
    elif "tool_calls" in out or "function_call" in out:
        out["role"] = "assistant"  # only an assistant message can carry tool calls
    else:
        out["role"] = role
    if "name" not in out and "tool_calls" not in out and "function_call" not in out:
        out["name"] = name  # as AutoGen: a message that makes calls carries no name
    return out


def tool_calls_of(message: dict[str, Any]) -> tuple[ToolCall, ...]:
    calls = []
    for i, call in enumerate(message.get("tool_calls") or ()):
        fn = call.get("function", {}) if isinstance(call, dict) else {}
        args = fn.get("arguments", "")
        if not isinstance(args, str):
            import json

            args = json.dumps(args)
        calls.append(ToolCall(call.get("id") or f"call_{i}", fn.get("name", ""), args))
    return tuple(calls)


def to_chat(message: dict[str, Any], out: list[ChatMessage]) -> None:
    """Append the ``ChatMessage``s one stored dict stands for (tool responses expand)."""
    role = message.get("role", "user")
    if (role == "user" or role == "assistant") and "tool_calls" not in message and "tool_responses" not in message:
        content = message.get("content")  # the common message: text only, converted at once
        out.append(ChatMessage(role, content if type(content) is str else content_str(content), message.get("name")))
        return
    responses = message.get("tool_responses")
    if responses:
        for r in responses:
            out.append(ChatMessage("tool", content_str(r.get("content")), tool_call_id=r.get("tool_call_id")))
        if role != "tool":  # a human reply that interrupted tool calls carries its own text too
            text = content_str(message.get("content"))
            if text:
                out.append(ChatMessage("user", text, name=message.get("name")))
        return
    if role == "tool":
        out.append(ChatMessage("tool", content_str(message.get("content")), tool_call_id=message.get("tool_call_id")))
        return
    if role == "function":
        out.append(ChatMessage("user", f"{message.get('name', 'function')} returned: {content_str(message.get('content'))}"))
        return
    if role not in ("user", "assistant", "system"):
        role = "user"
    calls = tool_calls_of(message) if message.get("tool_calls") else ()
    content = message.get("content")
    out.append(ChatMessage(role, None if content is None and calls else content_str(content),
                           name=message.get("name"), tool_calls=calls))


def to_chat_messages(messages: list[dict[str, Any]]) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    for m in messages:
        to_chat(m, out)
    return out
