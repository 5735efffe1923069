"""Message transforms (``moot.agentchat.contrib.capabilities.transforms``) as AutoGen scripts use them."""

from __future__ import annotations

import pytest

from moot import ConversableAgent
from moot.agentchat.contrib.capabilities import transform_messages, transforms
from moot.agentchat.contrib.capabilities.text_compressors import LLMLingua
from moot.agentchat.contrib.capabilities.transforms_util import count_text_tokens

HISTORY = [
    {"role": "user", "content": "please add the numbers"},
    {"role": "assistant", "content": "", "tool_calls": [{"id": "1", "type": "function",
                                                          "function": {"name": "add", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "1", "content": "3"},
    {"role": "assistant", "content": "the sum is 3"},
    {"role": "user", "content": "thanks, and now multiply them"},
]


def test_the_history_limiter_keeps_the_newest_and_never_opens_with_a_tool_result():
    assert transforms.MessageHistoryLimiter(max_messages=2).apply_transform(HISTORY) == HISTORY[3:]
    assert transforms.MessageHistoryLimiter(max_messages=3).apply_transform(HISTORY) == HISTORY[3:]  # not the orphan
    assert transforms.MessageHistoryLimiter(max_messages=2, keep_first_message=True).apply_transform(HISTORY) == [
        HISTORY[0], HISTORY[4]]
    assert transforms.MessageHistoryLimiter().apply_transform(HISTORY) is HISTORY
    with pytest.raises(ValueError, match="max_messages must be None or greater than 1"):
        transforms.MessageHistoryLimiter(max_messages=0)


def test_tokens_are_words_and_marks():
    assert count_text_tokens("are you doing?") == 4
    assert count_text_tokens([{"type": "text", "text": "a b"}, {"type": "image_url", "image_url": {"url": "x"}}]) == 2
    assert count_text_tokens(None) == 0


def test_the_token_limiter_cuts_each_message_then_the_history():
    limiter = transforms.MessageTokenLimiter(max_tokens_per_message=3)
    out = limiter.apply_transform(HISTORY)
    assert [m.get("content") for m in out] == ["please add the", "", "3", "the sum is", "thanks, and"]
    assert HISTORY[0]["content"] == "please add the numbers"  # the input is not changed
    out = transforms.MessageTokenLimiter(max_tokens=8).apply_transform(HISTORY)
    assert [m["content"] for m in out] == ["the sum", "thanks, and now multiply them"]
    out = transforms.MessageTokenLimiter(max_tokens=6).apply_transform(HISTORY)
    assert [m["content"] for m in out] == ["thanks, and now multiply them"]  # no room left: no empty message
    logs, changed = limiter.get_logs(HISTORY, limiter.apply_transform(HISTORY))
    assert changed and logs.startswith("Truncated ")


def test_the_token_limiter_waits_for_min_tokens_and_honours_its_filter():
    assert transforms.MessageTokenLimiter(max_tokens=200, min_tokens=100).apply_transform(HISTORY) is HISTORY
    only_users = transforms.MessageTokenLimiter(max_tokens_per_message=1, filter_dict={"role": ["user"]},
                                                exclude_filter=False)
    assert [m["content"] for m in only_users.apply_transform(HISTORY)] == ["please", "", "3", "the sum is 3", "thanks"]
    with pytest.raises(ValueError, match="min_tokens must not be more than max_tokens"):
        transforms.MessageTokenLimiter(max_tokens=5, min_tokens=6)


def test_the_content_name_transform_writes_the_sender_into_the_text():
    named = [{"role": "user", "name": "ann", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    out = transforms.TextMessageContentName(position="end", format_string=" ({name})").apply_transform(named)
    assert [m["content"] for m in out] == ["hi (ann)", "hello"]
    out = transforms.TextMessageContentName().apply_transform(transforms.TextMessageContentName().apply_transform(named))
    assert out[0]["content"] == "ann:\nhi"  # deduplicated
    with pytest.raises(AssertionError, match="position must be 'start' or 'end'"):
        transforms.TextMessageContentName(position="middle")


class Halver:
    calls = 0

    def compress_text(self, text, **params):
        Halver.calls += 1
        return {"compressed_prompt": text[: len(text) // 2], "origin_tokens": 10, "compressed_tokens": 5}


class DictCache(dict):
    def set(self, key, value):
        self[key] = value


def test_the_compressor_uses_the_given_compressor_and_cache():
    Halver.calls = 0
    cache = DictCache()
    compressor = transforms.TextMessageCompressor(text_compressor=Halver(), cache=cache)
    out = compressor.apply_transform([{"role": "user", "content": "abcdefgh"}])
    assert out == [{"role": "user", "content": "abcd"}]
    assert compressor.get_logs([], out) == ("5 tokens saved with text compression.", True)
    compressor.apply_transform([{"role": "user", "content": "abcdefgh"}])
    assert Halver.calls == 1 and len(cache) == 1
    with pytest.raises(ImportError, match="LLMLingua is not available in moot"):
        LLMLingua()
    with pytest.raises(ImportError):
        transforms.TextMessageCompressor()


def test_transform_messages_keeps_the_system_message_and_installs_as_a_hook(capsys):
    capability = transform_messages.TransformMessages(transforms=[transforms.MessageHistoryLimiter(max_messages=1)])
    system = {"role": "system", "content": "be brief"}
    assert capability.transform_messages([system, *HISTORY]) == [system, HISTORY[-1]]
    assert "Removed 4 messages" in capsys.readouterr().out
    quiet = transform_messages.TransformMessages(transforms=[transforms.MessageHistoryLimiter(max_messages=1)],
                                                 verbose=False)
    quiet.transform_messages(HISTORY)
    assert capsys.readouterr().out == ""
    quiet.add_to_agent(ConversableAgent("agent", llm_config=False))
