"""The shipped group teams reach their goal (scripted backend), the no-progress stall rule ends a
loop without a model call, and a team's transition graph is checked when it loads."""

from __future__ import annotations

import pytest

from agent_test_helpers import call
from moot.agents import ConversableAgent, GroupChat, GroupChatManager, load_team, parse_team, use_models
from moot.backends.config import scripted_models
from moot.agents.events import SpeakerSelected
from moot.agents.termination import ChatState, Stall

PCR_GRAPH = {"user": {"planner", "reviewer"}, "planner": {"coder"}, "coder": {"user"}, "reviewer": {"coder", "planner"}}


async def run_team(name, replies, tmp_path, task="Print 6 times 7."):
    models = scripted_models({"s": replies}, default="s", source="test")
    use_models(models)
    team = load_team(name, models)
    assert team.warnings == []
    built = team.build(executor="local", work_dir=str(tmp_path), human_input_mode="NEVER")
    stream = built.initiator.run_stream(built.recipient, **built.chat_kwargs, message=task)
    events = await stream.collect()
    return stream.result, [e for e in events if isinstance(e, SpeakerSelected)]


def follows_graph(selections, graph, first):
    previous = first
    for s in selections:
        assert s.speaker in graph[previous] or s.reason.startswith("the only eligible speaker (owner of the pending tool call"), \
            (previous, s.speaker, s.reason)
        previous = s.speaker


async def test_planner_coder_reviewer_ends_on_the_reviewers_approval(tmp_path):
    # One scripted model for every member and the speaker selector, in the order they are asked.
    replies = ["planner", "1. Compute 6 * 7 and print it.",
               "```python\nprint(6 * 7)\n```",
               "reviewer", "The output should say what it is. Coder: print 'answer: 42'.",
               "coder", "```python\nprint('answer:', 6 * 7)\n```",
               "reviewer", "APPROVED: it prints answer: 42. TERMINATE"]
    result, selections = await run_team("planner-coder-reviewer", replies, tmp_path)
    names = [m["name"] for m in result.chat_history]
    assert names == ["user", "planner", "coder", "user", "reviewer", "coder", "user", "reviewer"]
    assert "answer: 42" in result.chat_history[6]["content"]
    assert result.chat_history[-1]["content"].startswith("APPROVED")
    assert result.stop_condition == "TextMention" and result.stop_reason == "reviewer mentioned 'TERMINATE'"
    follows_graph(selections, PCR_GRAPH, "user")


async def test_only_the_reviewer_ends_planner_coder_reviewer(tmp_path):
    replies = ["planner", "1. Print 42. Then TERMINATE.", "```python\nprint(42)  # TERMINATE\n```",
               "reviewer", "APPROVED. TERMINATE"]
    result, _ = await run_team("planner-coder-reviewer", replies, tmp_path)
    assert [m["name"] for m in result.chat_history][-1] == "reviewer"
    assert result.stop_reason == "reviewer mentioned 'TERMINATE'"


async def test_research_writer_editor_ends_on_the_editors_final_text(tmp_path):
    replies = ["- 6 * 7 is 42.", "Forty-two\n\nSix sevens make forty-two.",
               call("count_words", {"text": "Forty-two. Six sevens make forty-two."}),
               "Forty-two\n\nSix sevens make forty-two. TERMINATE"]
    result, selections = await run_team("research-writer-editor", replies, tmp_path)
    assert [m["name"] for m in result.chat_history] == ["user", "researcher", "writer", "editor", "editor", "editor"]
    assert result.chat_history[4]["role"] == "tool"  # the editor read its count before the final text
    assert result.stop_condition == "TextMention" and result.stop_reason == "editor mentioned 'TERMINATE'"
    follows_graph(selections, {"user": {"researcher"}, "researcher": {"writer"}, "writer": {"editor"},
                               "editor": {"editor"}}, "user")


async def test_an_editor_that_never_finishes_is_stopped_by_the_no_progress_rule(tmp_path):
    replies = ["- a fact", "A draft.", "Still editing.", "Editing more.", "Nearly there."]
    result, _ = await run_team("research-writer-editor", replies, tmp_path)
    assert [m["name"] for m in result.chat_history][-3:] == ["editor"] * 3
    assert result.stop_condition == "Stall(no_progress)"
    assert result.stop_reason == ("stall: editor spoke in turn 3 times with no new code or tool result "
                                  "(the no-progress rule, rounds = 3)")


