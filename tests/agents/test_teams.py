"""Team files: the shipped teams are valid, mistakes are named precisely, and teams build agents."""

from __future__ import annotations

import pytest

from moot.agents import GroupChatManager, UserProxyAgent, list_teams, load_team, parse_team, use_models
from moot.agents._teams import PACKAGED_TEAMS
from moot.backends import ConfigError, load_models, parse_models

MODELS = parse_models('schema_version = 1\n[[models]]\nname = "s"\nbackend = "scripted"\nreplies = ["x"]\n'
                      '[[models]]\nname = "t"\nbackend = "scripted"\nreplies = ["y"]\n', "models.toml")


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_team(text, "team.toml", MODELS)
    return info.value.problems


def test_the_shipped_teams_are_valid_and_cover_the_three_kinds():
    models = load_models()
    names = {name for name, _ in list_teams()}
    assert {"coder", "planner-coder-reviewer", "research-writer-editor", "demo"} <= names
    for name in names:
        team = load_team(name, models)
        assert team.spec.members and team.spec.description
    assert not load_team("coder", models).is_group
    assert load_team("planner-coder-reviewer", models).spec.chat.speaker_selection == "auto"
    assert load_team("research-writer-editor", models).spec.chat.speaker_selection == "round_robin"


def test_each_mistake_names_the_file_the_member_and_the_field():
    text = """
schema_version = 1
[[members]]
name = "a"
model = "ghost"
tools = ["hammer"]
colour = "red"
[[members]]
name = "a"
role = "boss"
[[members]]
name = "c"
[chat]
initiator = "nobody"
"""
    problems = problems_of(text)
    joined = "\n".join(problems)
    # Structural mistakes come first (pydantic); the cross-checks run once the shape is right.
    assert "team.toml: [[members]] entry 1 ('a'): unknown field 'colour'" in joined
    assert "team.toml: [[members]] entry 2 ('a'): field 'role'" in joined

    text = text.replace('colour = "red"\n', "").replace('role = "boss"\n', "")
    joined = "\n".join(problems_of(text))
    assert "team.toml: [[members]] entry 1 ('a'): field 'model': no model named 'ghost'" in joined
    assert "team.toml: [[members]] entry 1 ('a'): field 'tools': no tool named 'hammer'" in joined
    assert "team.toml: [[members]] entry 2 ('a'): field 'name': duplicate name (also entry 1)" in joined
    assert "team.toml: [chat]: field 'initiator': no member named 'nobody'" in joined
    assert "a team of 3 members needs 'speaker_selection'" in joined


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("schema_version = 1\n[[members]\n", "not valid TOML"),
        ("[[members]]\nname = 'a'\n", "field 'schema_version' is required"),
        ("schema_version = 1\n", "field 'members' is required"),
        ("schema_version = 1\n[[members]]\nname = 'a b'\n", "field 'name'"),
        ("schema_version = 1\n[[members]]\nname = 'a'\n[[members]]\nname = 'b'\n[chat]\nspeaker_selection = 'vote'\n", "[chat]: field 'speaker_selection'"),
        ("schema_version = 1\n[[members]]\nname = 'a'\n[termination]\nmax_messages = 0\n", "[termination]: field 'max_messages'"),
        ("schema_version = 1\n[[members]]\nname = 'a'\n[[members]]\nname = 'b'\n[chat]\ntransitions = { a = ['b'] }\n", "needs 'speaker_selection'"),
        ("schema_version = 1\n[[members]]\nname = 'a'\n[[members]]\nname = 'b'\n[chat]\nspeaker_selection = 'auto'\ntransitions = { a = ['z'] }\n", "no member named 'z'"),
        ("schema_version = 1\n[[members]]\nname = 'a'\n[members.code_execution]\nexecutor = 'vm'\n", "code_execution"),
        ("schema_version = 1\n[[members]]\nname = 'a'\n[[members]]\nname = 'b'\n[chat]\nspeaker_selection = 'auto'\nselector_model = 'nope'\n", "field 'selector_model': no model named 'nope'"),
    ],
)
def test_validation_paths(text, needle):
    assert any(needle in p for p in problems_of(text)), problems_of(text)


def test_a_team_is_found_by_name_or_path_and_a_missing_one_lists_the_known(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "mine.toml").write_text('schema_version = 1\n[[members]]\nname = "solo"\nmodel = "s"\n')
    assert load_team("mine", MODELS).name == "mine"
    assert load_team(str(tmp_path / "teams" / "mine.toml"), MODELS).spec.members[0].name == "solo"
    with pytest.raises(ConfigError, match=r"no team named 'nope' \(teams: .*coder.*mine"):
        load_team("nope")
    with pytest.raises(ConfigError, match="no such file"):
        load_team(str(tmp_path / "gone.toml"))
    assert PACKAGED_TEAMS.is_dir()


def test_two_agent_team_builds_an_initiator_a_recipient_and_a_termination(tmp_path):
    use_models(MODELS)
    team = parse_team("""
schema_version = 1
[[members]]
name = "runner"
role = "user_proxy"
human_input_mode = "ALWAYS"
[members.code_execution]
executor = "docker"
timeout = 5
[[members]]
name = "coder"
model = "s"
temperature = 0.1
tools = ["calculator"]
[chat]
max_turns = 3
[termination]
text = "DONE"
max_messages = 9
""", "team.toml", MODELS)
    built = team.build(executor="local", work_dir=str(tmp_path), human_input_mode="NEVER")
    assert built.initiator.name == "runner" and isinstance(built.initiator, UserProxyAgent)
    assert built.recipient.name == "coder"
    assert built.initiator.human_input_mode == "NEVER"  # the override wins over the file
    assert built.chat_kwargs["max_turns"] == 3
    assert built.chat_kwargs["termination"] is not None
    # The coder may call the tool; the user proxy runs it.
    assert "calculator" in built.initiator.function_map
    assert "calculator" not in built.recipient.function_map


def test_group_team_builds_a_manager_with_transitions():
    use_models(MODELS)
    team = parse_team("""
schema_version = 1
[[members]]
name = "a"
model = "s"
[[members]]
name = "b"
model = "t"
[[members]]
name = "c"
model = "s"
[chat]
speaker_selection = "round_robin"
max_round = 5
transitions = { a = ["b"], b = ["c"], c = ["a"] }
""", "team.toml", MODELS)
    built = team.build()
    assert isinstance(built.recipient, GroupChatManager)
    assert built.initiator.name == "user"  # no user proxy in the file: one is added to send the task
    group = built.groupchat
    assert [a.name for a in group.agents] == ["a", "b", "c"]
    assert group.max_round == 5
    assert {s.name: [d.name for d in ds] for s, ds in group.allowed_or_disallowed_speaker_transitions.items()} == {
        "a": ["b"], "b": ["c"], "c": ["a"]}
    assert team.models_used("s") == ["s", "t"]
