"""Team files: the shipped teams are valid, mistakes are named precisely, what is read is what is
written, and teams build agents."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from moot.agents import (
    GroupChatManager,
    TeamFile,
    UserProxyAgent,
    list_teams,
    load_team,
    parse_team,
    save_team,
    team_toml,
    use_models,
)
from moot.agents._teamfile import PACKAGED_TEAMS, read_team, read_team_file
from moot.backends import ConfigError, load_models
from moot.backends.config import scripted_models

MODELS = scripted_models({"s": ["x"], "t": ["y"]}, source="models.toml")
EVERY_FIELD = Path(__file__).resolve().parent.parent / "every_field_team.toml"
SHIPPED = sorted(PACKAGED_TEAMS.glob("*.toml"))


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
    assert PACKAGED_TEAMS.is_dir() and (PACKAGED_TEAMS / "coder.toml").is_file()


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


# -- what is read is what is written ---------------------------------------------------------------

def unset_fields(instances: list[BaseModel]) -> list[str]:
    """The schema fields (nested tables included) that no instance sets to a non-default value."""
    if not instances:
        return ["(no instance)"]
    cls = type(instances[0])
    missing: list[str] = []
    for name, info in cls.model_fields.items():
        values = [getattr(i, name) for i in instances]
        default = info.get_default(call_default_factory=True)
        if all(v == default for v in values):
            missing.append(f"{cls.__name__}.{name}")
        nested = [v for v in values if isinstance(v, BaseModel)]
        nested += [item for v in values if isinstance(v, list) for item in v if isinstance(item, BaseModel)]
        if nested:
            missing += unset_fields(nested)
    return missing


def test_the_every_field_team_sets_every_field_of_the_schema():
    spec = read_team_file(EVERY_FIELD, MODELS)
    assert unset_fields([spec]) == []
    # and each form a union field can take
    forms = {(type(m.teachability).__name__, type(m.code_execution).__name__, type(m.model).__name__) for m in spec.members}
    assert {t for t, _, _ in forms} == {"bool", "TeachabilitySettings"}
    assert {c for _, c, _ in forms} == {"CodeExecution", "bool"} and {m for _, _, m in forms} == {"bool", "str"}
    assert spec.members[1].system_message == "" and '"""three"""' in spec.members[0].system_message


def test_every_field_survives_write_then_read(tmp_path):
    spec = read_team_file(EVERY_FIELD, MODELS)
    text = team_toml(spec)
    assert read_team(text, "written.toml", MODELS) == spec
    assert "teachability = true" in text and "[members.teachability]" in text  # memory stays on
    # and through the file the editor saves, found again by path
    path = save_team(spec, tmp_path / "teams" / "copy.toml", MODELS)
    assert load_team(str(path), MODELS).spec == spec


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_each_shipped_team_survives_load_write_load(path):
    models = load_models()
    spec = read_team_file(path, models)
    text = team_toml(spec)
    again = read_team(text, "written.toml", models)
    assert again == spec
    # the same meaning as the file itself, table by table
    assert TeamFile.model_validate(tomllib.loads(text)) == TeamFile.model_validate(tomllib.loads(path.read_text()))


def test_the_writer_writes_only_what_the_team_sets():
    spec = read_team('schema_version = 1\n[[members]]\nname = "solo"\nmodel = "s"\n', "t.toml", MODELS)
    assert tomllib.loads(team_toml(spec)) == {"schema_version": 1, "members": [{"name": "solo", "model": "s"}]}


def test_save_team_validates_before_writing(tmp_path):
    path = tmp_path / "bad.toml"
    data = {"schema_version": 1, "members": [{"name": "a"}, {"name": "b"}],
            "chat": {"speaker_selection": "round_robin", "transitions": {"a": ["ghost"]}}}
    with pytest.raises(ConfigError, match=rf"{path}: \[chat\]: field 'transitions': no member named 'ghost'"):
        save_team(data, path, MODELS)
    assert not path.exists()


def test_union_branches_do_not_show_in_the_field_names():
    problems = problems_of("schema_version = 1\n[[members]]\nname = 'a'\n[members.code_execution]\nexecutor = 'vm'\n"
                           "[members.teachability]\nk = 0\ncolour = 'red'\n")
    joined = "\n".join(problems)
    assert "[[members]] entry 1 ('a'): field 'code_execution.executor'" in joined
    assert "[[members]] entry 1 ('a'): field 'teachability.k'" in joined
    assert "[[members]] entry 1 ('a'): unknown field 'teachability.colour'" in joined
    assert "CodeExecution" not in joined and "TeachabilitySettings" not in joined and "literal" not in joined