async def test_a_talk_loop_with_no_code_is_a_stall(tmp_path):
    # The coder says it will fix the code but writes none; the user has no output to show.
    replies = ["planner", "1. Print 42.", "```python\nprint(42)\n```", "reviewer", "Print it with a label.",
               "coder", "I will add a label.", "reviewer", "You wrote no code.", "coder", "Sorry, here it comes.",
               "reviewer", "Still no code.", "coder", "Adding the label now."]
    result, selections = await run_team("planner-coder-reviewer", replies, tmp_path)
    assert [m["name"] for m in result.chat_history][4:] == ["reviewer", "coder", "user"] * 3
    assert result.stop_condition == "Stall(no_progress)"
    assert result.stop_reason == ("stall: reviewer, coder, user spoke in turn 3 times with no new code or tool "
                                  "result (the no-progress rule, rounds = 3)")
    follows_graph(selections, PCR_GRAPH, "user")


# -- the rule itself -------------------------------------------------------------------------

def feed(stall, messages):
    state = ChatState()
    for i, (sender, message) in enumerate(messages, 1):
        fired = stall.check(message, sender, state)
        if fired is not None:
            return i, fired
    return None


def test_no_progress_counts_cycles_and_new_results_reset_it():
    cycle = [("a", {"content": "x1"}), ("b", {"content": "y1"})]
    fired = feed(Stall(rounds=2), [*cycle, ("a", {"content": "x2"}), ("b", {"content": "y2"})])
    assert fired[0] == 4 and fired[1].condition == "Stall(no_progress)" and "a, b spoke in turn 2 times" in fired[1].reason
    # a new code result in each round is progress; the same result again is not
    rounds = [("a", {"content": "code"}), ("b", {"content": "exitcode: 0\nCode output: 1"}),
              ("a", {"content": "code 2"}), ("b", {"content": "exitcode: 0\nCode output: 2"}),
              ("a", {"content": "code 3"}), ("b", {"content": "exitcode: 0\nCode output: 3"})]
    assert feed(Stall(rounds=2), rounds) is None
    rounds[3] = rounds[5] = ("b", {"content": "exitcode: 0\nCode output: 1"})
    assert feed(Stall(rounds=2), rounds)[0] == 6  # a, b twice since the first output
    tool = [("a", {"content": "t"}), ("a", {"role": "tool", "content": "7", "tool_responses": []})]
    assert feed(Stall(rounds=3, max_repeats=99), tool * 3)[0] == 5  # the same result 7 again is no progress
    assert feed(Stall(rounds=3), [("a", {"content": "1"}), ("b", {"content": "2"}), ("a", {"content": "3"})]) is None
    assert feed(Stall(), [(n, {"content": str(i)}) for i, n in enumerate("ab" * 10)]) is None  # off by default


async def test_the_rule_needs_no_model_call_in_a_group_chat(models):
    a, b = (ConversableAgent(n, llm_config=False, human_input_mode="NEVER", default_auto_reply=f"{n} thinks") for n in "ab")
    gc = GroupChat([a, b], max_round=50, speaker_selection_method="round_robin", termination=Stall(rounds=4, max_repeats=99, ping_pong_rounds=0))
    stream = a.run_stream(GroupChatManager(gc, llm_config=False), message="go")
    await stream.collect()
    assert stream.result.stop_condition == "Stall(no_progress)" and len(gc.messages) == 8


def test_team_stall_rounds_default_and_settings():
    group = "schema_version = 1\n[[members]]\nname = 'a'\n[[members]]\nname = 'b'\n[chat]\nspeaker_selection = 'round_robin'\n"
    assert parse_team(group, "g.toml").termination().rounds == 3
    assert parse_team(group + "[termination]\nstall_rounds = 0\n", "g.toml").termination().rounds == 0
    off = parse_team(group + "[termination]\nstall = false\nstall_rounds = 5\n", "g.toml").termination()
    assert off.rounds == 5 and off.ping_pong_rounds == 0
    assert parse_team(group + "[termination]\nstall = false\n", "g.toml").termination() is None
    two = "schema_version = 1\n[[members]]\nname = 'a'\n"
    assert parse_team(two, "t.toml").termination().rounds == 0


