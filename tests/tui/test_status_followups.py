"""The status bar's turn count against the team's limit across follow-ups: each run of the chat
(the task, each message sent after a stop) counts its own turns, as the engine's max_turns does,
so it never reads past the limit ("turn 6/3" was seen after follow-ups with max_turns 3). A turn
cut with Esc counts while the chat is stopped; when the run goes on where it stopped, the bar
counts the posted messages as the engine does (it read "turn 4/3" there before)."""

from __future__ import annotations

from conftest import TWO_AGENT_TEAM, wait_until
from moot.tui.screens.chat import ChatScreen

SLOW = {"chunk_delay_s": 0.03, "chunk_size": 4}


def team(write_team, max_turns: int = 3) -> str:
    text = TWO_AGENT_TEAM.format(name="counted", human="NEVER", model="coder-model", max_turns=max_turns)
    write_team(text.replace("max_consecutive_auto_reply = 3", "max_consecutive_auto_reply = 50"), "counted")
    return "counted"


def watch(screen: ChatScreen) -> list[str]:
    """Every text the status bar shows from now on."""
    seen: list[str] = []
    draw = screen.status.refresh_text

    def spy() -> None:
        draw()
        seen.append(str(screen.status.render()))

    screen.status.refresh_text = spy
    return seen


def turns_shown(seen: list[str]) -> list[str]:
    return [part.strip().split(" · ")[0] for text in seen for part in text.split("│") if part.strip().startswith("turn ")]


async def stopped(pilot, screen: ChatScreen) -> None:
    await wait_until(pilot, lambda: screen.mode in ("stopped", "continue") and not screen.pending, 30,
                     what="the run to stop")


async def test_follow_ups_count_their_own_turns_against_max_turns(app_factory, make_models, write_team, no_approval):
    models = make_models(**{"coder-model": [f"answer {i}" for i in range(1, 30)]})
    name = team(write_team)
    app = app_factory(models=models, team=name)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        screen = app.screen
        seen = watch(screen)
        screen.handle_input("go")
        for follow_up in (None, "again", "and once more"):
            if follow_up is not None:
                seen.clear()
                screen.handle_input(follow_up)
            await wait_until(pilot, lambda: screen.mode == "running" or screen.stopped_event is not None, what="the run")
            await stopped(pilot, screen)
            shown = turns_shown(seen)
            assert shown[-1] == "turn 3/3", (follow_up, shown)
            assert all(int(t.split()[1].split("/")[0]) <= 3 for t in shown), (follow_up, shown)
            assert screen.stopped_event.condition == "max_turns"
        assert screen.status.round == 3


async def test_a_resumed_chat_counts_the_run_it_goes_on_with(app_factory, make_models, write_team, no_approval):
    models = make_models(**{"coder-model": [f"answer {i}" for i in range(1, 30)]})
    name = team(write_team)
    app = app_factory(models=models, team=name, task="go")
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        first = app.screen
        await stopped(pilot, first)
        first.handle_input("again")
        await wait_until(pilot, lambda: first.mode == "running", what="the follow-up")
        await stopped(pilot, first)
        sid = first.session_id
        await app.action_home()
        app.resume_session(sid)
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the resumed chat")
        screen = app.screen
        assert "turn 3/3" in str(screen.status.render())  # the last run's count, not the session's 6 turns
        seen = watch(screen)
        screen.handle_input("a third time")
        await wait_until(pilot, lambda: screen.mode == "running", what="the run")
        await stopped(pilot, screen)
        shown = turns_shown(seen)
        assert shown[-1] == "turn 3/3" and all(int(t.split()[1].split("/")[0]) <= 3 for t in shown), shown


async def test_a_turn_cut_with_esc_then_going_on_stays_within_the_limit(app_factory, make_models, write_team,
                                                                        no_approval):
    replies = ["answer 1", "long " * 300, *(f"answer {i}" for i in range(3, 20))]
    models = make_models(**{"coder-model": {"backend": "scripted", "replies": replies, "options": SLOW}})
    name = team(write_team)
    app = app_factory(models=models, team=name, task="go")
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.ready, what="the chat")
        screen = app.screen
        seen = watch(screen)
        await wait_until(pilot, lambda: screen.status.state == "streaming" and "long" in (screen.current_turn.text if screen.current_turn else ""),
                         20, what="the long answer")
        await pilot.press("escape")
        await stopped(pilot, screen)
        assert screen.mode == "continue"
        screen.handle_input("")  # Enter alone: the run goes on where it stopped
        await wait_until(pilot, lambda: screen.mode == "running", what="the run going on")
        await stopped(pilot, screen)
        shown = turns_shown(seen)
        assert screen.stopped_event.condition == "max_turns", screen.stopped_event
        assert all(int(t.split()[1].split("/")[0]) <= 3 for t in shown), sorted(set(shown))
        assert shown[-1] == "turn 3/3", shown
