"""The ``moot`` command line. Heavy imports (llama_cpp, chromadb, docker, Textual) happen inside
the commands that need them, so ``moot --help`` answers at once."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from .cli_output import Column, print_json, print_table

# backends (pydantic models, ~0.2 s to import) is imported by the commands that use it, so the app's
# first frame does not wait for it.
if TYPE_CHECKING:
    from moot.backends import ConfigError, ModelRegistry

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # ~7 ms: only for --version

    try:
        return version("moot")
    except PackageNotFoundError:
        return "0+unknown"


class _VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="show moot's version and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: Any = None) -> None:
        parser._print_message(f"moot {_version()}\n", sys.stdout)  # as argparse's own "version" action
        parser.exit()


def _report_config_error(exc: ConfigError) -> int:
    err.print("[bold red]moot: configuration error[/]")
    for problem in exc.problems:
        err.print(f"  {problem}", markup=False)
    return EXIT_CONFIG


def _model_status(model) -> tuple[str, str | None]:
    """What ``moot models list`` says of a model: ``ready``, or ``unavailable`` and why."""
    problems = model.problems()
    if problems:
        return "unavailable", "; ".join(p.split(": ", 1)[-1] for p in problems)
    return "ready", None


def model_entries(config) -> list[dict[str, Any]]:
    """The rows of ``moot models list``, as ``--json`` prints them (the table shows the same)."""
    entries = []
    windows = asyncio.run(_windows(config))
    for m in config.models.values():
        status, reason = _model_status(m)
        window, window_from = windows[m.name]
        entries.append({"name": m.name, "backend": m.backend, "model": m.model, "model_path": m.model_path,
                        "default": m.name == config.default, "capabilities": _static_capabilities(m),
                        "window": window, "window_from": window_from, "status": status, "reason": reason})
    return entries


async def _windows(config) -> dict[str, tuple[int | None, str]]:
    """Each model's window and where it comes from ("models.toml", "server /props", "default"):
    its server is asked (a few seconds at most) when the model is ready; nothing is loaded."""
    from moot.backends import backend_class
    from moot.backends.config import WINDOW_PROBE_S

    async def one(m) -> tuple[int | None, str]:
        fallback = (m.context_length, "models.toml" if m.context_length_explicit else "default")
        try:
            backend = backend_class(m.backend)(m)
        except Exception:  # a backend that cannot be made here (a missing extra): what the file says
            return fallback
        try:
            if not m.problems():
                await asyncio.wait_for(backend.discover_window(), 2 * WINDOW_PROBE_S + 1)
            return backend.context_window(), backend.window_source()
        except Exception:
            return fallback
        finally:
            await backend.aclose()

    found = await asyncio.gather(*(one(m) for m in config.models.values()))
    return dict(zip(config.models, found))


def _tokens(n: int | None) -> str:
    """A window as ``moot models list`` shows it: 8192 -> 8k, 200000 -> 200k."""
    if not n:
        return "-"
    if n % 1024 == 0:
        return f"{n // 1024}k"
    return f"{n / 1000:.0f}k" if n >= 1000 else str(n)


def cmd_models_list(args: argparse.Namespace) -> int:
    from moot.backends import load_models
    config = load_models(args.models)
    entries = model_entries(config)
    if args.json:
        print_json(out, {"source": config.source, "found_by": config.found_by, "default": config.default,
                         "models": entries})
        return EXIT_OK
    rows = []
    for e in entries:
        status = Text(e["reason"], style="red") if e["reason"] else Text(e["status"], style="green")
        rows.append([e["name"] + (" (default)" if e["default"] else ""), e["backend"],
                     e["model"] or e["model_path"] or "-", ", ".join(e["capabilities"]) or "-",
                     f"{_tokens(e['window'])} {e['window_from']}", status])
    columns = [Column("name", no_wrap=True), Column("backend", no_wrap=True), Column("model"),
               Column("capabilities"), Column("window", no_wrap=True), Column("status")]
    print_table(out, f"models from {config.source} ({config.found_by})", columns, rows)
    return EXIT_OK


def _static_capabilities(model) -> list[str]:
    """Capabilities as declared, or the backend's defaults, without loading anything heavy."""
    from moot.backends import ConfigError, backend_class

    try:
        return backend_class(model.backend).capabilities_for(model).as_list()
    except ConfigError:
        return []


async def _check_one(registry: ModelRegistry, name: str) -> tuple[bool, str]:
    from moot.backends import ChatMessage, Completion, Delta
    backend = registry.backend(name)
    started = time.perf_counter()
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
    window = await backend.discover_window()
    detail = (f"load {1000 * (loaded - started):.0f} ms · first token {1000 * ((first or done) - loaded):.0f} ms · "
              f"{tokens} tokens in {1000 * (done - loaded):.0f} ms · {rate} · window {_tokens(window)} "
              f"{backend.window_source()} · reply {completion.content.strip()[:40]!r}")
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


