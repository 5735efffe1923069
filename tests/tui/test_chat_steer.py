"""Steer or queue: a message typed while an agent streams is queued for the next turn (shown as
queued, then as sent once the next speaker has read it); Ctrl+Enter (chat.send_now) cuts the turn
short and sends it at once."""

from __future__ import annotations

from conftest import GROUP_TEAM, wait_until
from moot.backends.scripted import ScriptedBackend
from moot.tui.screens.chat import ChatScreen

SLOW = {"chunk_delay_s": 0.03, "chunk_size": 4}


def spy_requests(monkeypatch) -> list[str]:
    """Every prompt a scripted model is sent (its messages joined)."""
    seen: list[str] = []
    original = ScriptedBackend._stream

    def stream(self, request):
        seen.append("\n".join(str(m.get("content") if isinstance(m, dict) else getattr(m, "content", m))
                              for m in request.messages))
        return original(self, request)

    monkeypatch.setattr(ScriptedBackend, "_stream", stream)
    return seen


async def open_chat(pilot, app) -> ChatScreen:
    await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat screen")
    return app.screen


async def test_a_message_typed_while_streaming_is_queued_for_the_next_turn(app_factory, make_models, write_team,
                                                                          no_approval, monkeypatch):
    seen = spy_requests(monkeypatch)
    models = make_models(**{f"{n}-model": {"backend": "scripted", "replies": [f"{n} says something " * 10],
                                           "options": SLOW} for n in ("planner", "writer", "critic")})
    write_team(GROUP_TEAM.format(max_round=4), "trio")
    app = app_factory(models=models, team="trio", task="write a haiku")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await wait_until(pilot, lambda: screen.status.state == "streaming", what="the first turn")
        first = screen.status.speaker
        assert "queues it for the next turn" in screen.input.placeholder and "Ctrl+Enter sends it now" in screen.input.placeholder
        screen.input.value = "keep it short"
        await pilot.press("enter")
        line, text = screen.queued[0]
        assert "you · queued for the next turn: keep it short" in str(line.render()) and line.has_class("-queued")
        asked = len(seen)
        await wait_until(pilot, lambda: not screen.queued, timeout=20, what="the next speaker to read it")
        assert "sent with the next turn" in str(line.render()) and not line.has_class("-queued")
        await wait_until(pilot, lambda: screen.mode == "stopped" and not screen.pending, timeout=30, what="the end")
        later = seen[asked:]
        assert any("[The user adds]: keep it short" in prompt for prompt in later)
        assert not any("keep it short" in prompt for prompt in seen[:asked])
        assert screen.status.speaker != first or len(screen.conversation.turns) > 2


async def test_send_now_cuts_the_turn_short_and_sends_at_once(app_factory, make_models, coder_team, no_approval,
                                                             monkeypatch):
    seen = spy_requests(monkeypatch)
    long = " ".join(f"word{i}" for i in range(400))
    models = make_models(**{"coder-model": {"backend": "scripted", "replies": [long, "Hi! TERMINATE"], "options": SLOW}})
    app = app_factory(models=models, team=coder_team(), task="write an essay")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await wait_until(pilot, lambda: screen.status.state == "streaming", what="the essay streaming")
        screen.input.value = "stop, just say hi"
        await pilot.press("ctrl+enter")
        assert any("now (stopping coder's turn): stop, just say hi" in line for line in screen.conversation.lines)
        await wait_until(pilot, lambda: any(t.label == "you" and t.text == "stop, just say hi"
                                            for t in screen.conversation.turns.values()), timeout=20,
                         what="the message sent as a new turn")
        await wait_until(pilot, lambda: screen.mode == "stopped" and not screen.pending, timeout=30, what="the end")
        essay = next(t for t in screen.conversation.turns.values() if t.text.startswith("word0"))
        assert "word399" not in essay.text  # cut short
        assert any("turn stopped" in str(n.render()) for n in essay.query(".turn-note"))
        assert "stop, just say hi" in seen[-1]
        assert any(t.text.startswith("Hi!") for t in screen.conversation.turns.values())
