"""The ``moot`` command line. Heavy imports (llama_cpp, chromadb, docker, Textual) happen inside
the commands that need them, so ``moot --help`` answers at once."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

# backends (pydantic models, ~0.2 s to import) is imported by the commands that use it, so the app's
# first frame does not wait for it.
if TYPE_CHECKING:
    from moot.backends import ConfigError, ModelRegistry

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _version() -> str:
    try:
        return version("moot")
    except PackageNotFoundError:
        return "0+unknown"


def _report_config_error(exc: ConfigError) -> int:
    err.print("[bold red]moot: configuration error[/]")
    for problem in exc.problems:
        err.print(f"  {problem}", markup=False)
    return EXIT_CONFIG


def cmd_models_list(args: argparse.Namespace) -> int:
    from moot.backends import load_models
    config = load_models(args.models)
    table = Table(title=f"models from {config.source} ({config.found_by})", title_justify="left")
    for col in ("name", "backend", "model", "capabilities", "status"):
        table.add_column(col)
    for m in config.models.values():
        backend_caps = _static_capabilities(m)
        problems = m.problems()
        status = "[red]" + "; ".join(p.split(": ", 1)[-1] for p in problems) + "[/]" if problems else "[green]ready[/]"
        name = m.name + (" (default)" if m.name == config.default else "")
        table.add_row(name, m.backend, m.model or m.model_path or "-", ", ".join(backend_caps) or "-", status)
    out.print(table)
    return EXIT_OK


def _static_capabilities(model) -> list[str]:
    """Capabilities as declared, or the backend's defaults, without loading anything heavy."""
    from moot.backends import ConfigError
    from moot.backends._registry import backend_class

    try:
        cls = backend_class(model.backend)
    except ConfigError:
        return []
    probe = cls.__new__(cls)  # capabilities only read config; no client is created
    probe.config = model
    return probe.capabilities.as_list()


async def _check_one(registry: ModelRegistry, name: str) -> tuple[bool, str]:
    from moot.backends import ChatMessage, Completion, Delta
    backend = registry.backend(name)
    started = time.perf_counter()
    if hasattr(backend, "load"):
        await backend.load()
    loaded = time.perf_counter()
    first = None
    completion: Completion | None = None
    async for item in backend.stream([ChatMessage("user", "Say OK.")], max_tokens=16, temperature=0.0):
        if isinstance(item, Delta) and first is None:
            first = time.perf_counter()
        elif isinstance(item, Completion):
            completion = item
    done = time.perf_counter()
    assert completion is not None
    gen_time = done - (first or loaded)
    tokens = completion.usage.completion_tokens
    rate = f"{tokens / gen_time:.0f} tok/s" if gen_time > 0 and tokens > 1 else "-"
    detail = (f"load {1000 * (loaded - started):.0f} ms · first token {1000 * ((first or done) - loaded):.0f} ms · "
              f"{tokens} tokens in {1000 * (done - loaded):.0f} ms · {rate} · reply {completion.content.strip()[:40]!r}")
    return True, detail


def cmd_models_check(args: argparse.Namespace) -> int:
    from moot.backends import BackendError, ConfigError, ModelRegistry, load_models
    config = load_models(args.models)
    names = [args.name] if args.name else list(config.models)
    if args.name:
        config.get(args.name)  # unknown name: a ConfigError naming the models there are
    registry = ModelRegistry(config, retry_delays=())
    failures = 0

    async def run() -> None:
        nonlocal failures
        try:
            for name in names:
                try:
                    ok, detail = await _check_one(registry, name)
                    out.print(f"[green]ok[/]    {name}: {detail}")
                except (BackendError, ConfigError) as exc:
                    failures += 1
                    text = "; ".join(exc.problems) if isinstance(exc, ConfigError) else str(exc)
                    out.print(f"[red]fail[/]  {name}: {text}")
        finally:
            await registry.aclose()

    asyncio.run(run())
    return EXIT_FAILED if failures else EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    """Stream one reply from a model: the quickest way to see a model answer."""
    from moot.backends import BackendError, ChatMessage, Completion, Delta, ModelRegistry, Notice, load_models
    config = load_models(args.models)
    registry = ModelRegistry(config)
    client = registry.client(args.model)
    messages = []
    if args.system:
        messages.append(ChatMessage("system", args.system))
    messages.append(ChatMessage("user", args.prompt))

    async def run() -> None:
        try:
            async for item in client.stream(messages, max_tokens=args.max_tokens):
                if isinstance(item, Delta):
                    out.print(item.content, end="", markup=False)
                elif isinstance(item, Notice):
                    err.print(f"[yellow]{item.text}[/]", markup=True)
                elif isinstance(item, Completion):
                    out.print()
                    u = item.usage
                    err.print(f"[dim]{item.model} · {u.prompt_tokens} prompt + {u.completion_tokens} completion tokens[/]")
        finally:
            await registry.aclose()

    try:
        asyncio.run(run())
    except BackendError as exc:
        err.print(f"[red]moot: {exc}[/]", markup=True)
        return EXIT_FAILED
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from .headless import main_run

    return main_run(args, out, err)


