"""AutoGen-shaped message dicts, and turning them into the backends' ``ChatMessage``."""

from __future__ import annotations

from typing import Any

from moot.backends import ChatMessage, Image, ToolCall

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


class ToolText(str):
    """A tool's result text that carries images (an MCP tool's image blocks). As a string it is
    the text with each image named (``[image image/png, 12 KB]``): that is what the session store,
    the transcript and AutoGen-style code see, never the image data. ``to_chat`` gives the model
    ``text`` (the result without those names) and ``images``; a model without vision gets a note
    for each image instead (the backends add it)."""

    text: str
    images: tuple[Image, ...]

    def __new__(cls, text: str, images: tuple[Image, ...]) -> ToolText:
        named = "\n".join(([text] if text else []) + [f"[image {i.label()}]" for i in images])
        out = super().__new__(cls, named)
        out.text, out.images = text, images
        return out

    def __getnewargs__(self) -> tuple[str, tuple[Image, ...]]:  # copies and pickles keep the images
        return self.text, self.images


def _data_image(url: Any) -> Image | None:
    """An ``image_url`` part's data URL as an ``Image`` (None for a web address or a broken one)."""
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        return None
    media_type, data = url[5:].split(";base64,", 1)
    return Image(media_type or "application/octet-stream", data)


def multimodal(role: str, content: list[Any], name: str | None) -> ChatMessage:
    """An AutoGen-style list of parts as one message: the text parts joined, ``image_url`` parts
    with a data URL as images (another address stays ``<image>`` in the text, as before)."""
    images = []
    parts = []
    for item in content:
        if isinstance(item, dict) and item.get("type") == "image_url":
            url = item.get("image_url")
            image = _data_image(url.get("url") if isinstance(url, dict) else url)
            if image is not None:
                images.append(image)
                continue
        parts.append(content_str([item]))
    return ChatMessage(role, "".join(parts), name, images=tuple(images))


def _not_text(role: str, content: Any, name: str | None) -> ChatMessage:
    if type(content) is list:
        return multimodal(role, content, name)
    return ChatMessage(role, content_str(content), name)


def _tool(content: Any, call_id: str | None) -> ChatMessage:
    if type(content) is ToolText:
        return ChatMessage("tool", content.text, tool_call_id=call_id, images=content.images)
    return ChatMessage("tool", content_str(content), tool_call_id=call_id)


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
        out.append(ChatMessage(role, content, message.get("name")) if type(content) is str
                   else _not_text(role, content, message.get("name")))
        return
    responses = message.get("tool_responses")
    if responses:
        for r in responses:
            out.append(_tool(r.get("content"), r.get("tool_call_id")))
        if role != "tool":  # a human reply that interrupted tool calls carries its own text too
            text = content_str(message.get("content"))
            if text:
                out.append(ChatMessage("user", text, name=message.get("name")))
        return
    if role == "tool":
        out.append(_tool(message.get("content"), message.get("tool_call_id")))
        return
    if role == "function":
        out.append(ChatMessage("user", f"{message.get('name', 'function')} returned: {content_str(message.get('content'))}"))
        return
    if role not in ("user", "assistant", "system"):
        role = "user"
    calls = tool_calls_of(message) if message.get("tool_calls") else ()
    content = message.get("content")
    if type(content) is list and not calls:
        out.append(multimodal(role, content, message.get("name")))
        return
    out.append(ChatMessage(role, None if content is None and calls else content_str(content),
                           name=message.get("name"), tool_calls=calls))


def to_chat_messages(messages: list[dict[str, Any]]) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    for m in messages:
        to_chat(m, out)
    return out
