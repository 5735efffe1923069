"""AutoGen's command-line code executors over moot's: ``LocalCommandLineCodeExecutor`` runs
blocks with ``moot.executors.LocalExecutor``, ``DockerCommandLineCodeExecutor`` with
``moot.executors.DockerExecutor``.

Each is two things at once: AutoGen's ``CodeExecutor`` (a sync ``execute_code_blocks(blocks)``
giving a ``CommandLineCodeResult``), and a moot ``Executor``, so an agent given
``code_execution_config={"executor": executor}`` runs its code blocks there, streaming.
What moot's executors enforce still holds: the timeout kills every process the block started,
the output is capped, the local executor gives code an allow-listed environment (no key in it),
Docker runs each block in a fresh, network-less, limited container.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import stat
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from string import Template
from types import SimpleNamespace
from typing import Any, ClassVar

from moot.code_utils import PYTHON_VARIANTS, TIMEOUT_MSG, run_block, run_sync
from moot.executors import CodeBlock as MootBlock
from moot.executors import DockerExecutor, ExecutionResult, Executor, Limits, LocalExecutor, OutputChunk

from .base import CodeBlock, CodeExtractor, CommandLineCodeResult
from .func_with_reqs import build_functions_module, required_packages, to_stub
from .markdown_code_extractor import MarkdownCodeExtractor
from .utils import filename_from_content, silence_pip

_SHELLS = ("bash", "shell", "sh")
_POWERSHELLS = ("pwsh", "powershell", "ps1")

# What the sanitizer refuses in shell blocks: (pattern, why). A guard against accidents, not a
# sandbox (Docker is that).
_DANGEROUS = [
    (re.compile(r"\brm\s+-[a-zA-Z]*r[a-zA-Z]*f|\brm\s+-[a-zA-Z]*f[a-zA-Z]*r"), "Use of 'rm -rf' command is not allowed."),
    (re.compile(r"\bmv\b.*\s/dev/null\b"), "Moving files to /dev/null is not allowed."),
    (re.compile(r"\bdd\b"), "Use of 'dd' command is not allowed."),
    (re.compile(r">\s*/dev/sd[a-z]"), "Overwriting disk blocks directly is not allowed."),
    (re.compile(r":\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:"), "Fork bombs are not allowed."),
]


def _write_saved(work_dir: Path, name: str, code: str) -> Path:
    """Save a block that is not run (javascript, html, a policy that says save only): the file
    in the work dir, never through a link planted there."""
    path = work_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{name!r} in the work dir is not a plain file")
        os.write(fd, code.encode("utf-8", "surrogatepass"))
    finally:
        os.close(fd)
    return path.resolve()


class _CommandLineCodeExecutor(Executor):
    """What both command-line executors share: policies, file names, the sync API."""

    DEFAULT_EXECUTION_POLICY: ClassVar[dict[str, bool]] = {
        "bash": True, "shell": True, "sh": True, "pwsh": True, "powershell": True, "ps1": True, "python": True,
        "javascript": False, "html": False, "css": False,
    }
    SUPPORTED_LANGUAGES: ClassVar[list[str]] = list(DEFAULT_EXECUTION_POLICY)

    def __init__(self, timeout: int, work_dir: Path | str, execution_policies: dict[str, bool] | None) -> None:
        if timeout < 1:
            raise ValueError("Timeout must be greater than or equal to 1.")
        work_dir = Path(work_dir)
        work_dir.mkdir(exist_ok=True)  # a missing parent is a FileNotFoundError, as in AutoGen
        self._timeout = timeout
        self._work_dir = work_dir
        self.execution_policies = {**self.DEFAULT_EXECUTION_POLICY, **(execution_policies or {})}
        self._extractor = MarkdownCodeExtractor()
        self._inner: Executor = self._make_inner()

    def _make_inner(self) -> Executor:
        raise NotImplementedError

    # -- AutoGen's interface ------------------------------------------------------------------

    @property
    def timeout(self) -> int:
        """Seconds a block may run before it is killed."""
        return self._timeout

    @property
    def work_dir(self) -> Path:
        """The folder blocks are saved and run in (as given)."""
        return self._work_dir

    @property
    def code_extractor(self) -> CodeExtractor:
        return self._extractor

    @staticmethod
    def sanitize_command(lang: str, code: str) -> None:
        """Raise ``ValueError`` for a shell block that would destroy files or the machine
        (``rm -rf``, ``dd``, writing to a disk device, a fork bomb)."""
        if lang in _SHELLS:
            for pattern, why in _DANGEROUS:
                if pattern.search(code):
                    raise ValueError(f"Potentially dangerous command detected: {why}")

    def execute_code_blocks(self, code_blocks: list[CodeBlock]) -> CommandLineCodeResult:
        """Run (or, as the policies say, only save) the blocks in order, stopping at the first
        that fails. The output is what they printed, one after another; ``code_file`` is the
        first block's file. A block naming a file outside the work dir fails the run with
        "Filename is not in the workspace"; one that runs too long ends it with exit code 124
        and "Timeout"."""
        return run_sync(self.a_execute_code_blocks(code_blocks))

    async def a_execute_code_blocks(self, code_blocks: list[CodeBlock]) -> CommandLineCodeResult:
        """``execute_code_blocks`` for async callers."""
        outputs: list[str] = []
        files: list[Path] = []
        exit_code = 0
        for block in code_blocks:
            lang = block.language.lower()
            self.sanitize_command(lang, block.code)
            code = silence_pip(block.code, lang)
            if lang in (v.lower() for v in PYTHON_VARIANTS):
                lang = "python"
            if lang not in self.SUPPORTED_LANGUAGES:
                exit_code = 1
                outputs.append(f"\nunknown language {lang}")
                break
            try:
                name = filename_from_content(code, self._work_dir)
            except ValueError:
                return CommandLineCodeResult(exit_code=1, output="Filename is not in the workspace")
            if name is None:
                name = f"tmp_code_{secrets.token_hex(8)}.{'py' if lang == 'python' else lang}"
            if not self.execution_policies.get(lang, False):
                files.append(_write_saved(self._work_dir, name, code))
                outputs.append(f"Code saved to {files[-1]}\n")
                continue
            if lang in _POWERSHELLS:
                exit_code = 1
                outputs.append(f"\n{lang} code cannot be run here: this executor runs python and shell code")
                break
            files.append((self._work_dir / name).resolve())
            result = await run_block(self._inner, MootBlock(language="python" if lang == "python" else "sh",
                                                            code=code, filename=name))
            outputs.append(result.output)
            if result.timed_out:
                outputs.append("\n" + TIMEOUT_MSG)
                exit_code = 124  # what the timeout command exits with
                break
            exit_code = result.exit_code
            if exit_code:
                break
        return CommandLineCodeResult(exit_code=exit_code, output="".join(outputs),
                                     code_file=str(files[0]) if files else None)

    def restart(self) -> None:
        """Nothing to restart: every block runs in a process (or a container) of its own."""

    # -- moot's executor interface (what an agent's code execution uses) ----------------------

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._inner.name

    @property
    def limits(self) -> Limits:  # type: ignore[override]
        return self._inner.limits

    @property
    def sandboxed(self) -> bool:  # type: ignore[override]
        return self._inner.sandboxed

    @property
    def notices(self) -> list[str]:
        """Lines for the user about the executor's start (e.g. orphaned containers removed)."""
        return list(getattr(self._inner, "notices", ()))

    async def run(self, block: MootBlock) -> AsyncIterator[OutputChunk | ExecutionResult]:
        """Run one block as moot's engine hands it over; a language the policies say to save
        only is saved, not run."""
        if not self.execution_policies.get(block.language, False):
            name = block.filename or f"tmp_code_{secrets.token_hex(8)}.{'py' if block.language == 'python' else block.language}"
            path = _write_saved(self._work_dir, name, block.code)
            yield ExecutionResult(exit_code=0, output=f"Code saved to {path}\n", duration_s=0.0, language=block.language)
            return
        async for item in self._inner.run(block):
            yield item

    async def prepare(self) -> None:
        await self._inner.prepare()

    async def aclose(self) -> None:
        await self._inner.aclose()


