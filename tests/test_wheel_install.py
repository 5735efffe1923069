"""The built wheel, installed as a user installs it (not editable) into a fresh venv.

The wheel is built offline from a copy of the source folders (``pip wheel --no-build-isolation``,
with the setuptools of the test extra), installed with ``pip install --no-deps --no-index`` into a
new venv whose only view of the dependencies is a ``.pth`` line naming this venv's site-packages
(nothing of the repository is on its path). Then ``moot`` runs from there as a user runs it, and
again after a distribution owning the bare names ``agents``, ``backends``, ``executors``, ``memory``
and ``tui`` (as ``openai-agents`` owns ``agents``) is installed beside it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_DIRS: dict[str, str] = PYPROJECT["tool"]["setuptools"]["package-dir"]
DATA_SUFFIXES = (".toml", ".tcss", ".jsonl")  # pyproject's package-data patterns
SHIPPED_TEAMS = {"coder", "demo", "planner-coder-reviewer", "research-writer-editor"}
BARE_NAMES = ("agents", "backends", "executors", "memory", "tui")


def source_files() -> dict[str, Path]:
    """What the wheel must hold: every module and data file of every mapped folder, by wheel path."""
    want: dict[str, Path] = {}
    for package, folder in PACKAGE_DIRS.items():
        top = ROOT / folder
        for path in top.rglob("*"):
            if "__pycache__" in path.parts or not path.is_file() or not path.name.endswith((".py", *DATA_SUFFIXES)):
                continue
            want[f"{package.replace('.', '/')}/{path.relative_to(top).as_posix()}"] = path
    return want


def run(argv: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{argv}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def fake_bare_names_wheel(folder: Path) -> Path:
    """A wheel of a distribution ``agents`` owning the five bare names; importing any of them fails loudly."""
    name, version = "agents", "0.0.1"
    dist_info = f"{name}-{version}.dist-info"
    files = {f"{bare}/__init__.py": f"raise RuntimeError('moot imported the bare name {bare!r}')\n"
             for bare in BARE_NAMES}
    files[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files[f"{dist_info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: moot-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{dist_info}/top_level.txt"] = "\n".join(BARE_NAMES) + "\n"
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join(record + [f"{dist_info}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """(the built wheel, the venv's python, its site-packages, an environment for running moot)."""
    setuptools = version("setuptools")
    assert tuple(int(x) for x in setuptools.split(".")[:2]) >= (70, 1), (
        f"setuptools {setuptools} in {sys.prefix} cannot build a wheel offline; the test extra asks for "
        f">=70.1: run make deps")
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", PYPROJECT["project"]["readme"]):
        shutil.copy2(ROOT / name, src / name)
    for folder in PACKAGE_DIRS.values():
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", base / "dist", src], cwd=base, timeout=120)
    (wheel,) = (base / "dist").glob("moot-*.whl")

    venv = base / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=base)
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=base).stdout.strip())
    deps = [p for p in sys.path if Path(p).name == "site-packages" and Path(p).is_dir()]
    assert sysconfig.get_paths()["purelib"] in deps
    (site / "moot-test-deps.pth").write_text("\n".join(deps) + "\n")
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel], cwd=base,
        timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MOOT_MODELS", "FORCE_COLOR")}
    env.update(MOOT_HOME=str(base / "home"), XDG_CONFIG_HOME=str(base / "config"), PYTHONNOUSERSITE="1")
    return wheel, venv, site, env


def test_the_wheel_holds_one_import_name_and_every_data_file(wheel_venv):
    wheel = wheel_venv[0]
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert {n.split("/")[0] for n in names} == {"moot", dist_info}
    assert zipfile.ZipFile(wheel).read(f"{dist_info}/top_level.txt").decode().split() == ["moot"]
    want = source_files()
    assert {f"moot/teams/{t}.toml" for t in SHIPPED_TEAMS} <= set(want)
    assert "moot/backends/models.toml" in want and "moot/tui/moot.tcss" in want
    assert [n for n in want if n.endswith(".tcss")], "no .tcss files found in the source"
    missing = sorted(set(want) - set(names))
    assert not missing, f"the wheel lacks {missing}"
    for name in ("moot/backends/models.toml", "moot/teams/demo.toml", "moot/tui/moot.tcss"):
        assert zipfile.ZipFile(wheel).read(name) == want[name].read_bytes()


def test_moot_runs_from_the_installed_wheel_and_bare_names_beside_it_change_nothing(wheel_venv, tmp_path):
    wheel, venv, site, env = wheel_venv
    moot = venv / "bin" / "moot"
    where = run([venv / "bin" / "python", "-c", "import json, moot, moot.tui.cli, moot.agents, moot.backends, "
                 "moot.memory, moot.executors, moot.teams; import importlib.metadata as m; "
                 "print(json.dumps([x.__file__ for x in (moot, moot.tui.cli, moot.agents, moot.backends, "
                 "moot.memory, moot.executors, moot.teams)] + [str(m.distribution('moot').locate_file(''))]))"],
                cwd=tmp_path, env=env)
    for path in json.loads(where.stdout):
        assert Path(path).resolve().is_relative_to(site.resolve()), f"{path} is not from the installed wheel"
        assert not Path(path).resolve().is_relative_to(ROOT), path

    def use_moot() -> tuple[dict, dict, str]:
        teams = json.loads(run([moot, "teams", "--json"], cwd=tmp_path, env=env).stdout)
        models = json.loads(run([moot, "models", "list", "--json"], cwd=tmp_path, env=env).stdout)
        demo = run([moot, "run", "demo", "--task", "x"], cwd=tmp_path, env=env)
        return teams, models, re.sub(r"\d+\.\d+ s\b", "T s", demo.stdout)  # run times differ

    teams, models, chat = use_moot()
    names = {t["name"]: t for t in teams["teams"]}
    assert set(names) == SHIPPED_TEAMS  # nothing but the packaged teams: no ./teams, no user teams here
    for t in names.values():
        assert t["error"] is None and Path(t["file"]).resolve() == (site / "moot" / "teams" / f"{t['name']}.toml").resolve()
    assert Path(models["source"]).resolve() == (site / "moot" / "backends" / "models.toml").resolve()
    assert models["found_by"] == "packaged default" and {"smollm2", "demo"} <= {m["name"] for m in models["models"]}
    assert "print(sum(range(10)))" in chat and "45" in chat and "TERMINATE" in chat  # the scripted coder, run

    before = tree_digest(site / "moot")
    run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps", "--no-index",
         fake_bare_names_wheel(tmp_path)], cwd=tmp_path)
    for bare in BARE_NAMES:  # the bare names are taken now: importing one fails
        shadowed = subprocess.run([venv / "bin" / "python", "-c", f"import {bare}"], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=30)
        assert shadowed.returncode == 1 and f"moot imported the bare name '{bare}'" in shadowed.stderr
    assert tree_digest(site / "moot") == before  # no file of moot was replaced
    assert use_moot() == (teams, models, chat)