def cmd_teams(args: argparse.Namespace) -> int:
    from moot.backends import ConfigError
    from moot.agents import list_teams, load_team

    table = Table(title="teams", title_justify="left")
    for col in ("name", "members", "chat", "file"):
        table.add_column(col)
    for name, path in list_teams():
        try:
            team = load_team(str(path))
        except ConfigError as exc:
            table.add_row(name, f"[red]{exc.problems[0]}[/]", "", str(path))
            continue
        chat = f"group ({team.spec.chat.speaker_selection})" if team.is_group else "two agents"
        table.add_row(name, ", ".join(m.name for m in team.spec.members), chat, str(path))
    out.print(table)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moot",
        description="An offline-first multi-agent workbench: AutoGen-style agents on local models.",
    )
    parser.add_argument("--version", action="version", version=f"moot {_version()}")
    parser.add_argument("--models", metavar="FILE", help="models.toml to use (else $MOOT_MODELS, ./models.toml, "
                        "the user config dir, the packaged default)")
    # With no command, moot opens the terminal app; these open it straight into a running chat.
    parser.add_argument("--team", help="open the app straight into a chat with this team (a name or a team file)")
    parser.add_argument("--task", help="with --team: the task the chat starts with")
    parser.add_argument("--executor", dest="tui_executor", choices=("docker", "local"),
                        help="with --team: where code runs (overrides the team file)")
    parser.add_argument("--work-dir", dest="tui_work_dir", help="with --team: the folder code runs in")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = sub.add_parser("models", help="list and check the models of models.toml")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = models_sub.add_parser("list", help="name, backend, model, capabilities and status of each model")
    p.set_defaults(func=cmd_models_list)
    p = models_sub.add_parser("check", help="load or ping each model and run a tiny completion")
    p.add_argument("name", nargs="?", help="only this model")
    p.set_defaults(func=cmd_models_check)

    p = sub.add_parser("run", help="run a team on a task, headless, streaming the chat to the terminal")
    p.add_argument("team", help="a team name (teams/NAME.toml) or a team file")
    p.add_argument("--task", required=True, help="what the team should do")
    p.add_argument("--executor", choices=("docker", "local"), help="where code runs (overrides the team file)")
    p.add_argument("--work-dir", help="the folder code runs in (overrides the team file)")
    p.add_argument("--human-input", choices=("ALWAYS", "TERMINATE", "NEVER"),
                   help="the user proxy's human_input_mode (default: the team's; NEVER when stdin is no terminal)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("teams", help="list the teams moot can find")
    p.set_defaults(func=cmd_teams)

    p = sub.add_parser("ask", help="stream one reply from a model")
    p.add_argument("prompt")
    p.add_argument("--model", help="a models.toml name (default: the file's default)")
    p.add_argument("--system", help="a system message")
    p.add_argument("--max-tokens", type=int, default=None)
    p.set_defaults(func=cmd_ask)
    from .memory_cmd import add_memory_commands
    add_memory_commands(sub)
    from .sessions_cmd import add_sessions_commands
    add_sessions_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        if args.task and not args.team:
            parser.error("--task needs --team")
        from .app import run_app

        return run_app(args)
    from moot.backends import ConfigError

    try:
        return args.func(args)
    except ConfigError as exc:
        return _report_config_error(exc)
    except KeyboardInterrupt:
        err.print("[yellow]moot: interrupted[/]")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
