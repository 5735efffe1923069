"""Build moot's default sandbox image from this machine's own Python, with no registry.

The image holds the system Python (binary, standard library, extension modules), every shared
library `ldd` says they need, the dynamic loader, /bin/sh (dash, or busybox) and a few core
utilities, then goes in through `docker import`. About 70 MB, a few seconds to build, and it
works offline: `docker pull` needs a registry that moot cannot count on.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ._results import ExecutorError, ExecutorUnavailable

#: Bumped whenever the image's layout changes, so an image built by an older moot is rebuilt.
IMAGE_LAYOUT_VERSION = "4"
_LAYOUT_ENV = f"MOOT_IMAGE_LAYOUT={IMAGE_LAYOUT_VERSION}"

#: Where the image's Python finds its code, and the only writable place besides /tmp.
CONTAINER_WORK_DIR = "/workspace"

# Utilities copied next to the shell when the host has them: what agents' shell blocks reach for.
_UTILITIES = (
    "ls cat mkdir rm rmdir cp mv head tail wc sleep env true false grep sed sort uniq touch "
    "chmod pwd id uname date tr cut tee basename dirname seq printf test expr find xargs"
).split()

_LDD_PATH = re.compile(r"(/\S+)\s+\(0x[0-9a-f]+\)|=>\s+(/\S+)")


def _system_python() -> Path:
    """The Python the image is made of: Debian's /usr/bin/python3 when present, else this one's base."""
    for candidate in ("/usr/bin/python3", getattr(sys, "_base_executable", "") or sys.executable):
        if candidate and os.access(candidate, os.X_OK):
            return Path(os.path.realpath(candidate))
    raise ExecutorUnavailable("no Python interpreter found to build the sandbox image from")


def _python_facts(python: Path) -> tuple[str, Path]:
    """(version "3.11", standard library dir) of an interpreter."""
    code = "import sys, sysconfig; print('%d.%d' % sys.version_info[:2]); print(sysconfig.get_paths()['stdlib'])"
    out = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    return out[0].strip(), Path(out[1].strip())


@functools.lru_cache(maxsize=1)
def default_image_name() -> str:
    """'moot-python:3.11': named after the Python version the image would carry."""
    version, _ = _python_facts(_system_python())
    return f"moot-python:{version}"


def _shared_libraries(paths: list[Path]) -> set[Path]:
    """Every library (and the loader) `ldd` lists for these binaries."""
    found: set[Path] = set()
    ldd = shutil.which("ldd")
    if ldd is None:
        raise ExecutorUnavailable("`ldd` is missing, so the sandbox image cannot be built (install libc-bin)")
    for path in paths:
        result = subprocess.run([ldd, str(path)], capture_output=True, text=True)
        if result.returncode != 0:
            continue  # static binaries and scripts: nothing to add
        for line in result.stdout.splitlines():
            if "not found" in line:
                raise ExecutorUnavailable(f"cannot build the sandbox image: {path} needs a missing library ({line.strip()})")
            match = _LDD_PATH.search(line)
            if match:
                found.add(Path(match[1] or match[2]))
    return found


def _dlopened_libraries(linked: set[Path]) -> set[Path]:
    """Libraries glibc loads at run time rather than links: libgcc_s, from next to libc, which it
    needs when a thread exits (without it threaded programs print "libgcc_s.so.1 must be installed")."""
    return {lib.parent / "libgcc_s.so.1" for lib in linked
            if lib.name.startswith("libc.so") and (lib.parent / "libgcc_s.so.1").is_file()}


def _copy_file(src: Path, root: Path, dest: Path | None = None) -> None:
    """Copy src's content (symlinks followed) to the same place under root."""
    dest = dest or src
    # Keep the directory's real location (Debian's /lib is a symlink to /usr/lib) and the
    # name given (a soname such as libc.so.6 is itself a symlink to the real file).
    target = root / Path(os.path.realpath(dest.parent)).relative_to("/") / dest.name
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(os.path.realpath(src), target, follow_symlinks=True)


