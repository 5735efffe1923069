"""``moot run TEAM --task TEXT``: a team's chat streamed to the terminal with Rich.

stdout carries the chat only (each turn under its speaker's name, executor output set apart);
notices, the stop reason and usage go to stderr. The exit code says how the run stopped.
"""

from __future__ import annotations

import asyncio
import signal
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
PALETTE = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan", "bright_magenta")


def _k(tokens: int) -> str:
    return f"{tokens / 1000:.1f}k" if tokens >= 1000 else str(tokens)


def context_meter(context: tuple[int, int, int] | None) -> str:
    """``ctx 3.1k/8k``: an agent's last prompt in its model's window ("" when the window is unknown)."""
    if not context or not context[1]:
        return ""
    prompt, window, _ = context
    whole = f"{window // 1024}k" if window % 1024 == 0 else _k(window)
    return f"ctx {_k(prompt)}/{whole}"


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
        elif what == "reasoning":
            if not turn.reasoning[len(text):]:  # its first piece
                self.out.print(Text("(thinking) ", style="dim italic"), end="")
            self.out.print(Text(text, style="dim italic"), end="")
            self.open_line = not text.endswith("\n")
        elif what == "posted":
            if turn.streamed:
                self._end_line()
            for call in turn.tool_calls:
                self.out.print(Text(f"  -> {call.name}({call.arguments})", style="bold"))
            meter = context_meter(self.transcript.context.get(turn.agent)) if turn.streamed else ""
            if meter:
                self.out.print(Text(f"  {meter}", style="dim"))
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
        meters = [f"{agent} {context_meter(c)}" for agent, c in self.transcript.context.items() if context_meter(c)]
        if meters:
            self.err.print(Text("context: " + " · ".join(meters), style="dim"))
        for model, u in self.transcript.usage.items():
            reuse = f" ({u['cached']} prompt tokens reused from cache)" if u["cached"] else ""
            self.err.print(Text(f"usage: {model}: {u['prompt']} prompt + {u['completion']} completion tokens{reuse}",
                                style="dim"))


#: Signals that stop a run the way Ctrl+C does: running code is killed, containers removed.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


async def drive(session, renderer: ConsoleRenderer, message: str | None = None,
                caught: list[int] | None = None) -> None:
    """Stream one run of ``session`` through ``renderer`` (the session records every event).

    SIGTERM and SIGHUP cancel the run like SIGINT does (asyncio's own handler), so leaving the
    session closes its executors: running code is killed and containers removed before moot
    exits. The first such signal is appended to ``caught``."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    caught = [] if caught is None else caught

    def stop(signum: int) -> None:
        if not caught:  # a second signal must not cut the clean-up short
            caught.append(signum)
            task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    try:
        async with session:
            async for event in session.stream(message):
                renderer(event)
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def run_session(session, renderer: ConsoleRenderer, err: Console, message: str | None = None) -> int:
    """Run ``session`` headless to its stop; the exit code comes from its outcome."""
    from moot.agents import exit_code

    caught: list[int] = []
    try:
        asyncio.run(drive(session, renderer, message, caught))
    except (KeyboardInterrupt, asyncio.CancelledError):
        renderer._end_line()
        how = f" by {signal.Signals(caught[0]).name}" if caught else ""
        err.print(f"[yellow]moot: cancelled{how}; resume it with `moot sessions resume {session.id}`[/]")
        return 128 + caught[0] if caught else EXIT_INTERRUPTED  # 143 for SIGTERM, 129 for SIGHUP
    except Exception as exc:  # the engine failed: the session is recorded as failed and can be resumed
        renderer._end_line()
        err.print(Text(f"moot: {type(exc).__name__}: {exc}", style="bold red"))
        renderer.summary()
        return EXIT_FAILED
    renderer.summary()
    if caught:  # the session took the cancel in its stride and stopped: still say what stopped it
        err.print(f"[yellow]moot: cancelled by {signal.Signals(caught[0]).name}; resume it with "
                  f"`moot sessions resume {session.id}`[/]")
        return 128 + caught[0]
    if session.outcome is not None and session.outcome.value != "completed":
        err.print(Text(f"outcome: {session.outcome.value}; resume it with `moot sessions resume {session.id}`",
                       style="yellow"))
    return exit_code(session.outcome) if session.outcome is not None else EXIT_FAILED


def main_run(args, out: Console, err: Console) -> int:
    """The body of ``moot run``: config checked first, then the chat, then the exit code."""
    from moot.agents import Session
    from moot.memory import SessionStoreError

    mode = args.human_input
    if mode is None and not sys.stdin.isatty():
        mode = "NEVER"  # nobody can answer: never wait for a human
    try:
        session = Session.start(args.team, args.task, models=args.models, executor=args.executor,
                                work_dir=args.work_dir, human_input_mode=mode)
    except SessionStoreError as exc:
        err.print(Text(f"moot: {exc}", style="bold red"))
        return EXIT_CONFIG
    err.print(Text(f"session {session.id} (moot sessions show {session.id})", style="dim"))
    code = run_session(session, ConsoleRenderer(out, err), err)
    trace(args, session)
    return code


def trace(args, session) -> None:
    """``--otel-file`` / ``$OTEL_EXPORTER_OTLP_ENDPOINT``: the run's spans, from its recorded events."""
    from moot.evals import tracer_from

    tracer = tracer_from(getattr(args, "otel_file", None), getattr(args, "otel_content", False))
    if tracer is not None and session.store is not None and session.id:
        try:
            tracer.session_from_store(session.store, session.id)
        finally:
            tracer.close()
