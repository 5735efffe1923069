"""``autogen.code_utils`` for ported scripts: code blocks out of messages, and running code with
moot's executors.

``extract_code`` and ``infer_lang`` read messages as AutoGen 0.2 does (its regular expression,
its raw language tags), so scripts that inspect their results keep working; moot's own engine
reads code blocks with ``moot.executors.extract_code_blocks`` (CommonMark fences). ``execute_code``
runs through ``moot.executors``: Docker with its limits, or, when asked (``use_docker=False``),
this machine's Python or shell with an allow-listed environment in which no key is visible.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import secrets
import subprocess
import venv
from collections.abc import Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from moot.agents import resolve_llm
from moot.backends import ChatMessage
from moot.executors import (
    CodeBlock,
    DockerExecutor,
    ExecutionResult,
    Executor,
    ExecutorError,
    ExecutorUnavailable,
    Limits,
    LocalExecutor,
    docker_client,
    make_executor,
)

__all__ = [
    "CODE_BLOCK_PATTERN",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT",
    "FAST_MODEL",
    "PYTHON_VARIANTS",
    "TIMEOUT_MSG",
    "UNKNOWN",
    "WIN32",
    "WORKING_DIR",
    "check_can_use_docker_or_throw",
    "content_str",
    "create_virtual_env",
    "decide_use_docker",
    "execute_code",
    "extract_code",
    "get_powershell_command",
    "improve_code",
    "improve_function",
    "in_docker_container",
    "infer_lang",
    "is_docker_running",
]

T = TypeVar("T")

DEFAULT_MODEL = "gpt-4"
FAST_MODEL = "gpt-3.5-turbo"
#: A fenced block: an optional language word on the opening line, the code, the closing fence.
#: Groups: (language, code); it matches what AutoGen 0.2's expression matches, so ``pattern=``
#: users and code reading the groups see the same blocks.
CODE_BLOCK_PATTERN = r"```[ \t]*(\w*)[ \t]*\r?\n(.*?)\r?\n[ \t]*```"
#: The language ``extract_code`` gives text that holds no code block, and ``infer_lang`` code it
#: cannot place.
UNKNOWN = "unknown"
TIMEOUT_MSG = "Timeout"
DEFAULT_TIMEOUT = 600
WIN32 = os.name == "nt"
PYTHON_VARIANTS = ["python", "Python", "py"]
#: Where ``execute_code`` works when given no ``work_dir`` (AutoGen used a folder inside its own
#: package; moot uses ``./coding``, as a ``code_execution_config`` does).
WORKING_DIR = "coding"

_SHELL_LANGUAGES = ("bash", "sh", "shell")
_INLINE_CODE = r"`([^`]+)`"


def content_str(content: str | list[dict[str, Any]] | None) -> str:
    """The text of a message's ``content``: a string as it is, ``None`` as "", and a list of
    OpenAI content parts joined, each image as ``<image>``. A part that is not a dict is a
    ``TypeError``; a part of another type a ``ValueError`` ("Wrong content format ...")."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TypeError(f"content must be None, a str or a list of content parts, not {type(content).__name__}")
    parts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            raise TypeError("Wrong content format: a content list holds dicts (content parts), "
                            f"not {type(part).__name__}")
        kind = part.get("type")
        if kind == "text":
            parts.append(part["text"])
        elif kind == "image_url":
            parts.append("<image>")
        else:
            raise ValueError(f"Wrong content format: unknown content part type {kind!r} (text or image_url)")
    return "".join(parts)


def infer_lang(code: str) -> str:
    """"sh" for a command line that runs python or pip, "python" for code that compiles as
    Python, else ``UNKNOWN``."""
    if code.startswith(("python ", "python3 ", "pip")):
        return "sh"
    try:
        compile(code, "<code>", "exec")
    except (SyntaxError, ValueError):
        return UNKNOWN
    return "python"


def extract_code(text: str | list[dict[str, Any]], pattern: str = CODE_BLOCK_PATTERN,
                 detect_single_line_code: bool = False) -> list[tuple[str, str]]:
    """``(language, code)`` for each code block in ``text`` (a message's content).

    The language is the fence's tag as written ("" when there is none). Text without a code
    block gives ``[(UNKNOWN, text)]``. With ``detect_single_line_code``, inline code
    (`` `cmd` ``) counts as a block too (language ""), and both kinds come stripped.
    """
    text = content_str(text)
    if not detect_single_line_code:
        found = re.findall(pattern, text, flags=re.DOTALL)
        return found if found else [(UNKNOWN, text)]
    out: list[tuple[str, str]] = []
    for lang, block, inline in re.findall(f"{CODE_BLOCK_PATTERN}|{_INLINE_CODE}", text, flags=re.DOTALL):
        if block:
            out.append((lang.strip(), block.strip()))
        elif inline:
            out.append(("", inline.strip()))
    return out


