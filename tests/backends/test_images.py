"""Images on messages: each backend's message translation (openai, anthropic, ollama, llama_cpp)
with and without vision, and the agents' message dicts (AutoGen-style content lists, a tool's
``ToolText``) becoming messages with images."""

from __future__ import annotations

import base64
import copy
import json
import pickle

from moot.agents._messages import ToolText, to_chat_messages
from moot.backends import ChatMessage, Image, ToolCall
from moot.backends.anthropic import to_anthropic
from moot.backends.llama_cpp import _to_plain
from moot.backends.ollama import to_ollama_messages
from moot.backends.openai import wire_messages

PNG = Image("image/png", base64.b64encode(b"\x89PNG" + b"\x00" * 12284).decode())  # 12 KB
SVG = Image("image/svg+xml", base64.b64encode(b"<svg/>").decode())
NOTE = "[image image/png, 12 KB: this model has no vision]"


def tool_round(*results: ChatMessage) -> list[ChatMessage]:
    calls = tuple(ToolCall(r.tool_call_id or "", "pics__square", "{}") for r in results)
    return [ChatMessage("user", "draw"), ChatMessage("assistant", None, tool_calls=calls), *results]


def test_an_image_knows_its_size_and_says_so():
    assert PNG.size == 12288 and PNG.label() == "image/png, 12 KB"
    assert Image("image/png", base64.b64encode(b"x" * 3 * 2**20).decode()).label() == "image/png, 3.0 MB"
    assert SVG.label() == "image/svg+xml, 6 bytes"
    assert PNG.data_url().startswith("data:image/png;base64,iVBORw")
    message = ChatMessage("user", "hi", "ann")  # positional, as the hot paths build them
    assert message.images == () and message.to_openai() == {"role": "user", "content": "hi", "name": "ann"}
    described = ChatMessage("user", "look", images=(PNG,)).to_openai()["images"]  # for logs and cache keys
    assert described[0]["media_type"] == "image/png" and described[0]["bytes"] == 12288
    assert PNG.data not in json.dumps(described)


def test_openai_puts_a_tool_results_images_in_a_user_message_after_the_tool_messages():
    messages = tool_round(ChatMessage("tool", "a red square", tool_call_id="c1", images=(PNG,)),
                          ChatMessage("tool", "no picture", tool_call_id="c2"))
    out = wire_messages(messages, vision=True)
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "tool", "user"]
    assert out[2] == {"role": "tool", "content": "a red square", "tool_call_id": "c1"}
    assert out[4]["content"] == [{"type": "text", "text": "The tool call c1 returned:"},
                                 {"type": "image_url", "image_url": {"url": PNG.data_url()}}]


def test_openai_user_images_are_content_parts_and_without_vision_notes():
    message = ChatMessage("user", "what is this?", images=(PNG, SVG))
    (out,) = wire_messages([message], vision=True)
    assert out["content"] == [{"type": "text", "text": "what is this?"},
                              {"type": "image_url", "image_url": {"url": PNG.data_url()}},
                              {"type": "text", "text": "[image image/svg+xml, 6 bytes: not a type the model reads]"}]
    (blind,) = wire_messages([message], vision=False)
    assert blind["content"] == "what is this?\n" + NOTE + "\n[image image/svg+xml, 6 bytes: this model has no vision]"
    assert "images" not in blind
    tool = wire_messages(tool_round(ChatMessage("tool", "", tool_call_id="c1", images=(PNG,))), vision=False)
    assert tool[-1] == {"role": "tool", "content": NOTE, "tool_call_id": "c1"}
    plain = [ChatMessage("user", "hi")]
    assert wire_messages(plain, vision=True) == [{"role": "user", "content": "hi"}]


def test_anthropic_puts_image_blocks_inside_the_tool_result():
    system, turns = to_anthropic(tool_round(ChatMessage("tool", "a red square", tool_call_id="c1", images=(PNG,))))
    (result,) = turns[-1]["content"]
    assert result["type"] == "tool_result" and result["tool_use_id"] == "c1"
    assert result["content"] == [{"type": "text", "text": "a red square"},
                                 {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                              "data": PNG.data}}]
    _, turns = to_anthropic([ChatMessage("user", "", images=(PNG,))])
    assert turns == [{"role": "user", "content": [{"type": "image", "source": {"type": "base64",
                                                                               "media_type": "image/png",
                                                                               "data": PNG.data}}]}]
    _, blind = to_anthropic(tool_round(ChatMessage("tool", "a red square", tool_call_id="c1", images=(PNG,))),
                            vision=False)
    assert blind[-1]["content"][0]["content"] == [{"type": "text", "text": "a red square\n" + NOTE}]


def test_ollama_sends_base64_images_on_the_message_and_its_client_takes_them():
    from ollama._client import _copy_messages

    messages = tool_round(ChatMessage("tool", "a red square", tool_call_id="c1", images=(PNG,)))
    out = to_ollama_messages(messages, vision=True)
    assert out[-1] == {"role": "tool", "content": "a red square", "tool_name": "pics__square", "images": [PNG.data]}
    (sent,) = [m.model_dump(exclude_none=True) for m in _copy_messages(out[-1:])]  # what the client sends
    assert sent["images"] == [PNG.data]
    blind = to_ollama_messages(messages, vision=False)
    assert blind[-1] == {"role": "tool", "content": "a red square\n" + NOTE, "tool_name": "pics__square"}
    mixed = to_ollama_messages([ChatMessage("user", "x", images=(PNG, SVG))], vision=True)
    assert mixed == [{"role": "user", "content": "x\n[image image/svg+xml, 6 bytes: not a type the model reads]",
                      "images": [PNG.data]}]


def test_llama_cpp_gets_text_with_a_note():
    messages = tool_round(ChatMessage("tool", "a red square", tool_call_id="c1", images=(PNG,)))
    assert _to_plain(messages, native_tools=False)[-1] == {"role": "user",
                                                           "content": f"Tool result (c1): a red square\n{NOTE}"}
    native = _to_plain(messages, native_tools=True)[-1]
    assert native == {"role": "tool", "content": "a red square\n" + NOTE, "tool_call_id": "c1"}


def test_autogen_content_lists_and_tool_text_become_images():
    url = PNG.data_url()
    text = ToolText("a red square", (PNG,))
    assert text == "a red square\n[image image/png, 12 KB]"  # what the store and the transcript keep
    assert json.dumps({"content": text}) == '{"content": "a red square\\n[image image/png, 12 KB]"}'
    assert copy.deepcopy(text).images == (PNG,) and pickle.loads(pickle.dumps(text)).text == "a red square"
    stored = [
        {"role": "user", "name": "ann", "content": [{"type": "text", "text": "what is "},
                                                    {"type": "image_url", "image_url": {"url": url}},
                                                    {"type": "text", "text": "and "},
                                                    {"type": "image_url", "image_url": {"url": "https://x.org/a.png"}}]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "pics__square", "arguments": "{}"}}]},
        {"role": "tool", "content": text, "tool_responses": [{"tool_call_id": "c1", "role": "tool", "content": text}]},
        {"role": "user", "content": "plain"},
    ]
    user, _, tool, plain = to_chat_messages(stored)
    assert (user.content, user.name, user.images) == ("what is and <image>", "ann", (PNG,))
    assert (tool.role, tool.content, tool.images, tool.tool_call_id) == ("tool", "a red square", (PNG,), "c1")
    assert plain == ChatMessage("user", "plain")
