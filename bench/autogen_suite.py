"""The judge of issue 10: AutoGen 0.2.40's own tests, imports changed to ``moot``, run on moot.

    .venv/bin/python bench/autogen_suite.py [--mirror GIT_DIR] [--ref 0.2] [--only NAME ...] [--keep DIR]
                                            [--timeout 300] [--extra] [--json OUT] [-v]

What it does, step by step:
1. Reads the test files below from AutoGen's git mirror (the ``0.2`` branch, 0.2.40) with
   ``git show``, into a fresh temporary folder laid out as AutoGen's ``test/`` is (never into this
   repository).
2. Rewrites only the import lines, as a user porting a script would: ``import autogen`` becomes
   ``import moot as autogen``; ``from autogen[.x] import`` becomes ``from moot[.x] import``;
   ``import autogen.x`` becomes ``import moot.x``; a ``patch("autogen.x")`` target (an import by
   name) becomes ``patch("moot.x")``. Nothing else in the files changes.
3. Puts its own ``conftest.py`` beside them (AutoGen's offers the flags the tests import; here
   ``skip_openai`` and ``skip_redis`` are True: there is no live model and no network) and a
   ``test_assistant_agent.py`` holding only the two names the tests import from it (``KEY_LOC``,
   ``OAI_CONFIG_LIST``), so no judged test depends on another test file importing.
4. Runs each file alone with this project's venv pytest (``-p no:cacheprovider -q``, a timeout per
   file), one after another, and reads the outcome of every test from a JUnit XML report.

The ``public`` column: of the counted tests, those that touch no private attribute (``obj._x``) nor
a private name they import, passed/all (the issue's target counts these apart).

Which tests count: every test (parametrized cases each) except those a ``skipif`` marks as needing
OpenAI (a condition that names ``skip_openai`` or a module-level name derived from it); those need
a live model and are listed apart. Docker tests (a ``skipif`` naming ``skip_docker`` or
a name derived from it) count when Docker answers here, else they are listed apart too. The count comes from reading the files (so a file that does not import still counts its
tests), the outcomes from pytest (a file that does not import fails all of its tests).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIRROR = Path(os.environ.get("AUTOGEN_MIRROR", "/work/.mirror/microsoft+autogen/repo"))
REF = "0.2"

#: The judged files (AutoGen paths under test/), in the order the issue names the modules.
FILES = [
    "agentchat/test_conversable_agent.py",
    "agentchat/test_groupchat.py",
    "agentchat/test_chats.py",
    "agentchat/test_nested.py",
    "agentchat/test_function_call.py",
    "agentchat/test_tool_calls.py",
    "agentchat/test_agent_usage.py",
    "agentchat/contrib/capabilities/test_teachable_agent.py",
    "coding/test_commandline_code_executor.py",
    "coding/test_markdown_code_extractor.py",
    "test_code_utils.py",
]

#: More of AutoGen's tests for what the issue names, run with --extra (not part of the judge's count).
EXTRA_FILES = [
    "oai/test_utils.py",  # the config-list helpers (issue 10, item 1)
    "agentchat/contrib/capabilities/test_transforms.py",  # message transforms (counts use tiktoken there)
    "agentchat/contrib/capabilities/test_transform_messages.py",
]

CONFTEST = '''\
"""Stands in for AutoGen's test/conftest.py: the flags its tests import. No live model, no network."""

skip_openai = True
skip_redis = True
skip_docker = {skip_docker}
reason = "requested to skip"
MOCK_OPEN_AI_API_KEY = "sk-mockopenaiAPIkeyinexpectedformatfortestingonly"
'''

ASSISTANT_STUB = '''\
"""The two names AutoGen's tests import from test/agentchat/test_assistant_agent.py."""