# -- the graph, checked when a team loads ----------------------------------------------------

OLD_PCR = """
schema_version = 1
[[members]]
name = "user"
role = "user_proxy"
[[members]]
name = "planner"
[[members]]
name = "coder"
[[members]]
name = "reviewer"
system_message = "If it is correct, say APPROVED and TERMINATE."
[chat]
speaker_selection = "auto"
transitions = { user = ["planner"], planner = ["coder"], coder = ["user"], reviewer = ["coder", "planner"] }
[termination]
text = "TERMINATE"
"""


def test_the_old_planner_coder_reviewer_graph_is_warned_about():
    team = parse_team(OLD_PCR, "teams/pcr.toml")
    assert team.warnings == [
        "teams/pcr.toml: [chat]: field 'transitions': nobody can reach 'reviewer' from 'user', so it never speaks",
        "teams/pcr.toml: [chat]: field 'transitions': user -> planner -> coder -> user can go round with no way "
        "to a terminating agent ('reviewer'); only a limit ends the chat there",
    ]


@pytest.mark.parametrize(("change", "warnings"), [
    (('user = ["planner"]', 'user = ["planner", "reviewer"]'), []),
    (("[termination]\n", '[termination]\ntext_from = ["coder"]\n'),  # the coder may end it: no cycle
     ["nobody can reach 'reviewer'"]),
    (('text = "TERMINATE"', 'text = "DONE"'), ["nobody can reach 'reviewer'"]),  # nobody is asked to say it: anyone may
    (('reviewer = ["coder", "planner"] }', 'reviewer = ["coder", "planner"] }\ntransitions_type = "disallowed"'),
     []),
    (('planner = ["coder"], ', ""), ["nobody can reach 'coder'", "nobody can reach 'reviewer'"]),  # planner ends it
])
def test_graph_warnings(change, warnings):
    team = parse_team(OLD_PCR.replace(*change), "t.toml")
    assert len(team.warnings) == len(warnings), team.warnings
    for got, want in zip(team.warnings, warnings):
        assert got.startswith("t.toml: [chat]: field 'transitions': ") and want in got


def test_a_tool_runner_is_reachable_through_the_tool_and_two_agent_teams_are_not_checked():
    text = """
schema_version = 1
[[members]]
name = "runner"
role = "user_proxy"
[[members]]
name = "asker"
tools = ["calculator"]
system_message = "Say DONE."
[[members]]
name = "other"
[chat]
initiator = "other"
speaker_selection = "auto"
transitions = { other = ["asker"], asker = ["other"] }
[termination]
text = "DONE"
"""
    assert parse_team(text, "t.toml").warnings == []
    assert parse_team("schema_version = 1\n[[members]]\nname = 'a'\n", "t.toml").warnings == []


def test_text_from_names_members():
    from moot.backends import ConfigError
    with pytest.raises(ConfigError) as info:
        parse_team(OLD_PCR.replace('text = "TERMINATE"', 'text_from = ["ghost"]'), "t.toml")
    assert "t.toml: [termination]: field 'text_from': no member named 'ghost'" in info.value.problems
    assert "t.toml: [termination]: field 'text_from' needs 'text' (the text those members say)" in info.value.problems


def test_moot_teams_shows_the_warnings_naming_the_file(tmp_path):
    import json
    import subprocess
    import sys

    (tmp_path / "teams").mkdir()
    path = tmp_path / "teams" / "old-pcr.toml"
    path.write_text(OLD_PCR)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "80", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    shown = subprocess.run([sys.executable, "-m", "moot", "teams"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert f"warning: {path}: [chat]: field 'transitions': nobody can reach 'reviewer' from 'user'" in shown.stdout
    assert sum(line.startswith("warning: ") for line in shown.stdout.splitlines()) == 2  # the shipped teams have none
    data = subprocess.run([sys.executable, "-m", "moot", "teams", "--json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    teams = {t["name"]: t for t in json.loads(data.stdout)["teams"]}
    assert teams["old-pcr"]["warnings"] == parse_team(OLD_PCR, str(path)).warnings
    assert teams["planner-coder-reviewer"]["warnings"] == [] and teams["research-writer-editor"]["warnings"] == []
