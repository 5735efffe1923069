"""``moot run TEAM --task TEXT``: a team's chat streamed to the terminal with Rich.

stdout carries the chat only (each turn under its speaker's name, executor output set apart);
notices, the stop reason and usage go to stderr. The exit code says how the run stopped.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field

from rich.console import Console
from rich.text import Text

from moot.agents import events as ev

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
# Stop conditions that mean the run failed rather than ended as the team intended.
FAILED_CONDITIONS = frozenset({"error", "cancelled", "backend_error", "executor_unavailable"})
PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta")


@dataclass
class ConsoleRenderer:
    """Renders chat events as they come; the same events the TUI and the session store consume."""

    out: Console
    err: Console
    colours: dict[str, str] = field(default_factory=dict)
    streamed: set[str] = field(default_factory=set)
    open_line: bool = False
    usage: dict[str, list[int]] = field(default_factory=dict)
    stopped: ev.Stopped | None = None
    root_chat: str | None = None

    def colour(self, name: str) -> str:
        if name not in self.colours:
            self.colours[name] = PALETTE[len(self.colours) % len(PALETTE)]
        return self.colours[name]

    def _end_line(self) -> None:
        if self.open_line:
            self.out.print()
            self.open_line = False

    def header(self, name: str, note: str = "") -> None:
        self._end_line()
        title = Text(f" {name} ", style=f"bold {self.colour(name)}")
        if note:
            title.append(f" {note}", style="dim")
        self.out.rule(title, align="left", style=self.colour(name))

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.ChatStarted):
            if self.root_chat is None:
                self.root_chat = event.chat_id
            elif event.parent_chat_id:
                self._end_line()
                self.out.print(Text(f"  nested chat: {event.initiator} -> {', '.join(event.participants)}", style="dim"))
        elif isinstance(event, ev.SpeakerSelected):
            self._end_line()
            why = f" ({event.reason})" if event.reason else ""
            self.out.print(Text(f"next: {event.speaker} by {event.method}{why}", style="dim italic"))
        elif isinstance(event, ev.TokenDelta):
            if event.message_id not in self.streamed:
                self.streamed.add(event.message_id)
                self.header(event.agent)
            self.out.print(event.text, end="", markup=False, highlight=False)
            self.open_line = not event.text.endswith("\n")
        elif isinstance(event, ev.MessagePosted):
            if event.message_id in self.streamed:
                self._end_line()
            elif event.content or event.tool_calls:
                self.header(event.sender, f"to {event.recipient}")
                if event.content:
                    self.out.print(event.content, markup=False, highlight=False)
            for call in event.tool_calls:
                fn = call.get("function", {})
                self.out.print(Text(f"  -> {fn.get('name')}({fn.get('arguments', '')})", style="bold"))
        elif isinstance(event, ev.ToolResult):
            self._end_line()
            style = "red" if event.is_error else "green"
            fixed = " (arguments repaired)" if event.repaired else ""
            self.out.print(Text(f"  <- {event.name}{fixed}: {event.content}", style=style))
        elif isinstance(event, ev.CodeBlockFound):
            self._end_line()
            label = event.filename or event.language
            action = {"run": "running", "edited": "running the edited", "skipped": "skipped"}.get(event.action, event.action)
            self.out.rule(Text(f" executor: {action} {label} ", style="bold white on grey23"), align="left", style="grey50")
        elif isinstance(event, ev.ExecutorOutput):
            text = Text(event.text, style="red" if event.stream == "stderr" else "grey70")
            self.out.print(text, end="")
            self.open_line = not event.text.endswith("\n")
        elif isinstance(event, ev.ExecutionFinished):
            self._end_line()
            ok = event.exit_code == 0
            why = f" · {event.killed_reason}" if event.killed_reason else ""
            self.out.print(Text(f"exit {event.exit_code} · {event.duration_s:.2f} s{why}",
                                style="green" if ok else "bold red"))
            self.out.rule(style="grey50")
        elif isinstance(event, ev.HumanInputRequested):
            self._end_line()
        elif isinstance(event, ev.UsageReport):
            u = self.usage.setdefault(event.model, [0, 0, 0])
            u[0] += event.prompt_tokens
            u[1] += event.completion_tokens
            u[2] += event.cached_tokens
        elif isinstance(event, ev.NoticeEvent):
            self._end_line()
            self.err.print(Text(f"[{event.kind}] {event.agent}: {event.text}", style="yellow"))
        elif isinstance(event, ev.Stopped):
            self._end_line()
            if event.chat_id == self.root_chat:
                self.stopped = event

    def summary(self) -> None:
        if self.stopped is not None:
            self.err.print(Text(f"stopped: {self.stopped.reason} [{self.stopped.condition}]", style="bold"))
        for model, (p, c, cached) in self.usage.items():
            reuse = f" ({cached} prompt tokens reused from cache)" if cached else ""
            self.err.print(Text(f"usage: {model}: {p} prompt + {c} completion tokens{reuse}", style="dim"))


async def run_team(team, task: str, renderer: ConsoleRenderer, *, executor: str | None = None,
                   work_dir: str | None = None, human_input_mode: str | None = None, recorder=None):
    """Build the team and stream its chat through ``renderer`` (and ``recorder``, the session
    store's sink, when given); returns the ChatResult."""
    built = team.build(executor=executor, work_dir=work_dir, human_input_mode=human_input_mode)
    stream = built.initiator.run_stream(built.recipient, message=task, **built.chat_kwargs)
    try:
        async for event in stream:
            if recorder is not None:
                recorder(event)
            renderer(event)
    finally:
        await stream.aclose()
    return stream.result


def main_run(args, out: Console, err: Console) -> int:
    """The body of ``moot run``: config checked first, then the chat, then the exit code."""
    from moot.agents import load_team, use_models
    from moot.backends import BackendError, ConfigError, load_models
    from moot.executors import ExecutorError

    models = load_models(args.models)
    team = load_team(args.team, models)
    problems = [p for name in team.models_used(models.default) for p in models.get(name).problems()]
    if problems:
        raise ConfigError([f"{models.source}: {p}" for p in problems])
    use_models(models)
    mode = args.human_input
    if mode is None and not sys.stdin.isatty():
        mode = "NEVER"  # nobody can answer: never wait for a human
    renderer = ConsoleRenderer(out, err)
    from moot.memory import SessionStore, SessionStoreError

    try:
        recorder = SessionStore.open_default().recorder(
            title=args.task.strip().splitlines()[0][:80] if args.task.strip() else team.name, team=team,
            task=args.task, models=models,
            options={"executor": args.executor, "work_dir": args.work_dir, "human_input_mode": mode})
    except SessionStoreError as exc:
        err.print(Text(f"moot: {exc}", style="bold red"))
        return EXIT_CONFIG
    err.print(Text(f"session {recorder.session_id} (moot sessions show {recorder.session_id})", style="dim"))
    try:
        asyncio.run(run_team(team, args.task, renderer, executor=args.executor, work_dir=args.work_dir,
                             human_input_mode=mode, recorder=recorder))
    except KeyboardInterrupt:
        recorder.close(interrupted=True, reason="the run was stopped with Ctrl-C")
        renderer._end_line()
        err.print("[yellow]moot: interrupted; the run was stopped[/]")
        return EXIT_INTERRUPTED
    except (BackendError, ExecutorError) as exc:
        recorder.close(status="failed", reason=str(exc))
        renderer._end_line()
        err.print(Text(f"moot: {exc}", style="bold red"))
        renderer.summary()
        return EXIT_FAILED
    finally:
        recorder.close()
    renderer.summary()
    if renderer.stopped is not None and renderer.stopped.condition in FAILED_CONDITIONS:
        return EXIT_FAILED
    return EXIT_OK