KEY_LOC = "notebook"
OAI_CONFIG_LIST = "OAI_CONFIG_LIST"
'''

_RULES = [
    (re.compile(r"^(\s*)import autogen(\s*(#.*)?)$", re.M), r"\1import moot as autogen\2"),
    (re.compile(r"^(\s*)import autogen as (\w+)", re.M), r"\1import moot as \2"),
    (re.compile(r"^(\s*)import autogen\.", re.M), r"\1import moot."),
    (re.compile(r"^(\s*)from autogen(\.[\w.]+)? import", re.M), r"\1from moot\2 import"),
    # mock.patch("autogen.x.y") imports its target by name: the same import, written as a string
    (re.compile(r"""(patch\(\s*["'])autogen([.\w]*["'])"""), r"\1moot\2"),
]


def port(source: str) -> str:
    """The file with its autogen imports changed to moot (only the import lines)."""
    for pattern, replacement in _RULES:
        source = pattern.sub(replacement, source)
    return source


def git_show(mirror: Path, ref: str, path: str) -> str:
    return subprocess.run(["git", "-C", str(mirror), "show", f"{ref}:test/{path}"], check=True,
                          capture_output=True, text=True).stdout


# -- counting what needs a live model ---------------------------------------------------------

def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _derived(tree: ast.Module, seed: str) -> set[str]:
    """``seed`` and every module-level name set from it: ``skip = False or skip_openai``, or
    ``if skip_docker or ...: skip_docker_test = True``."""
    found = {seed}
    changed = True
    while changed:
        changed = False
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign) and _names(node.value) & found:
                targets = node.targets
            elif isinstance(node, ast.If) and _names(node.test) & found:
                targets = [t for child in [*node.body, *node.orelse] if isinstance(child, ast.Assign)
                           for t in child.targets]
            for target in targets:
                for name in _names(target) - found:
                    found.add(name)
                    changed = True
    return found


def _skipif_names(decorators: list[ast.expr]) -> set[str]:
    out: set[str] = set()
    for dec in decorators:
        if isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "skipif" and dec.args:
            out |= _names(dec.args[0])
    return out


def _cases(decorators: list[ast.expr]) -> int:
    """How many cases the parametrize decorators make (literal lists; 1 when not literal)."""
    n = 1
    for dec in decorators:
        if isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "parametrize":
            values = dec.args[1] if len(dec.args) > 1 else None
            if isinstance(values, (ast.List, ast.Tuple)):
                n *= max(1, len(values.elts))
    return n


def _private(fn: ast.AST, private_imports: set[str]) -> bool:
    """Whether a test touches a private attribute (``obj._name``) or a private name it imported."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            return True
        if isinstance(node, ast.Name) and node.id in private_imports:
            return True
    return False


def inventory(source: str) -> dict[str, tuple[str, int, bool]]:
    """Each test (``name`` or ``Class::name``) -> (kind, cases, private): kind is "live" (needs
    OpenAI), "docker" (needs a Docker daemon) or "offline"; cases, how many its parametrize
    decorators make (read from literal lists; 1 otherwise); private, whether it touches a
    private attribute."""
    tree = ast.parse(source)
    live, docker = _derived(tree, "skip_openai"), _derived(tree, "skip_docker")
    private_imports = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                       for a in node.names if (a.asname or a.name).startswith("_")}
    out: dict[str, tuple[str, int, bool]] = {}

    def add(prefix: str, fn: ast.FunctionDef | ast.AsyncFunctionDef, outer: list[ast.expr]) -> None:
        decorators = [*outer, *fn.decorator_list]
        names = _skipif_names(decorators)
        kind = "live" if names & live else "docker" if names & docker else "offline"
        out[f"{prefix}{fn.name}"] = (kind, _cases(decorators), _private(fn, private_imports))

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            add("", node, [])
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    add(f"{node.name}::", item, node.decorator_list)
    return out


# -- running ------------------------------------------------------------------------------------

def _docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _outcomes(report: Path) -> list[tuple[str, str, str]]:
    """(test name, outcome, message) for each test case in a JUnit XML report."""
    if not report.is_file():
        return []
    out = []
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")
        if case.get("classname", "").split(".")[-1].startswith("Test"):
            name = case.get("classname", "").split(".")[-1] + "::" + name
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (child.get("message") or "").splitlines()[0][:160] if child.get("message") else ""
                if message == "collection failure":  # the file did not import: say why
                    why = [ln[4:] for ln in (child.text or "").splitlines() if ln.startswith("E   ")]
                    message = "does not import: " + (why[-1][:150] if why else "?")
                break
        out.append((name, outcome, message))
    return out


def _base(name: str) -> str:
    return re.sub(r"\[.*\]$", "", name)


def run_file(tmp: Path, rel: str, timeout: int, python: str) -> tuple[list[tuple[str, str, str]], str, int]:
    report = tmp / "reports" / (rel.replace("/", "__") + ".xml")
    report.parent.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("OPENAI_API_KEY", None)
    cmd = ["timeout", str(timeout), python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rN",
           f"--junitxml={report}", "-o", "junit_family=xunit1", f"--rootdir={tmp}", "-c", str(tmp / "pytest.ini"),
           str(tmp / "test" / rel)]
    proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
    return _outcomes(report), proc.stdout[-3000:] + proc.stderr[-2000:], proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=MIRROR)
    parser.add_argument("--ref", default=REF)
    parser.add_argument("--only", nargs="*", help="run only the files whose path contains one of these")
    parser.add_argument("--keep", type=Path, help="write the ported tests here and keep them (must not exist)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per file")
    parser.add_argument("--extra", action="store_true", help="also run EXTRA_FILES (reported in the same table)")
    parser.add_argument("--json", type=Path, help="also write every counted test's outcome here, to compare runs")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every counted test that did not pass")
    args = parser.parse_args()

    found = subprocess.run(["git", "-C", str(args.mirror), "rev-parse", "--verify", "-q", f"{args.ref}^{{commit}}"],
                           capture_output=True, text=True)
    if found.returncode != 0:
        print(f"(no AutoGen git mirror with {args.ref!r} at {args.mirror}: pass --mirror GIT_DIR or set AUTOGEN_MIRROR "
              f"to a clone of microsoft/autogen that has its 0.2 branch)")
        return 0
    python = str(ROOT / ".venv" / "bin" / "python")
    if not Path(python).exists():
        python = sys.executable
    files = [f for f in FILES + (EXTRA_FILES if args.extra else []) if not args.only or any(o in f for o in args.only)]
    docker = _docker_answers()
    if args.keep:
        args.keep.mkdir(parents=True)
        tmp_ctx = None
        tmp = args.keep.resolve()
    else:
        tmp_ctx = tempfile.TemporaryDirectory(prefix="autogen_suite_")
        tmp = Path(tmp_ctx.name)
    (tmp / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\ntimeout = 120\n")
    test_dir = tmp / "test"
    (test_dir / "agentchat").mkdir(parents=True)
    (test_dir / "conftest.py").write_text(CONFTEST.format(skip_docker=not docker))
    (test_dir / "agentchat" / "test_assistant_agent.py").write_text(ASSISTANT_STUB)

    outcomes: dict[str, dict[str, dict[str, str]]] = {}
    totals = {"counted": 0, "passed": 0, "failed": 0, "skipped": 0, "live": 0, "docker": 0, "public": 0,
              "public_passed": 0}
    print(f"AutoGen {args.ref} tests from {args.mirror}, imports ported to moot; docker "
          f"{'answers' if docker else 'does not answer (its tests are skipped)'}")
    print(f"{'file':58} {'count':>5} {'pass':>5} {'fail':>5} {'skip':>5} {'live':>5} {'dockr':>5} {'public':>9}")
    for rel in files:
        source = git_show(args.mirror, args.ref, rel)
        target = test_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(port(source))
        tests = inventory(source)
        results, tail, rc = run_file(tmp, rel, args.timeout, python)
        imported = bool(results) and not any(m.startswith("does not import") for _n, _o, m in results)
        wanted = {n for n, (kind, _c, _p) in tests.items() if kind == "offline" or (kind == "docker" and docker)}
        live = sum(c for kind, c, _p in tests.values() if kind == "live")
        no_docker = 0 if docker else sum(c for kind, c, _p in tests.values() if kind == "docker")
        # (name, outcome, message, private) of every counted case: pytest's own cases when the
        # file imported (parametrized ones each), else the cases read from the file, all failed.
        cases: list[tuple[str, str, str, bool]] = []
        if imported:
            for name, outcome, msg in results:
                base = _base(name)
                if base in wanted or base not in tests:
                    cases.append((name, outcome, msg, tests.get(base, ("", 1, False))[2]))
        else:
            why = next((m for _n, _o, m in results if m), f"no tests ran (exit {rc})")
            for name in wanted:
                cases += [(name, "failed", why, tests[name][2])] * tests[name][1]
        row = {"passed": 0, "failed": 0, "skipped": 0, "public": 0, "public_passed": 0}
        misses: list[str] = []
        for name, outcome, msg, touches in cases:
            key = "passed" if outcome == "passed" else "skipped" if outcome == "skipped" else "failed"
            row[key] += 1
            if not touches and key != "skipped":
                row["public"] += 1
                row["public_passed"] += key == "passed"
            if key != "passed" and imported:
                misses.append(f"    {key:7} {name}  {msg}")
            outcomes.setdefault(rel, {})[name] = {"outcome": key, "message": msg, "private": touches}
        counted = cases
        print(f"{rel:58} {len(counted):5} {row['passed']:5} {row['failed']:5} {row['skipped']:5} {live:5} {no_docker:5} {row['public_passed']:4}/{row['public']:<4}"
              + ("" if results else f"   (no tests ran: exit {rc})"))
        for _name, _outcome, msg in results:
            if msg.startswith("does not import"):
                print(f"    {msg}")
        if not results:
            for line in [ln for ln in tail.splitlines() if "Error" in ln][:3]:
                print(f"    {line[:150]}")
        if args.verbose:
            print("\n".join(misses))
        totals["counted"] += len(counted)
        totals["live"] += live
        totals["docker"] += no_docker
        for key in row:
            totals[key] += row[key]
    print(f"{'total':58} {totals['counted']:5} {totals['passed']:5} {totals['failed']:5} {totals['skipped']:5} "
          f"{totals['live']:5} {totals['docker']:5} {totals['public_passed']:4}/{totals['public']:<4}")
    ran = totals["counted"] - totals["skipped"]
    share = 100 * totals["passed"] / ran if ran else 0.0
    public = 100 * totals["public_passed"] / totals["public"] if totals["public"] else 0.0
    print(f"{totals['passed']} of {ran} tests that need no live model pass ({share:.0f}%; "
          f"{totals['skipped']} more skipped by the tests' own conditions, e.g. Windows only); "
          f"{totals['live']} more need OpenAI and are not counted"
          + (f", nor {totals['docker']} that need Docker (no daemon answers)" if totals["docker"] else ""))
    print(f"{totals['public_passed']} of the {totals['public']} of them that touch no private attribute pass "
          f"({public:.0f}%)")
    if args.json:
        args.json.write_text(json.dumps({"ref": args.ref, "docker": docker, "totals": totals, "tests": outcomes},
                                        indent=1) + "\n")
    if tmp_ctx is not None:
        tmp_ctx.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
