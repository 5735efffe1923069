"""A member's ``tool_choice`` in a team file: read, written back, given to the member's model as
a request default, and a bad value named by file, member and field."""

from __future__ import annotations

import pytest

from moot.agents import parse_team, team_toml, use_models
from moot.agents._teamfile import read_team
from moot.backends import ConfigError
from moot.backends._wrappers import steps_of
from moot.backends.config import scripted_models

MODELS = scripted_models({"s": ["x"]}, source="models.toml")

TEAM = """
schema_version = 1
[[members]]
name = "user"
role = "user_proxy"
tool_choice = "auto"
[[members]]
name = "caller"
model = "s"
temperature = 0.2
tools = ["calculator", "clock.*"]
tool_choice = "{choice}"
[mcp.clock]
command = "python"
args = ["-m", "mcp_server_time"]
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_team(text, "team.toml", MODELS)
    return info.value.problems


@pytest.mark.parametrize("choice", ["auto", "none", "required", "calculator", "clock__now"])
def test_tool_choice_is_read_written_back_and_given_to_the_model(choice):
    use_models(MODELS)
    team = parse_team(TEAM.format(choice=choice), "team.toml", MODELS)
    assert team.spec.members[1].tool_choice == choice
    assert read_team(team_toml(team.spec), "written.toml", MODELS) == team.spec
    built = team.build()
    caller = built.members["caller"]
    assert caller.llm_config["model"] == "s" and caller.llm_config["temperature"] == 0.2
    assert caller.llm_config["tool_choice"] == choice
    # every request of the member's model gets it unless the request sets its own
    assert [s.defaults for s in steps_of(caller._resolve_llm().backend)] == [{"temperature": 0.2, "tool_choice": choice}]
    assert built.members["user"].llm_config is False  # no model: nothing to choose for


def test_a_member_on_the_default_model_gets_its_tool_choice_too():
    use_models(MODELS)
    team = parse_team('schema_version = 1\n[[members]]\nname = "solo"\ntool_choice = "required"\n', "t.toml", MODELS)
    solo = team.build().members["solo"]
    assert solo.llm_config == {"tool_choice": "required"}
    assert solo._resolve_llm().models == ["s"]  # the default model
    assert [s.defaults for s in steps_of(solo._resolve_llm().backend)] == [{"tool_choice": "required"}]


@pytest.mark.parametrize("value, needle", [
    ('"requried"', "field 'tool_choice': must be 'auto', 'required', 'none' or one of the member's tools "
                   "(got 'requried'; tools: calculator, clock.*)"),
    ('"web_fetch"', "(got 'web_fetch'; tools: calculator, clock.*)"),  # a tool the member does not have
    ('"clock.now"', "(got 'clock.now'; "),  # an MCP tool is offered as SERVER__TOOL
    ("3", "field 'tool_choice': Input should be a valid string (got 3)"),
])
def test_a_bad_tool_choice_names_the_file_the_member_and_the_field(value, needle):
    text = TEAM.replace('"{choice}"', value)
    (problem,) = problems_of(text)
    assert problem.startswith("team.toml: [[members]] entry 2 ('caller'): field 'tool_choice': ")
    assert needle in problem
