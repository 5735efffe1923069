"""Tools: schemas from hints and docstrings, good and failing calls, broken JSON, async tools."""

from __future__ import annotations

import json
from typing import Annotated

import pytest
from pydantic import BaseModel

from agent_test_helpers import call
from moot.agents import AssistantAgent, UserProxyAgent, build_tool, register_function, repair_json
from moot.agents.events import ToolCallRequested, ToolResult


def pair(models, replies):
    models(a=replies)
    user = UserProxyAgent("user", human_input_mode="NEVER", code_execution_config=False, default_auto_reply="")
    asst = AssistantAgent("asst", llm_config="a")
    return user, asst


class Point(BaseModel):
    x: int
    y: int


def test_schema_from_type_hints_annotated_and_docstring():
    def move(point: Point, steps: Annotated[int, "how far to go"] = 1, label: str | None = None) -> str:
        """Move a point.

        More words that are not the summary.

        Args:
            label: a name to print
        """
        return ""

    tool = build_tool(move)
    assert tool.name == "move" and tool.description == "Move a point."
    props = tool.parameters["properties"]
    assert props["steps"] == {"type": "integer", "default": 1, "description": "how far to go"}
    assert props["label"]["description"] == "a name to print"
    assert tool.parameters["required"] == ["point"]
    assert "Point" in json.dumps(tool.parameters)  # the model's schema is referenced
    assert "title" not in json.dumps(tool.parameters["properties"]["steps"])


def test_register_for_llm_needs_a_model(models):
    models(a=["x"])
    user = UserProxyAgent("user", code_execution_config=False)
    with pytest.raises(RuntimeError, match="llm_config=False"):
        user.register_for_llm(description="d")(lambda: 1)


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a": 1,}', {"a": 1}),
        ("{'a': 'it''s'}", None),
        ("{'a': 1, 'b': [1, 2,],}", {"a": 1, "b": [1, 2]}),
        ('{"a": {"b": 2}', {"a": {"b": 2}}),
        ('{a: True, b: None}', {"a": True, "b": None}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
    ],
)
def test_json_repair(text, expected):
    if expected is None:
        with pytest.raises(ValueError):
            repair_json(text)
    else:
        assert repair_json(text) == (expected, True)


def test_json_repair_refuses_what_is_ambiguous():
    for text in ['{"a": foo}', '{"a": 1}}', '[1, 2}']:
        with pytest.raises(ValueError, match="not valid JSON"):
            repair_json(text)
    assert repair_json('{"a": 1}') == ({"a": 1}, False)


async def test_tool_round_trip_sync_and_async(models):
    user, asst = pair(models, [call("add", {"a": 2, "b": 3}), call("shout", {"text": "hi"}), "TERMINATE"])

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    async def shout(text: Annotated[str, "what to shout"]) -> dict:
        return {"said": text.upper()}

    register_function(add, caller=asst, executor=user)
    register_function(shout, caller=asst, executor=user, description="Shout it.")
    assert [t.name for t in asst.llm_tools] == ["add", "shout"]
    assert asst.llm_tools[1].description == "Shout it."
    events = [e async for e in user.run_stream(asst, message="go")]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert [(r.name, r.content, r.is_error) for r in results] == [("add", "5", False), ("shout", '{"said": "HI"}', False)]
    assert [e.name for e in events if isinstance(e, ToolCallRequested)] == ["add", "shout"]
    history = user.chat_messages[asst]
    assert history[2]["role"] == "tool" and history[2]["tool_responses"][0]["content"] == "5"
    assert history[2]["tool_responses"][0]["tool_call_id"] == history[1]["tool_calls"][0]["id"]
    # the model sees the tool protocol: assistant tool_calls, then a tool message with the id
    view = asst._view(asst.chat_messages[user], user)
    assert [m.role for m in view[1:4]] == ["user", "assistant", "tool"]
    assert view[3].tool_call_id == view[2].tool_calls[0].id
    assert events[-1].condition == "is_termination_msg"


async def test_failing_tool_and_bad_arguments_go_back_to_the_model(models):
    user, asst = pair(models, [
        call("div", {"a": 1, "b": 0}),
        call("div", '{"a": 4, "b": 2,'),       # broken but repairable
        call("div", '{"a": 4, "b": two}'),     # broken beyond repair
        call("div", {"a": "x", "b": 1}),       # wrong type
        call("missing", {}),                   # not registered here
        "TERMINATE",
    ])

    @user.register_for_execution()
    @asst.register_for_llm(description="Divide.")
    def div(a: float, b: float) -> float:
        return a / b

    asst.register_for_llm(name="missing", description="m")(lambda: 0)
    events = [e async for e in user.run_stream(asst, message="go")]
    results = [e for e in events if isinstance(e, ToolResult)]
    assert results[0].is_error and "ZeroDivisionError" in results[0].content
    assert not results[1].is_error and results[1].repaired and results[1].content == "2.0"
    assert results[2].is_error and "not valid JSON" in results[2].content and "Call div again" in results[2].content
    assert results[3].is_error and "invalid arguments for div: a:" in results[3].content
    assert results[4].is_error and "Function missing not found" in results[4].content
    assert events[-1].condition == "is_termination_msg"


async def test_stacked_decorators_keep_the_function_callable(models):
    user, asst = pair(models, ["x"])

    @user.register_for_execution(name="renamed")
    @asst.register_for_llm(name="renamed", description="d")
    def f(x: int) -> int:
        return x * 2

    assert f(2) == 4
    assert user.can_execute_function("renamed") and not user.can_execute_function("f")
    assert asst.llm_tools[0].name == "renamed"
    user.register_function({"other": lambda: 1})
    assert set(user.function_map) == {"renamed", "other"}
