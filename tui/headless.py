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
from moot.agents.transcript import (
    Change,
    ExecutionTurn,
    MessageTurn,
    NoticeTurn,
    SpeakerChoice,
    ToolResultTurn,
    Transcript,
)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
# Stop conditions that mean the run failed rather than ended as the team intended.
FAILED_CONDITIONS = frozenset({"error", "cancelled", "backend_error", "executor_unavailable"})
PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta")


@dataclass
class ConsoleRenderer:
    """Renders chat events as they come, through the one transcript reducer the app and the
    Markdown export use (``moot.agents.transcript``)."""

    out: Console
    err: Console
    transcript: Transcript = field(default_factory=Transcript)
    colours: dict[str, str] = field(default_factory=dict)
    open_line: bool = False
    stopped: NoticeTurn | None = None  # the last stop of the top-level chat (reason, condition, outcome)

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
        if isinstance(event, ev.HumanInputRequested):
            self._end_line()  # the prompt starts on a line of its own
        for change in self.transcript.feed(event):
            self._draw(change)

    def _draw(self, change: Change) -> None:
        turn, what = change.turn, change.what
        if isinstance(turn, MessageTurn):
            self._draw_message(turn, what, change.text)
        elif isinstance(turn, SpeakerChoice):
            self._end_line()
            why = f" ({turn.reason})" if turn.reason else ""
            self.out.print(Text(f"next: {turn.speaker} by {turn.method}{why}", style="dim italic"))
        elif isinstance(turn, ToolResultTurn):
            self._end_line()
            style = "red" if turn.is_error else "green"
            fixed = " (arguments repaired)" if turn.repaired else ""
            self.out.print(Text(f"  <- {turn.name}{fixed}: {turn.content}", style=style))
        elif isinstance(turn, ExecutionTurn):
            self._draw_execution(turn, what, change.text)
        elif isinstance(turn, NoticeTurn):
            self._draw_notice(turn)

    def _draw_message(self, turn: MessageTurn, what: str, text: str) -> None:
        if what == "added":
            if turn.partial:
                self.header(turn.agent)
            elif not turn.empty:
                self.header(turn.agent, f"to {turn.recipient}")
                if turn.content:
                    self.out.print(turn.content, markup=False, highlight=False)
        elif what == "text":
            self.out.print(text, end="", markup=False, highlight=False)
            self.open_line = not text.endswith("\n")
        elif what == "posted":
            if turn.streamed:
                self._end_line()
            for call in turn.tool_calls:
                self.out.print(Text(f"  -> {call.name}({call.arguments})", style="bold"))
        elif what == "interrupted":
            self._end_line()

    def _draw_execution(self, turn: ExecutionTurn, what: str, text: str) -> None:
        if what == "added":
            self._end_line()
            label = turn.filename or turn.language
            action = {"run": "running", "edited": "running the edited", "skipped": "skipped"}.get(turn.action, turn.action)
            self.out.rule(Text(f" executor: {action} {label} ", style="bold white on grey23"), align="left", style="grey50")
        elif what == "output":
            self.out.print(Text(text, style="red" if turn.stream == "stderr" else "grey70"), end="")
            self.open_line = not text.endswith("\n")
        elif what == "finished":
            self._end_line()
            ok = turn.exit_code == 0
            why = f" · {turn.killed_reason}" if turn.killed_reason else ""
            self.out.print(Text(f"exit {turn.exit_code} · {turn.duration_s or 0:.2f} s{why}",
                                style="green" if ok else "bold red"))
            self.out.rule(style="grey50")

    def _draw_notice(self, turn: NoticeTurn) -> None:
        if turn.what == "stopped":
            self._end_line()
            if turn.depth == 0:
                self.stopped = turn
        elif turn.what == "nested_chat":
            self._end_line()
            self.out.print(Text(f"  {turn.text}", style="dim"))
        elif turn.what in ("human_reply", "memory"):
            pass  # the reply is the message that follows; memory notes are the app's
        else:
            self._end_line()
            self.err.print(Text(f"[{turn.what}] {turn.agent}: {turn.text}", style="yellow"))

    def summary(self) -> None:
        if self.stopped is not None:
            self.err.print(Text(f"stopped: {self.stopped.reason} [{self.stopped.condition}]", style="bold"))
        for model, u in self.transcript.usage.items():
            reuse = f" ({u['cached']} prompt tokens reused from cache)" if u["cached"] else ""
            self.err.print(Text(f"usage: {model}: {u['prompt']} prompt + {u['completion']} completion tokens{reuse}",
                                style="dim"))


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