def team_entries() -> list[dict[str, Any]]:
    """The teams moot can find, as ``moot teams --json`` prints them (the table shows the same)."""
    from moot.agents import list_teams, load_team
    from moot.backends import ConfigError

    entries = []
    for name, path in list_teams():
        try:
            team = load_team(str(path))
        except ConfigError as exc:
            entries.append({"name": name, "file": str(path), "description": None, "members": [], "chat": None,
                            "speaker_selection": None, "error": "; ".join(exc.problems), "warnings": []})
            continue
        spec = team.spec
        entries.append({"name": name, "file": str(path), "description": spec.description,
                        "members": [{"name": m.name, "role": m.role, "model": m.model} for m in spec.members],
                        "chat": "group" if team.is_group else "two_agents",
                        "speaker_selection": spec.chat.speaker_selection, "error": None,
                        "warnings": list(team.warnings)})
    return entries


def cmd_teams(args: argparse.Namespace) -> int:
    entries = team_entries()
    if args.json:
        print_json(out, {"teams": entries})
        return EXIT_OK
    rows: list[list[str | Text]] = []
    for e in entries:
        if e["error"]:
            rows.append([e["name"], Text(e["error"], style="red"), "", e["file"]])
            continue
        chat = f"group ({e['speaker_selection']})" if e["chat"] == "group" else "two agents"
        rows.append([e["name"], ", ".join(m["name"] for m in e["members"]), chat, e["file"]])
    columns = [Column("name", no_wrap=True), Column("members"), Column("chat"), Column("file", overflow="fold")]
    print_table(out, "teams", columns, rows)
    for e in entries:  # the transition graph's (the team still loads), each naming its file
        for warning in e["warnings"]:
            out.print(Text(f"warning: {warning}", style="yellow"))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moot",
        description="An offline-first multi-agent workbench: AutoGen-style agents on local models.",
    )
    parser.add_argument("--version", action=_VersionAction)
    parser.add_argument("--models", metavar="FILE", help="models.toml to use (else $MOOT_MODELS, ./models.toml, "
                        "the user config dir, the packaged default)")
    # With no command, moot opens the terminal app; these open it straight into a running chat.
    parser.add_argument("--team", help="open the app straight into a chat with this team (a name or a team file)")
    parser.add_argument("--task", help="with --team: the task the chat starts with")
    parser.add_argument("--executor", dest="tui_executor", choices=("docker", "sandbox", "local"),
                        help="with --team: where code runs (overrides the team file)")
    parser.add_argument("--work-dir", dest="tui_work_dir", help="with --team: the folder code runs in")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = sub.add_parser("models", help="list and check the models of models.toml")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = models_sub.add_parser("list", help="name, backend, model, capabilities, window and status of each model")
    p.add_argument("--json", action="store_true", help="print JSON (fields: see the README)")
    p.set_defaults(func=cmd_models_list)
    p = models_sub.add_parser("check", help="load or ping each model and run a tiny completion")
    p.add_argument("name", nargs="?", help="only this model")
    p.set_defaults(func=cmd_models_check)

    p = sub.add_parser("run", help="run a team on a task, headless, streaming the chat to the terminal")
    p.add_argument("team", help="a team name (teams/NAME.toml) or a team file")
    p.add_argument("--task", required=True, help="what the team should do")
    p.add_argument("--executor", choices=("docker", "sandbox", "local"), help="where code runs (overrides the team file)")
    p.add_argument("--work-dir", help="the folder code runs in (overrides the team file)")
    p.add_argument("--human-input", choices=("ALWAYS", "TERMINATE", "NEVER"),
                   help="the user proxy's human_input_mode (default: the team's; NEVER when stdin is no terminal)")
    p.add_argument("--otel-file", metavar="FILE", help="write the run's OpenTelemetry spans as JSON lines")
    p.add_argument("--otel-content", action="store_true", help="put message contents in the spans")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("teams", help="list the teams moot can find")
    p.add_argument("--json", action="store_true", help="print JSON (fields: see the README)")
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
    from .mcp_cmd import add_mcp_commands
    add_mcp_commands(sub)
    from .eval_cmd import add_eval_commands
    add_eval_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Start-up makes long-lived objects only (modules, classes, the parser, the app's widgets):
    # collecting while they are made is wasted work (~20 ms of the app's first frame). The app
    # turns the collector back on once its first screen is up (``quiet_gc``), a command at once.
    collecting = gc.isenabled()
    gc.disable()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            if args.task and not args.team:
                parser.error("--task needs --team")
            from .app import run_app

            return run_app(args)
    finally:
        if collecting:
            gc.enable()
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
