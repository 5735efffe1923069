"""The context view (agents/_window.py): what a model sees of a stored history."""

from moot.agents._window import SHARED_MAX, ConversationView
from moot.backends import ChatMessage


def _stored(n: int, name: str = "bob") -> list[dict]:
    return [{"content": f"message {i} " + "x" * 30, "role": "user", "name": name} for i in range(n)]


def test_listeners_views_share_one_message_per_stored_copy_of_it():
    said = _stored(3)
    # Two listeners store their own copies of the same messages (a group chat's broadcast).
    alice = [dict(m) for m in said]
    carol = [dict(m) for m in said]
    a = ConversationView([ChatMessage("system", "you are alice")]).update(alice, None)
    c = ConversationView([ChatMessage("system", "you are carol")]).update(carol, None)
    assert [m.content for m in a[1:]] == [m["content"] for m in said]
    assert all(x is y for x, y in zip(a[1:], c[1:]))  # converted once, shared
    # The speaker's own copy of a message is the assistant's: not the listeners' message.
    own = ConversationView().update([{**said[0], "role": "assistant"}], None)
    assert own[0].role == "assistant" and own[0].content == said[0]["content"] and own[0] is not a[1]


def test_a_shared_message_is_never_another_text_or_speaker():
    first = ConversationView().update([{"content": "same words", "role": "user", "name": "bob"}], None)
    other = ConversationView().update([{"content": "same words", "role": "user", "name": "eve"}], None)
    assert (first[0].name, other[0].name) == ("bob", "eve")
    changed = ConversationView().update([{"content": "other words", "role": "user", "name": "bob"}], None)
    assert changed[0].content == "other words"


def test_a_long_chat_keeps_the_shared_table_bounded_and_every_view_right():
    stored = _stored(3 * SHARED_MAX)
    view = ConversationView().update(stored, None)
    again = ConversationView().update([dict(m) for m in stored], None)
    assert [m.content for m in again] == [m["content"] for m in stored] == [m.content for m in view]
    from moot.agents import _window

    assert len(_window._SHARED) <= SHARED_MAX


def test_the_cut_keeps_the_head_and_the_last_message_and_never_starts_at_a_tool_result():
    stored = _stored(50)
    stored[30] = {"content": "result", "role": "tool", "tool_call_id": "c1"}
    view = ConversationView([ChatMessage("system", "sys")])
    seen = view.update(stored, room=500)
    assert seen[0].content == "sys" and seen[-1].content == stored[-1]["content"]
    assert seen[1].content == stored[0]["content"]  # the task stays
    assert seen[2].role != "tool"
    assert sum(len(m.content) + 16 for m in seen[1:]) <= 500


def test_a_cut_window_kept_between_turns_is_what_a_fresh_cut_would_show():
    stored: list[dict] = []
    view = ConversationView([ChatMessage("system", "sys")])
    for turn in range(200):
        stored.append({"content": f"turn {turn} " + "y" * (turn % 37), "role": "user" if turn % 2 else "assistant",
                       "name": "bob" if turn % 2 else "me"})
        seen = view.update(stored, room=900)
        assert seen[0].content == "sys"
        kept = [stored[0], *stored[view.cut:]] if view.cut else stored  # the task is never cut
        assert [m.content for m in seen[1:]] == [m["content"] for m in kept]
        assert seen[-1].content == stored[-1]["content"]
    assert view.cut > 0