class LocalCommandLineCodeExecutor(_CommandLineCodeExecutor):
    """Runs code blocks on this machine, each as a process in the work dir (``./`` by default).

    NOT a sandbox: the code can read and write whatever this user can. moot's local executor
    still kills everything a block started when it ends or times out, caps its output, and gives
    it an allow-listed environment (PATH, LANG, ... and HOME at the work dir: no API key).
    ``virtual_env_context`` (from ``moot.code_utils.create_virtual_env``) runs Python with that
    environment's interpreter and puts its ``bin`` first on PATH. Shell blocks run with /bin/sh.
    ``functions`` (plain functions, ``FunctionWithRequirements``, or source text) become the
    module ``functions_module`` in the work dir, so code can ``from functions import f``: before
    the first block runs, the module is written, the packages the functions need are installed
    with pip into the interpreter the code runs with, and the module is imported once to check
    it; ``ValueError`` says what failed. ``format_functions_for_prompt()`` tells a model about
    them.
    """

    FUNCTION_PROMPT_TEMPLATE: ClassVar[str] = (
        "You have access to the following user defined functions. They can be accessed from the module called "
        "`$module_name` by their function names.\n\nFor example, if there was a function called `foo` you could "
        "import it by writing `from $module_name import foo`\n\n$functions")

    def __init__(self, timeout: int = 60, virtual_env_context: SimpleNamespace | None = None,
                 work_dir: Path | str = Path("."), functions: list[Any] | None = None,
                 functions_module: str = "functions", execution_policies: dict[str, bool] | None = None) -> None:
        if not functions_module.isidentifier():
            raise ValueError("Module name must be a valid Python identifier")
        self._virtual_env_context = virtual_env_context
        self._functions = list(functions or ())
        self._functions_module = functions_module
        self._functions_ready = not self._functions
        # Made now, so a function whose source cannot be found (a lambda) is refused at once.
        self._functions_text = build_functions_module(self._functions) if self._functions else ""
        super().__init__(timeout, work_dir, execution_policies)

    @property
    def functions(self) -> list[Any]:
        """The functions the code may import from ``functions_module``."""
        return self._functions

    @property
    def functions_module(self) -> str:
        """The name of the module the functions are in."""
        return self._functions_module

    def format_functions_for_prompt(self, prompt_template: str = FUNCTION_PROMPT_TEMPLATE) -> str:
        """The functions for a system message: ``$module_name`` and ``$functions`` (their stubs,
        signature and docstring) filled in."""
        return Template(prompt_template).substitute(
            module_name=self._functions_module, functions="\n\n".join(to_stub(f) for f in self._functions))

    async def _prepare_functions(self) -> None:
        """Write the functions module, install what it needs, and import it once."""
        if self._functions_ready:
            return
        _write_saved(self._work_dir, f"{self._functions_module}.py", self._functions_text)
        packages = required_packages(self._functions)
        if packages:
            python = self._virtual_env_context.env_exe if self._virtual_env_context else sys.executable
            try:
                done = await asyncio.to_thread(
                    subprocess.run, [python, "-m", "pip", "install", *packages], cwd=self._work_dir,
                    capture_output=True, text=True, timeout=float(self._timeout))
            except subprocess.TimeoutExpired:
                raise ValueError(f"Pip install timed out (after {self._timeout} s) installing "
                                 f"{', '.join(packages)} for the functions") from None
            if done.returncode != 0:
                raise ValueError(f"Pip install failed for {', '.join(packages)}: {done.stdout}{done.stderr}")
        check = await run_block(self._inner, MootBlock(language="python", code=f"import {self._functions_module}\n",
                                                       filename=f"_check_{self._functions_module}.py"))
        (self._work_dir / f"_check_{self._functions_module}.py").unlink(missing_ok=True)
        if not check.succeeded:
            raise ValueError(f"Functions failed to load: {check.output}")
        self._functions_ready = True

    async def a_execute_code_blocks(self, code_blocks: list[CodeBlock]) -> CommandLineCodeResult:
        await self._prepare_functions()
        return await super().a_execute_code_blocks(code_blocks)

    async def run(self, block: MootBlock) -> AsyncIterator[OutputChunk | ExecutionResult]:
        try:
            await self._prepare_functions()
        except ValueError as exc:  # in a chat: the model reads why, the chat goes on
            yield ExecutionResult(exit_code=1, output=f"{exc}\n", duration_s=0.0, language=block.language)
            return
        async for item in super().run(block):
            yield item

    def _make_inner(self) -> Executor:
        limits = Limits(timeout_s=float(self._timeout), memory=None)
        context = self._virtual_env_context
        if context is None:
            return LocalExecutor(self._work_dir, limits=limits)
        return _VirtualEnvExecutor(self._work_dir, limits=limits, python=os.path.abspath(context.env_exe),
                                   bin_path=os.path.abspath(context.bin_path), env_dir=os.path.abspath(context.env_dir))

    def restart(self) -> None:
        """Nothing to restart (each block is a process of its own): warns, as AutoGen does."""
        warnings.warn("Restarting the local command line code executor does nothing: every block runs in a new "
                      "process. No action is taken.", stacklevel=2)


