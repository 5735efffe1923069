"""Helpers for the agents tests: scripted models built in Python (``scripted_models``), a
scripted human."""

from __future__ import annotations

from typing import Any

from moot.agents import use_models
from moot.backends.config import scripted_models


def call(name: str, arguments: Any = None, content: str = "") -> dict[str, Any]:
    """A scripted reply that calls one tool."""
    return {"content": content, "tool_calls": [{"name": name, "arguments": arguments if arguments is not None else {}}]}


def install_models(**specs: Any):
    """``install_models(a=["reply 1", call("calc", {...})], b={"backend": "llama_cpp", ...})``: make
    these the models agents use (a list: a scripted model's replies); returns the registry."""
    return use_models(scripted_models(specs, source="test"))


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
