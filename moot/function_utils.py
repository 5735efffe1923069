"""``autogen.function_utils``: a function's tool schema, its pydantic arguments, its result as text.

The schema is the one moot offers models for a registered function (``moot.agents.build_tool``):
parameters from the type hints, ``Annotated[T, "what it is"]`` giving a description.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
import warnings
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from moot.agents import build_tool

__all__ = ["get_function_schema", "load_basemodels_if_needed", "serialize_to_str"]


def _missing_annotations(f: Callable[..., Any]) -> tuple[list[str], list[str]]:
    """The parameters of ``f`` with no annotation: those without a default, those with one."""
    required, optional = [], []
    for name, param in inspect.signature(f).parameters.items():
        if param.annotation is inspect.Parameter.empty and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            (required if param.default is inspect.Parameter.empty else optional).append(name)
    return required, optional


def get_function_schema(f: Callable[..., Any], *, name: str | None = None, description: str) -> dict[str, Any]:
    """The OpenAI tool description of ``f``: ``{"type": "function", "function": {"name",
    "description", "parameters"}}``. A parameter without a default must be annotated (a
    ``TypeError`` names it); one with a default is then described as any value, with a warning."""
    tool_name = name or f.__name__
    required, optional = _missing_annotations(f)
    if required:
        raise TypeError(f"function {tool_name!r}: annotate the parameters {', '.join(map(repr, required))} "
                        "(e.g. Annotated[str, 'what it is']) so the model knows what to pass")
    if optional:
        warnings.warn(f"function {tool_name!r}: the parameters {', '.join(map(repr, optional))} have no annotation; "
                      "the model is told they take any value", UserWarning, stacklevel=2)
    return build_tool(f, name=tool_name, description=description).openai_schema()


def _model_class(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def load_basemodels_if_needed(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` taking its pydantic-model parameters as dicts too (as a model's tool call passes them)."""
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:
        hints = {}
    models = {k: m for k, v in hints.items() if k != "return" and (m := _model_class(v)) is not None}

    def loaded(kwargs: dict[str, Any]) -> dict[str, Any]:
        return {k: models[k].model_validate(v) if k in models and isinstance(v, dict) else v for k, v in kwargs.items()}

    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def a_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await func(*args, **loaded(kwargs))

        return a_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **loaded(kwargs))

    return wrapper


def serialize_to_str(x: Any) -> str:
    """A tool's result as the text the model reads: a string as it is, a pydantic model as its
    JSON, anything else as JSON (non-ASCII kept), or ``str()`` when it is not JSON."""
    if isinstance(x, str):
        return x
    if isinstance(x, BaseModel):
        return x.model_dump_json()
    try:
        return json.dumps(x, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(x)