def assemble_root(root: Path, python: Path | None = None) -> str:
    """Lay out the image's file tree in `root`; returns the Python version it holds."""
    python = python or _system_python()
    version, stdlib = _python_facts(python)

    # The top-level symlinks of a merged-/usr system (bin -> usr/bin, lib -> usr/lib, ...).
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / top
        if host.is_symlink():
            (root / top).symlink_to(os.readlink(host))

    _copy_file(python, root)
    py_dir = root / Path(os.path.realpath(python.parent)).relative_to("/")
    for alias in ("python3", "python"):
        if not (py_dir / alias).exists():
            (py_dir / alias).symlink_to(python.name)

    # The standard library, without its tests, the bundled pip/setuptools wheels or site-packages.
    skip = {"test", "tests", "idlelib", "ensurepip", "site-packages", "dist-packages", "turtledemo", "tkinter"}
    real_stdlib = Path(os.path.realpath(stdlib))
    shutil.copytree(
        real_stdlib,
        root / real_stdlib.relative_to("/"),
        symlinks=False,
        ignore=lambda d, names: [n for n in names if n in skip or n.startswith("config-")],
    )
    # ldd the interpreter and its extension modules where they came from.
    sources = [python, *sorted(real_stdlib.joinpath("lib-dynload").glob("*.so"))]

    # A shell, and the everyday utilities.
    shell = next((Path(p) for p in ("/usr/bin/dash", "/bin/dash", "/bin/busybox", "/usr/bin/busybox") if Path(p).is_file()), None)
    if shell is None:
        raise ExecutorUnavailable("no dash or busybox on this machine to be the sandbox's /bin/sh (apt-get install dash)")
    _copy_file(shell, root)
    sources.append(shell)
    bin_dir = root / "usr/bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    if not (bin_dir / "sh").exists():
        (bin_dir / "sh").symlink_to(os.path.realpath(shell))
    for alias in ("python3", "python"):
        if not (bin_dir / alias).exists() and not (bin_dir / alias).is_symlink():
            (bin_dir / alias).symlink_to(os.path.realpath(python))  # python on PATH, wherever it lives
    for tool in _UTILITIES:
        found = shutil.which(tool, path="/usr/bin:/bin")
        if found and not (bin_dir / tool).exists() and not Path(found).is_symlink():
            _copy_file(Path(found), root, Path("/usr/bin") / tool)
            sources.append(Path(found))

    linked = _shared_libraries(sources)
    for lib in linked | _dlopened_libraries(linked):
        _copy_file(lib, root)

    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    for d in ("tmp", CONTAINER_WORK_DIR.strip("/"), "proc", "dev", "sys"):
        (root / d).mkdir(exist_ok=True)
    # Docker gives the /tmp tmpfs the mode of the image's /tmp: writable by anyone, sticky.
    (root / "tmp").chmod(0o1777)
    (root / CONTAINER_WORK_DIR.strip("/")).chmod(0o777)
    return version


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def image_exists(client, name: str) -> bool:
    import docker.errors

    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def _is_current(client, name: str) -> bool:
    """True when `name` exists and was built with this version of the layout."""
    import docker.errors

    try:
        image = client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return _LAYOUT_ENV in ((image.attrs.get("Config") or {}).get("Env") or [])


def ensure_image(client, name: str | None = None, *, rebuild: bool = False) -> str:
    """Make sure the sandbox image `name` exists in the daemon behind `client`; build it if not.

    Idempotent and fast when the image is there (one API call). Builds from this machine's Python
    with no registry (see the module docstring) and returns the image name. Raises
    ExecutorUnavailable with the reason when it cannot.
    """
    import docker.errors

    name = name or default_image_name()
    if not rebuild and _is_current(client, name):
        return name
    repository, _, tag = name.rpartition(":") if ":" in name.split("/")[-1] else (name, "", "latest")
    with tempfile.TemporaryDirectory(prefix="moot-image-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        try:
            assemble_root(root)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise ExecutorUnavailable(f"could not assemble the sandbox image {name}: {exc}") from exc
        archive = Path(tmp) / "root.tar"
        with tarfile.open(archive, "w") as tar:
            for entry in sorted(root.iterdir()):
                tar.add(entry, arcname=entry.name, filter=_owned_by_root)
        changes = [
            "ENV PATH=/usr/local/bin:/usr/bin:/bin",
            "ENV HOME=/tmp",
            "ENV PYTHONDONTWRITEBYTECODE=1",
            "ENV LANG=C.UTF-8",
            f"ENV {_LAYOUT_ENV}",
            f"WORKDIR {CONTAINER_WORK_DIR}",
            'CMD ["python3"]',
        ]
        try:
            client.api.import_image(src=str(archive), repository=repository, tag=tag, changes=changes)
        except docker.errors.DockerException as exc:
            raise ExecutorUnavailable(f"could not import the sandbox image {name} into Docker: {exc}") from exc
    if not image_exists(client, name):
        raise ExecutorError(f"Docker accepted the sandbox image {name} but does not list it")
    return name