# -- Docker or not ------------------------------------------------------------------------------

def is_docker_running() -> bool:
    """Whether a Docker daemon answers (``DOCKER_HOST`` or the default socket)."""
    try:
        docker_client(timeout=5).close()
    except ExecutorError:
        return False
    return True


def in_docker_container() -> bool:
    """Whether this process runs inside a Docker container."""
    return os.path.exists("/.dockerenv")


_TRUE = {"1", "true", "yes", "t"}
_FALSE = {"0", "false", "no", "f"}


def decide_use_docker(use_docker: bool | None) -> bool | None:
    """``use_docker`` when it is given, else what ``$AUTOGEN_USE_DOCKER`` says (1/true/yes/t,
    0/false/no/f, or "none"; unset means True). Another value of the variable is a ValueError."""
    if use_docker is not None:
        return use_docker
    value = os.environ.get("AUTOGEN_USE_DOCKER", "True")
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    if lowered == "none":
        return None
    raise ValueError(f"AUTOGEN_USE_DOCKER={value[:40]!r} is not understood: set it to 1/true/yes, 0/false/no, or none")


def check_can_use_docker_or_throw(use_docker: Any) -> None:
    """Raise ``RuntimeError`` when Docker is asked for and no daemon answers (nor does this run
    inside a container)."""
    if use_docker and not in_docker_container() and not is_docker_running():
        raise RuntimeError(
            "Code execution is set to run in Docker, but no Docker daemon answers. Start Docker (or point "
            "DOCKER_HOST at a running daemon), or set \"use_docker\": False in code_execution_config, or set "
            "AUTOGEN_USE_DOCKER=0 to run code on this machine.")


def get_powershell_command() -> str:
    """"powershell" or "pwsh", whichever runs here; ``FileNotFoundError`` when neither is
    installed, ``PermissionError`` when it may not be run."""
    try:
        if subprocess.run(["powershell", "$PSVersionTable.PSVersion.Major"], capture_output=True, text=True).returncode == 0:
            return "powershell"
    except (FileNotFoundError, NotADirectoryError):
        try:
            if subprocess.run(["pwsh", "-Command", "$PSVersionTable.PSVersion.Major"], capture_output=True,
                              text=True).returncode == 0:
                return "pwsh"
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError("Neither powershell nor pwsh is installed here (or on PATH): install "
                                    "PowerShell to run ps1 code blocks") from None
    except PermissionError:
        raise PermissionError("No permission to run powershell.") from None
    raise FileNotFoundError("powershell is installed but does not run")


def create_virtual_env(dir_path: str, **env_args: Any) -> SimpleNamespace:
    """Create a Python virtual environment in ``dir_path`` (with pip unless ``env_args`` say
    otherwise); returns its context (``env_exe``, ``bin_path``, ``env_name``, ...), which
    ``LocalCommandLineCodeExecutor(virtual_env_context=...)`` takes."""
    builder = venv.EnvBuilder(**(env_args or {"with_pip": True}))
    builder.create(dir_path)
    return builder.ensure_directories(dir_path)


# -- running code -------------------------------------------------------------------------------

def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end from sync code; inside a running loop (a notebook, an async
    caller), on a loop of its own in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def run_block(executor: Executor, block: CodeBlock) -> ExecutionResult:
    """Run one block on a moot executor; its final result (live output is not needed here)."""
    result: ExecutionResult | None = None
    async for item in executor.run(block):
        if isinstance(item, ExecutionResult):
            result = item
    assert result is not None, "an executor's run() ends with one ExecutionResult"
    return result


def _executor_for(use_docker: Any, work_dir: str, timeout: float) -> tuple[Executor, str | None]:
    """The moot executor ``execute_code`` runs on, and the image name when it is Docker."""
    if use_docker is False or (use_docker is None and in_docker_container()):
        return LocalExecutor(work_dir, limits=Limits(timeout_s=timeout, memory=None)), None
    if use_docker is None:  # no one decided: moot's default (Docker, else the sandbox; never unsandboxed)
        executor = make_executor({"work_dir": work_dir, "timeout": timeout})
        return executor, getattr(executor, "image", None)
    image = use_docker if isinstance(use_docker, str) else use_docker[0] if isinstance(use_docker, list) and use_docker else None
    try:
        executor = DockerExecutor(work_dir, image=image, limits=Limits(timeout_s=timeout))
    except ExecutorUnavailable as exc:
        raise RuntimeError(f"execute_code(use_docker={str(use_docker)[:60]}): {exc}") from None
    return executor, executor.image


