"""Who did what: the human's task, follow-ups and replies show as "you"; the approval and the
executor pane name the code's author; a human-input request is one clean question and its reply
shows once; the group's manager is never a recipient; a skipped block is reported as not run."""

from __future__ import annotations

from conftest import GROUP_TEAM, settings_for_tests, wait_until
from moot.tui.screens.approval import ApprovalScreen
from moot.tui.screens.chat import ChatScreen


async def open_chat(pilot, app) -> ChatScreen:
    def chat():
        return next((s for s in app.screen_stack if isinstance(s, ChatScreen)), None)

    await wait_until(pilot, lambda: chat() is not None and chat().ready, what="the chat screen")
    return chat()


def header(block) -> str:
    return str(block.query_one(".turn-header").render())


async def test_the_task_and_a_follow_up_are_yours(app_factory, make_models, coder_team, no_approval):
    models = make_models(**{"coder-model": ["Sure. TERMINATE", "Again. TERMINATE"]})
    name = coder_team()
    app = app_factory(models=models, team=name, task="say hi")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await wait_until(pilot, lambda: screen.mode == "stopped" and not screen.pending, what="the run")
        first, reply = list(screen.conversation.turns.values())[:2]
        assert header(first).startswith("you → coder") and first.agent == "executor"
        assert header(reply).startswith("coder")
        await pilot.press(*"once more", "enter")
        await wait_until(pilot, lambda: screen.mode == "stopped" and len(screen.conversation.turns) >= 4 and not screen.pending,
                         what="the follow-up")
        follow = [t for t in screen.conversation.turns.values() if t.text == "once more"][0]
        assert header(follow).startswith("you")


async def test_a_human_reply_is_one_clean_question_and_shows_once(app_factory, coder_team, no_approval):
    name = coder_team(human="ALWAYS")
    app = app_factory(team=name, task="print 6*7")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await wait_until(pilot, lambda: screen.mode == "human", what="the ask")
        asked = [line for line in screen.conversation.lines if line.startswith("? ")]
        assert asked == ["? Your reply to coder (as executor)?  (Enter alone: the auto-reply · exit: end the chat)"]
        assert "Provide feedback" not in "\n".join(screen.conversation.lines) + screen.input.placeholder
        screen.input.value = "use a loop instead"
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(t.text == "use a loop instead" for t in screen.conversation.turns.values()),
                         what="the reply as a turn")
        await pilot.pause()
        shown = [t for t in screen.conversation.turns.values() if t.text == "use a loop instead"]
        assert len(shown) == 1 and header(shown[0]).startswith("you")
        assert not any("use a loop instead" in line for line in screen.conversation.lines)  # not a second time
        screen.input.value = "exit"
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.mode == "stopped", what="the end")


async def test_the_approval_and_the_executor_pane_name_the_author(app_factory, coder_team):
    settings_for_tests(approve=True)
    name = coder_team()
    app = app_factory(team=name, task="print 6*7")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the approval")
        modal = app.screen
        await pilot.pause()
        title = str(modal.query_one("#approval-title").render())
        assert "coder wrote this python; executor would run it" in title
        await wait_until(pilot, lambda: modal.armed, what="armed")
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: screen.executor_pane.entries, what="the entry")
        entry = list(screen.executor_pane.entries.values())[0]
        assert entry.author == "coder"
        assert "coder (run by executor)" in str(entry.query_one(".exec-title").render())
        await pilot.press("ctrl+x", "y")
        await wait_until(pilot, lambda: screen.mode == "stopped", what="the stop")


async def test_skip_tells_the_agent_the_code_did_not_run_and_why(app_factory, coder_team):
    settings_for_tests(approve=True)
    name = coder_team()
    app = app_factory(team=name, task="print 6*7")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), what="the approval")
        modal = app.screen
        await wait_until(pilot, lambda: modal.armed, what="armed")
        modal.query_one("#skip-reason").value = "it writes to my home dir"
        await pilot.click("#skip")
        await wait_until(pilot, lambda: any("exitcode:" in t.text for t in screen.conversation.turns.values()),
                         what="the executor's report")
        report = [t for t in screen.conversation.turns.values() if "exitcode:" in t.text][0].text
        assert "exitcode: 0" not in report
        assert "NOT run" in report and "it writes to my home dir" in report
        await wait_until(pilot, lambda: screen.mode == "stopped", timeout=20, what="the end")


async def test_the_group_manager_is_not_a_recipient(app_factory, make_models, write_team, no_approval):
    models = make_models(**{f"{n}-model": [f"{n} here"] for n in ("planner", "writer", "critic")})
    write_team(GROUP_TEAM.format(max_round=3), "trio")
    app = app_factory(models=models, team="trio", task="write a haiku")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chat(pilot, app)
        await wait_until(pilot, lambda: screen.mode == "stopped" and not screen.pending, what="the run")
        headers = [header(t) for t in screen.conversation.turns.values()]
        assert headers and not any("chat_manager" in h for h in headers), headers
        assert headers[0].startswith("you")
