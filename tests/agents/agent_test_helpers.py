"""Helpers for the agents tests: scripted models written as models.toml text, a scripted human."""

from __future__ import annotations

import json
from typing import Any

from moot.agents import use_models
from moot.backends import parse_models
def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def models_toml(**models: Any) -> str:
    """models_toml(a=["reply 1", "reply 2"], b={"backend": "llama_cpp", ...}) -> TOML text.
    A list means a scripted model with those replies."""
    lines = ["schema_version = 1"]
    for name, spec in models.items():
        if isinstance(spec, list):
            spec = {"backend": "scripted", "replies": spec}
        lines.append("[[models]]")
        lines.append(f"name = {json.dumps(name)}")
        for key, value in spec.items():
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def call(name: str, arguments: Any = None, content: str = "") -> dict[str, Any]:
    """A scripted reply that calls one tool."""
    return {"content": content, "tool_calls": [{"name": name, "arguments": arguments if arguments is not None else {}}]}



def install_models(**specs: Any):
    return use_models(parse_models(models_toml(**specs), "test"))


class Human:
    """Scripted human: answers from a list and records the prompts it was shown."""

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.prompts: list[str] = []

    async def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise AssertionError(f"the human was asked more often than scripted: {prompt!r}")
        return self.answers.pop(0)