def execute_code(code: str | None = None, timeout: float | None = None, filename: str | None = None,
                 work_dir: str | None = None, use_docker: Any = ..., lang: str | None = "python") -> tuple[int, str, str | None]:
    """Run ``code`` (or the file ``filename`` in ``work_dir`` when ``code`` is None); returns
    ``(exit_code, output, image)``.

    ``use_docker``: True (the default, unless ``$AUTOGEN_USE_DOCKER`` says otherwise) runs in
    Docker and raises ``RuntimeError`` when no daemon answers; an image name (or a list, the first
    one) runs in that image; False runs on this machine, with an allow-listed environment; None
    takes moot's default (Docker, else the bubblewrap sandbox). ``lang`` is "python" or a shell
    ("sh", "bash", "shell"). ``filename`` is relative to ``work_dir`` (default ``./coding``);
    without it the code is saved under a fresh name that is removed afterwards. A run past
    ``timeout`` seconds (default 600) gives ``(1, "Timeout", image)``. The output is what the
    code printed; when it failed, with the work dir's path taken out of the traceback.

    Unlike AutoGen, Docker asked for is Docker or an error: running inside a container does not
    make ``use_docker=True`` run the code in this process, and the default never runs it
    unsandboxed.
    """
    if code is None and filename is None:
        raise AssertionError("execute_code: give the code to run, or the filename of code saved in work_dir")
    if use_docker is ...:
        use_docker = decide_use_docker(None)
    check_can_use_docker_or_throw(use_docker)
    lang = lang or "python"
    if lang in PYTHON_VARIANTS or lang.startswith("python"):
        language = "python"
    elif lang in _SHELL_LANGUAGES:
        language = "sh"
    else:
        raise NotImplementedError(f"execute_code: {lang!r} code cannot be run here (python, sh, bash or shell)")
    work = Path(work_dir or WORKING_DIR)
    work.mkdir(parents=True, exist_ok=True)
    given_name = filename
    if code is None:
        code = (work / filename).read_text(encoding="utf-8")
    name = filename or f"tmp_code_{secrets.token_hex(8)}.{'py' if language == 'python' else 'sh'}"
    executor, image = _executor_for(use_docker, str(work), float(timeout or DEFAULT_TIMEOUT))

    async def run() -> ExecutionResult:
        async with executor:
            return await run_block(executor, CodeBlock(language=language, code=code, filename=name))

    try:
        result = run_sync(run())
    finally:
        if given_name is None:
            (work / name).unlink(missing_ok=True)
    if result.timed_out:
        return 1, TIMEOUT_MSG, image
    output = result.output
    if result.exit_code:
        output = output.replace(str(work.resolve()) + os.sep, "").replace(str(work.resolve()), "")
    return result.exit_code, output, image


# -- asking a model to improve code -------------------------------------------------------------

def ask_model(prompt: str, config: dict[str, Any]) -> tuple[str, float]:
    """One model answer to ``prompt``; ``config`` is an ``llm_config`` (``config_list=``,
    ``model=``, ...; the default model when empty). The cost is 0.0: moot does not price calls."""
    llm = resolve_llm(dict(config) or True)
    completion = run_sync(llm.complete([ChatMessage("user", prompt)]))
    return completion.content or "", 0.0


def improve_function(file_name: str, func_name: str, objective: str, **config: Any) -> tuple[str, float]:
    """Ask a model to rewrite function ``func_name`` of file ``file_name`` toward ``objective``;
    returns (its answer, cost)."""
    source = Path(file_name).read_text(encoding="utf-8")
    return ask_model(f"Rewrite the function {func_name!r} so that it meets this objective: {objective}\n"
                f"Answer with the new function only. The file holding it now reads:\n{source}", config)


def improve_code(files: list[str], objective: str, suggest_only: bool = True, **config: Any) -> tuple[str, float]:
    """Ask a model how the code in ``files`` could better meet ``objective``: suggestions, or
    with ``suggest_only=False`` the improved code; returns (its answer, cost)."""
    sources = "".join(f"File {name}:\n{Path(name).read_text(encoding='utf-8')}\n\n" for name in files)
    ask = ("Suggest, as a numbered list, how to change this code to meet the objective"
           if suggest_only else "Rewrite this code to meet the objective, and answer with the full new code")
    return ask_model(f"{ask}: {objective}\n\n{sources}", config)
