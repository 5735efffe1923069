"""The dependency direction of DESIGN.md, read from the source: tui -> evals -> agents -> (backends,
executors, memory), tui -> agents; only tui imports Textual, and only tui imports evals; the modules inside each package form a DAG, and
no import inside a function hides a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agents", "backends", "evals", "executors", "memory", "tui")


def _module_name(package: str, path: Path) -> str:
    rel = path.relative_to(ROOT / package).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["moot", package, *parts])


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = current.split(".")
        if not is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    if node.module is None:  # from . import x, y
        return [f"{base}.{alias.name}" for alias in node.names]
    return [base]


def _imports(path: Path, name: str) -> tuple[set[str], set[str]]:
    """(module-level imports, imports inside functions), TYPE_CHECKING blocks left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    top: set[str] = set()
    inner: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other, in_function)
                continue
            target = inner if in_function else top
            if isinstance(child, ast.Import):
                target.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                target.update(_resolve(name, is_package, child))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return top, inner


def _modules(package: str) -> dict[str, tuple[set[str], set[str]]]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        name = _module_name(package, path)
        out[name] = _imports(path, name)
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = walk(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = walk(node)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_inside_a_package_form_a_dag(package):
    modules = _modules(package)
    prefix = f"moot.{package}"

    def sibling(target: str) -> str | None:
        # `from .x import y` may name a module (moot.agents.x) or a name in the package itself
        while target and target.startswith(prefix):
            if target in modules and target != prefix:
                return target
            target = target.rsplit(".", 1)[0]
        return None

    # An import inside a function is fine to load something late (the app's first frame); it
    # must not hide a cycle, so those imports count as edges too.
    graph = {m: {s for t in top | inner if (s := sibling(t)) and s != m} for m, (top, inner) in modules.items()}
    cycle = _cycle(graph)
    assert cycle is None, f"import cycle in {prefix}: {' -> '.join(cycle)}"


@pytest.mark.parametrize("package", ["backends", "executors", "memory"])
def test_the_lower_packages_never_import_the_engine_or_the_app(package):
    for name, (top, inner) in _modules(package).items():
        bad = sorted(t for t in top | inner if t.startswith(("moot.agents", "moot.evals", "moot.tui", "textual")))
        assert not bad, f"{name} imports {bad}"


def test_evals_sits_above_the_engine_and_below_the_app():
    for name, (top, inner) in _modules("evals").items():
        bad = sorted(t for t in top | inner if t.startswith(("moot.tui", "textual")))
        assert not bad, f"{name} imports {bad}"
    for name, (top, inner) in _modules("agents").items():
        assert not any(t.startswith("moot.evals") for t in top | inner), f"{name} imports moot.evals"


def test_only_the_app_imports_textual():
    for package in ("agents", "backends", "evals", "executors", "memory"):
        for name, (top, inner) in _modules(package).items():
            assert not any(t.startswith("textual") for t in top | inner), name
    assert not any(t.startswith(("moot.tui", "textual"))
                   for top, inner in _modules("agents").values() for t in top | inner)
