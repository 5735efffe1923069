"""``autogen.coding.func_with_reqs``: functions a command-line executor offers the code it runs,
as a module in its work dir (``LocalCommandLineCodeExecutor(functions=[...])``), with the
packages and imports each needs."""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ("Alias", "FunctionWithRequirements", "FunctionWithRequirementsStr", "ImportFromModule",
           "build_functions_module", "to_stub", "with_requirements")


@dataclass
class Alias:
    """``import name as alias`` (or, inside ``ImportFromModule``, ``name as alias``)."""

    name: str
    alias: str


@dataclass
class ImportFromModule:
    """``from module import a, b as c``."""

    module: str
    imports: list[Union[str, Alias]]


Import = Union[str, ImportFromModule, Alias]


def import_line(spec: Import) -> str:
    """The import statement ``spec`` stands for."""
    if isinstance(spec, str):
        return f"import {spec}"
    if isinstance(spec, Alias):
        return f"import {spec.name} as {spec.alias}"
    names = ", ".join(n if isinstance(n, str) else f"{n.name} as {n.alias}" for n in spec.imports)
    return f"from {spec.module} import {names}"


@dataclass
class FunctionWithRequirements:
    """A function, the pip packages it needs (``python_packages``) and the imports its module
    must make (``global_imports``). Calling it calls the function."""

    func: Callable[..., Any]
    python_packages: list[str] = field(default_factory=list)
    global_imports: list[Import] = field(default_factory=list)

    @classmethod
    def from_callable(cls, func: Callable[..., Any], python_packages: list[str] | None = None,
                      global_imports: list[Import] | None = None) -> FunctionWithRequirements:
        return cls(func, list(python_packages or ()), list(global_imports or ()))

    @staticmethod
    def from_str(func: str, python_packages: list[str] | None = None,
                 global_imports: list[Import] | None = None) -> FunctionWithRequirementsStr:
        return FunctionWithRequirementsStr(func, python_packages, global_imports)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)


class FunctionWithRequirementsStr:
    """A function given as source text: exactly one ``def``. It is read, never run here (it runs
    only in the executor); ``ValueError`` when the text is not one function."""

    def __init__(self, func: str, python_packages: list[str] | None = None,
                 global_imports: list[Import] | None = None):
        self.func = textwrap.dedent(func)
        self.python_packages = list(python_packages or ())
        self.global_imports = list(global_imports or ())
        try:
            tree = ast.parse(self.func)
        except SyntaxError as exc:
            raise ValueError(f"Could not compile function: {exc}") from None
        defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if len(defs) != 1:
            raise ValueError(f"The string must contain exactly one function (it holds {len(defs)})")
        self._node = defs[0]
        self._func_name = self._node.name

    @property
    def __name__(self) -> str:  # type: ignore[override]
        return self._func_name

    def stub(self) -> str:
        node = self._node
        returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
        keyword = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
        return _stub_text(f"{keyword} {node.name}({ast.unparse(node.args)}){returns}:", ast.get_docstring(node))

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("String based function with requirement objects are not directly callable")


def with_requirements(python_packages: list[str] | None = None,
                      global_imports: list[Import] | None = None) -> Callable[[Callable[..., Any]], FunctionWithRequirements]:
    """Decorator: the function with the packages and imports it needs."""

    def wrapper(func: Callable[..., Any]) -> FunctionWithRequirements:
        wrapped = FunctionWithRequirements(func, list(python_packages or ()), list(global_imports or ()))
        functools.update_wrapper(wrapped, func)
        return wrapped

    return wrapper


def _stub_text(header: str, doc: str | None) -> str:
    body = textwrap.indent(f'"""{doc}"""', "    ") + "\n" if doc else ""
    return f"{header}\n{body}    ..."


def to_stub(func: Callable[..., Any] | FunctionWithRequirements | FunctionWithRequirementsStr) -> str:
    """The function as a model should see it: its signature, its docstring, and ``...``."""
    if isinstance(func, FunctionWithRequirementsStr):
        return func.stub()
    if isinstance(func, FunctionWithRequirements):
        func = func.func
    doc = inspect.getdoc(func)
    return _stub_text(f"def {func.__name__}{inspect.signature(func)}:", doc)


def _source(func: Callable[..., Any] | FunctionWithRequirements | FunctionWithRequirementsStr) -> str:
    if isinstance(func, FunctionWithRequirementsStr):
        return func.func
    target = func.func if isinstance(func, FunctionWithRequirements) else func
    name = getattr(target, "__name__", repr(target))
    try:
        code = textwrap.dedent(inspect.getsource(target))
    except (OSError, TypeError):
        raise ValueError(f"the source of function {name!r} cannot be found (a lambda or a function made at run "
                         f"time): define it with def in a file, or give its text with FunctionWithRequirements.from_str") from None
    tree = ast.parse(code)
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise ValueError(f"function {name!r} is not a plain def (a lambda cannot be written to a module)")
    start = node.lineno - 1  # leave the decorators out: they may not exist where the code runs
    return "\n".join(code.splitlines()[start:]) + "\n"


def build_functions_module(funcs: list[Any]) -> str:
    """The text of the module: every import the functions need (once each), then their source."""
    imports: list[str] = []
    for func in funcs:
        for spec in getattr(func, "global_imports", ()) if isinstance(
                func, (FunctionWithRequirements, FunctionWithRequirementsStr)) else ():
            line = import_line(spec)
            if line not in imports:
                imports.append(line)
    parts = ["\n".join(imports)] if imports else []
    parts += [_source(f) for f in funcs]
    return "\n\n".join(parts) + "\n"


def required_packages(funcs: list[Any]) -> list[str]:
    """The pip packages the functions need, each once, in order."""
    found: list[str] = []
    for func in funcs:
        for package in getattr(func, "python_packages", ()) if isinstance(
                func, (FunctionWithRequirements, FunctionWithRequirementsStr)) else ():
            if package not in found:
                found.append(package)
    return found