class _VirtualEnvExecutor(LocalExecutor):
    """The local executor with a virtual environment: its Python, its ``bin`` first on PATH."""

    def __init__(self, *args: Any, bin_path: str, env_dir: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bin_path = bin_path
        self.env_dir = env_dir

    def _environment(self, marker: str) -> dict[str, str]:
        env = super()._environment(marker)
        env["PATH"] = self.bin_path + os.pathsep + env.get("PATH", os.defpath)
        env["VIRTUAL_ENV"] = self.env_dir
        return env


class DockerCommandLineCodeExecutor(_CommandLineCodeExecutor):
    """Runs code blocks in Docker: each block in a fresh container (no network, limited memory,
    CPU and processes, removed afterwards), the work dir's files copied in and back.

    ``image`` defaults to moot's own image (built here when missing, so no pull is needed);
    another image is pulled. AutoGen kept one container for all blocks; moot starts one per
    block, so ``container_name``, ``auto_remove`` and ``stop_container`` are accepted and change
    nothing, ``bind_dir`` is not needed (nothing is bind-mounted), and ``restart()`` has nothing
    to do. Raises ``moot.executors.ExecutorUnavailable`` when no Docker daemon answers.
    """

    def __init__(self, image: str | None = None, container_name: str | None = None, timeout: int = 60,
                 work_dir: Path | str = Path("."), bind_dir: Path | str | None = None, auto_remove: bool = True,
                 stop_container: bool = True, execution_policies: dict[str, bool] | None = None) -> None:
        self._image = image
        super().__init__(timeout, work_dir, execution_policies)

    def _make_inner(self) -> Executor:
        return DockerExecutor(self._work_dir, image=self._image, limits=Limits(timeout_s=float(self._timeout)))

    @property
    def image(self) -> str:
        return self._inner.image  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Stop whatever still runs and let the Docker client go."""
        run_sync(self._inner.aclose())

    def __enter__(self) -> DockerCommandLineCodeExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
