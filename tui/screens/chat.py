"""The chat screen: the conversation streaming on the left, the executor's runs on the right, the
status bar and the input bar below.

Events from the engine are queued as they come and drawn ten times a second: each is folded into
the transcript (``moot.agents.transcript``, the reducer the console and the Markdown export use
too) and the panes draw what it changed; consecutive token deltas of one message are joined into
one Markdown stream write, so a fast model never floods the UI and no delta is dropped.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from moot.agents import events as ev
from moot.agents.transcript import (
    Change,
    ExecutionTurn,
    MessageTurn,
    NoticeTurn,
    ToolResultTurn,
    Transcript,
)

from ..settings import declare, key_label
from ..widgets.lanes import AgentLanes
from ..widgets.lineage import LineageBar
from ..widgets.search import Match, SearchBar, find_matches
from ..widgets import ChatInput, ConversationPane, ExecutionEntry, ExecutorPane, StatusBar, TurnBlock

FLUSH_INTERVAL_S = 0.1  # ten draws a second: each draw re-lays out the pane, so fewer, bigger batches


class ChatScreen(Screen):
    CSS_PATH = "chat.tcss"
    BINDINGS = declare("chat", [
        # (first: shown beside the focused turn's own keys; only on a focused turn, so typed text never reaches it)
        Binding("f", "fork_here", "Fork here", id="chat.fork"),
        Binding("escape", "stop_turn", "Stop turn", id="chat.stop_turn"),
        Binding("ctrl+x", "stop_run", "Stop run", id="chat.stop", priority=True),
        Binding("ctrl+l", "focus_input", "Input", id="chat.focus_input"),
        Binding("ctrl+o", "toggle_executor", "Executor pane", id="chat.toggle_executor"),
        Binding("ctrl+t", "toggle_lanes", "Agents", id="chat.toggle_lanes"),
        Binding("ctrl+b", "back", "Home", id="chat.back"),
        Binding("ctrl+r", "toggle_reasoning", "Reasoning", id="chat.toggle_reasoning"),
        Binding("ctrl+f", "search", "Search", id="chat.search", priority=True),
        Binding("ctrl+s", "export", "Export", id="chat.export"),
    ])

    def __init__(self, team: Any, models: Any, *, task: str | None = None, executor: str | None = None,
                 work_dir: str | None = None, replay: list[ev.Event] | None = None,
                 session_id: str | None = None, session: Any = None, forked: str | None = None) -> None:
        """A chat with ``team``; with ``session_id``, the recorded session (its events in
        ``replay``) is shown and goes on when the user types. ``session``: that session opened
        already (a fork made in another chat), ``forked`` saying what it was forked from."""
        super().__init__()
        self.team = team
        self.models = models
        self.initial_task = task
        self.executor_override = executor
        self.work_dir = work_dir
        self.replay = replay or []
        self.session_id = session_id
        self.session: Any = session  # moot.agents.Session: made by the first message (or opened at mount)
        self.forked = forked
        self.ready = False  # mounted, and the task (if any) started
        self.mode = "task"  # task | running | human | stopped | continue | ended
        self.pending: list[ev.Event] = []
        self.events_seen = 0
        self.root_chat: str | None = None
        self.transcript = Transcript()  # the turns, as the console and the export see them too
        self.current_turn: TurnBlock | None = None
        self.stream_started: dict[str, tuple[float, int]] = {}
        self.human_future: asyncio.Future[str] | None = None
        self.approval_future: asyncio.Future[Any] | None = None
        self.started_at: float | None = None
        self.elapsed_before = 0.0
        self.stopped_event: NoticeTurn | None = None  # the top-level chat's last stop (reason, condition)
        self.turn_stop_requested = False
        self.run_worker_ref: Any = None
        self.modal_request: tuple[Any, Any] | None = None  # (make the modal, its callback) until answered
        self.flush_lock = asyncio.Lock()
        self.root_messages = 0  # the top-level chat's turns in this run (a turn cut short counts)
        self.root_posted = 0  # ... of them posted (what the engine's limits count)
        self.from_you: list[str] = []  # what the human sent, not yet shown as a turn (shown as "you")
        self.matches: list[Match] = []
        self.match_at = -1
        self.last_export: Path | None = None
        self.queued: list[tuple[Static, str]] = []  # messages waiting for the next turn (their lines)
        self.send_after_stop: str | None = None  # sent now: goes out once the cut turn has stopped

    # -- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("moot", "bold"), f" · {self.team.name}", (f" · {self.team.spec.description}", "dim")),
                     id="chat-title")
        yield LineageBar(id="lineage")
        yield SearchBar(id="search-bar")
        with Horizontal(id="panes"):
            yield ConversationPane(id="conversation")
            yield ExecutorPane(id="executor")
            yield AgentLanes.for_team(self.team, self.models, id="lanes")
        with Horizontal(id="status-row"):
            yield StatusBar(id="status")
            yield Button("Stop", id="stop-button", variant="error", compact=True)
        yield ChatInput(id="input", placeholder=f"Describe the task for {self.team.name} and press Enter{self._try()}",
                        sent=getattr(self.app, "input_history", None))
        yield Footer()

    def _try(self) -> str:
        """' · try: TASK' when the team file suggests a first task."""
        task = getattr(self.team.spec, "suggested_task", None)
        return f" · try: {task}" if task else ""

    @property
    def conversation(self) -> ConversationPane:
        return self.query_one(ConversationPane)

    @property
    def executor_pane(self) -> ExecutorPane:
        return self.query_one(ExecutorPane)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def input(self) -> ChatInput:
        return self.query_one("#input", ChatInput)

    def _session_options(self) -> dict[str, Any]:
        settings = getattr(self.app, "settings", {})
        approve_code = "all" if settings.get("approve_all_code", False) else (
            "local" if settings.get("approve_local_code", True) else "none")
        return {"ask_human": self.ask_human, "approve": self.approve, "approve_code": approve_code,
                "executor": self.executor_override, "work_dir": self.work_dir}

    def _store(self) -> Any:
        opener = getattr(self.app, "session_store", None)
        return opener() if opener else None

    async def on_mount(self) -> None:
        from moot.agents import Session, budgets_of

        if self.session is not None:
            self._wire_mcp()
        elif self.session_id:
            try:
                self.session = Session.open(self.session_id, store=self._store(), models=self.models,
                                            **self._session_options())
                self._wire_mcp()
            except Exception as exc:  # busy, damaged, a team that cannot be rebuilt: say why, stay usable
                self.notify(f"cannot go on with session {self.session_id}: {exc}", severity="error", timeout=10)
                self.mode = "ended"
        budgets = budgets_of(self.team)
        status = self.status
        if budgets:
            if budgets.max_round:
                status.max_round = budgets.max_round
            elif budgets.max_turns:
                status.round_word, status.max_round = "turn", budgets.max_turns
            else:
                status.round_word = "turn"
            status.token_budget = budgets.token_budget
            status.timeout_s = budgets.timeout_s
        status.refresh_text()
        self.set_interval(FLUSH_INTERVAL_S, self.flush)
        self.set_interval(1.0, self._tick)
        if self.replay:
            # the time it ran: the gaps between its events, less the pauses between its runs
            times = [e.ts for e in self.replay]
            self.elapsed_before = sum(min(b - a, 30.0) for a, b in zip(times, times[1:]) if b >= a)
            status.elapsed = self.elapsed_before
            self.from_you += _yours(self.replay)
            for event in self.replay:
                self.receive(event)
            await self.flush()
            for change in self.transcript.close("the session stopped before this reply was finished"):
                await self._draw_change(change)
            self.conversation.add_line(Text(f"— {self.forked}: Enter alone lets the agents go on from here, or type a "
                                            "message to take another way —" if self.forked else
                                            "— resumed: type a message to continue the conversation —", style="dim"))
            self.show_lineage()
            self.mode = "resumed" if self.session is not None else "ended"
            self._update_input()
        self.input.focus()
        if self.initial_task and self.mode != "ended":
            self.start(self.initial_task)
        self.ready = True

    # -- running ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.mode in ("running", "human")

    @property
    def waiting(self) -> bool:
        """Waiting for the user: a reply in the input bar, or code (or a tool) to approve."""
        return self.mode == "human" or self.approval_future is not None

    @property
    def shown(self) -> bool:
        return self.is_attached and self.app.screen is self

    def start(self, message: str | None) -> None:
        """Start the run (the task), or go on after a stop: with a message, the same chat takes
        it as a new turn; without one, a run that did not complete goes on where it stopped."""
        if self.mode == "ended":
            return
        if self.session is None:
            from moot.agents import Session

            try:
                self.session = Session.start(self.team, message, models=self.models, store=self._store(),
                                             record=self._store() is not None, **self._session_options())
            except Exception as exc:  # a team that cannot be built, a store that cannot record: say why
                self.notify(f"cannot start {self.team.name}: {exc}", severity="error", timeout=10)
                return
            self.session_id = self.session.id or None
            self._wire_mcp()
            self.from_you.append((message or "").strip())
            message = None  # the session's task
        if message:
            self.from_you.append(message.strip())
        self.stopped_event = None
        self.turn_stop_requested = False
        self.status.stop_reason = ""
        self.status.warning = ""
        self.mode = "running"
        self.started_at = time.monotonic()
        self._update_input()
        # The app's worker, not the screen's: leaving the chat (F3, Ctrl+B) does not end the run.
        self.run_worker_ref = self.app.run_worker(self._run(message), group=f"chat-{id(self)}", exclusive=True,
                                                  exit_on_error=False)
        self.app.chat_changed()

    async def _run(self, message: str | None) -> None:
        try:
            async for event in self.session.stream(message):
                self.receive(event)
        except Exception as exc:  # the engine failed: a turn marked failed, never a traceback
            await self.flush()
            why = f"{type(exc).__name__}: {exc}"
            if self.current_turn is not None and not self.current_turn.finished:
                self.current_turn.mark_failed(why)
            self.notify(f"the chat failed: {why}", severity="error", timeout=10)
            self.status.stop_reason = f"error: {why}"
        finally:
            if self.is_attached:  # (the app may be closing its screens)
                await self.flush()
            if self.started_at is not None:
                self.elapsed_before += time.monotonic() - self.started_at
                self.started_at = None
            self._resolve_waits()
            self.mode = "continue" if self.turn_stop_requested else "stopped"
            if self.is_attached:
                self._update_input()
                if self.shown:
                    self.input.focus()
                self.status.state = "stopped"
                self.status.refresh_text()
                self.post_message(self.RunFinished())
                self.app.chat_changed()

    async def on_unmount(self) -> None:
        """Leaving the chat closes its session: executors, backends, the recorder."""
        if self.session is not None:
            session, self.session = self.session, None
            try:
                await session.aclose()
            except Exception:  # closing must not take the app down
                pass

    class RunFinished(Message):
        """The run ended (tests and the tmux driver wait for it)."""

    def on_chat_screen_run_finished(self) -> None:
        if self.send_after_stop is not None:  # the turn is cut: what the user sent now goes out
            text, self.send_after_stop = self.send_after_stop, None
            self.start(text)

    def _resolve_waits(self) -> None:
        if self.human_future is not None and not self.human_future.done():
            self.human_future.set_result("exit")
        self.modal_request = None
        if self.approval_future is not None and not self.approval_future.done():
            self.approval_future.set_result("skip")
            if self.is_attached and isinstance(self.app.screen, _approval_screen_type()):
                self.app.pop_screen()

    def _ask_modal(self, make: Any, done: Any) -> None:
        """An approval modal: shown now, or when the user comes back to this chat (also after
        leaving it with the modal open: it is asked again)."""
        self.modal_request = (make, done)
        self._show_modal()

    def _show_modal(self) -> None:
        if self.modal_request is None or not self.shown:
            self.app.chat_changed()
            return
        make, done = self.modal_request

        def answered(answer: Any) -> None:
            self.modal_request = None
            done(answer)

        self.app.push_screen(make(), callback=answered)

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self._show_modal)  # (after a modal's own answer, which comes first)

    # -- callbacks the engine awaits ----------------------------------------------------------

    async def ask_human(self, agent: str, prompt: str) -> str:
        await self.flush()
        loop = asyncio.get_running_loop()
        self.human_future = loop.create_future()
        self.mode = "human"
        question, hint = _question(agent, prompt)
        self.conversation.add_line(Text.assemble(("? ", "bold yellow"), (question, "bold"), (f"  ({hint})", "dim")), "ask")
        self._update_input(f"{question} · {hint}")
        if self.shown:
            self.input.focus()
        self.app.chat_changed()
        try:
            return await self.human_future
        finally:
            self.human_future = None
            if self.mode == "human":
                self.mode = "running"
                self._update_input()
            self.app.chat_changed()

    async def approve(self, agent: str, block: Any) -> Any:
        await self.flush()
        from .approval import ApprovalScreen

        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.approval_future = future
        kind = self.session.executor_kind(agent) if self.session is not None else None
        author = self._author_of(agent, block.code)

        def done(answer: Any) -> None:
            if not future.done():
                future.set_result(answer)

        self._ask_modal(lambda: ApprovalScreen(agent, block.language, block.code, kind, author=author), done)
        self._pause_clock()
        try:
            return await future
        finally:
            self._resume_clock()
            self.approval_future = None
            self.app.chat_changed()

    def _author_of(self, agent: str, code: str) -> str:
        """Who wrote the code ``agent`` is about to run: the sender of the message it came in
        (AutoGen's ``chat_messages``; in a group, the message's ``name``), "" if not found."""
        member = self.session.members.get(agent) if self.session is not None else None
        for sender, messages in (getattr(member, "chat_messages", None) or {}).items():
            for message in reversed(messages[-3:]):
                if code.strip() and code.strip() in str(message.get("content") or "") and message.get("role") != "assistant":
                    return str(message.get("name") or getattr(sender, "name", ""))
        return ""

    def _pause_clock(self) -> None:
        """While the user decides, the chat's clock (and the team's timeout_s) stands still."""
        if self.started_at is not None:
            self.elapsed_before += time.monotonic() - self.started_at
            self.started_at = None
            self.status.elapsed = self.elapsed_before
            self.status.refresh_text()

    def _resume_clock(self) -> None:
        if self.running and self.started_at is None:
            self.started_at = time.monotonic()

    def _tool_label(self, name: str, args: str = "") -> str:
        """A tool's name as a fold shows it: an MCP tool as its own name and its server's."""
        mcp = self.session.built.mcp if self.session is not None else None
        origin = mcp.origins.get(name) if mcp is not None else None
        return f"{origin[1]}{args} · MCP {origin[0]}" if origin else f"{name}{args}"

    def _wire_mcp(self) -> None:
        """MCP tool calls that need approval ask here (the team's MCP servers, if it has any)."""
        mcp = self.session.built.mcp if self.session is not None else None
        if mcp is not None:
            mcp.approve = self.approve_tool

    async def approve_tool(self, server: str, tool: str, arguments: dict[str, Any]) -> Any:
        await self.flush()
        from .mcp_approval import McpApprovalScreen

        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.approval_future = future

        def done(answer: Any) -> None:
            if not future.done():
                future.set_result(answer)

        agent = next((p.executor.name for p in self.session.built.mcp.picks), "") if self.session is not None else ""
        self._ask_modal(lambda: McpApprovalScreen(agent, server, tool, arguments), done)
        self._pause_clock()
        try:
            return await future
        finally:
            self._resume_clock()
            self.approval_future = None
            self.app.chat_changed()

    # -- events -------------------------------------------------------------------------------

    def receive(self, event: ev.Event) -> None:
        """Queue an event; it is drawn at the next flush (in order, deltas joined)."""
        self.pending.append(event)

    async def flush(self) -> None:
        """Draw every queued event, in order; a caller that finds a flush under way waits for it."""
        if not self.pending and not self.flush_lock.locked():
            return
        async with self.flush_lock:
            while self.pending:
                batch, self.pending = self.pending, []
                self.query_one(AgentLanes).feed(batch)
                i = 0
                while i < len(batch):
                    event = batch[i]
                    if type(event) is ev.TokenDelta:
                        feed = self.transcript.feed
                        feed(event)
                        parts = [event.text]
                        j = i + 1
                        while j < len(batch) and type(batch[j]) is ev.TokenDelta and batch[j].message_id == event.message_id:
                            feed(batch[j])
                            parts.append(batch[j].text)
                            j += 1
                        await self._draw_tokens(event, "".join(parts), j - i)
                        self.events_seen += j - i
                        i = j
                    else:
                        try:
                            await self._draw_event(event)
                        except Exception as exc:  # a drawing bug must not take the app (or the chat) down
                            self._draw_failed(event, exc)
                        self.events_seen += 1
                        i += 1
            self.conversation.follow()
            self._mark_delivered()
            self.status.refresh_text()

    def _mark_delivered(self) -> None:
        """Queued messages the next speaker has read: their lines say so."""
        if not self.queued or self.session is None:
            return
        waiting = self.session.queued
        while self.queued and self.queued[0][1] not in waiting:
            line, text = self.queued.pop(0)
            who = self.status.speaker
            line.update(Text.assemble(("you", "bold"), (f" · sent with the next turn{f' ({who})' if who else ''}: ", "dim"), text))
            line.set_class(False, "-queued")
            line.add_class("-you")

    def _draw_failed(self, event: ev.Event, exc: Exception) -> None:
        self.log.error(f"cannot draw {event!r}: {exc!r}")
        if not getattr(self, "_draw_error_shown", False):
            self._draw_error_shown = True
            self.notify(f"could not show a {getattr(event, 'type', 'chat')} event ({type(exc).__name__}: {exc}); "
                        "the chat goes on and is recorded in full", severity="warning", timeout=10)

    async def _turn_for(self, turn: MessageTurn) -> TurnBlock:
        """The block that shows ``turn`` (made on first use)."""
        block = self.conversation.turns.get(turn.message_id)
        if block is None:
            content = turn.text  # (an executor's report keeps its lines as they are, folded when long)
            members = {m.name for m in self.team.spec.members}
            label = ""
            if turn.depth == 0 and not turn.partial and (turn.content or "").strip() in self.from_you:
                self.from_you.remove((turn.content or "").strip())
                label = "you"  # the human's task, follow-up or reply (sent as the initiator's message)
            block = await self.conversation.add_turn(turn.message_id, turn.agent, note=_turn_note(turn),
                                                     content=content if not turn.partial else "",
                                                     recipient=turn.recipient if turn.recipient in members else "",
                                                     label=label, report=turn.is_execution_report)
            self.current_turn = block
        return block

    async def _draw_tokens(self, first: ev.TokenDelta, text: str, count: int) -> None:
        turn = self.transcript.message(first.message_id)
        if turn is None or not turn.partial:
            return  # a delta after its message: the message is what counts
        block = await self._turn_for(turn)
        started, chars = self.stream_started.get(first.message_id, (time.monotonic(), 0))
        chars += len(text)
        self.stream_started[first.message_id] = (started, chars)
        elapsed = time.monotonic() - started
        self.status.streaming = sum(c for _, c in self.stream_started.values()) // 4
        if elapsed > 1.0 and chars >= 40:  # (a rate over the first few tokens says nothing: "1 tok/s")
            self.status.rate = chars / 4 / elapsed
        self.status.speaker = first.agent
        self.status.model = self.session.model_of(first.agent) if self.session else ""
        self.status.state = "streaming"
        await block.write(text)

    async def _draw_event(self, event: ev.Event) -> None:
        """One event: the status bar from the event itself, the panes from what it changed in the
        transcript."""
        self._track_status(event)
        for change in self.transcript.feed(event):
            await self._draw_change(change)

    def _track_status(self, event: ev.Event) -> None:
        status = self.status
        if isinstance(event, ev.ChatStarted):
            if event.parent_chat_id is None:
                self.root_chat = event.chat_id
        elif isinstance(event, ev.SpeakerSelected):
            status.speaker = event.speaker
            status.model = self.session.model_of(event.speaker) if self.session else ""
            known = self.transcript.context.get(event.speaker)
            status.context = (known[0], known[1]) if known else None
            status.state = "thinking"
        elif isinstance(event, ev.MessagePosted):
            if event.chat_id == self.root_chat:
                self.root_messages += 1
                self.root_posted += 1
                self._count_round()
        elif isinstance(event, ev.UsageReport):
            status.tokens += event.prompt_tokens + event.completion_tokens
            if event.agent == status.speaker or not status.speaker:
                status.context = (event.prompt_tokens, event.window)
        elif isinstance(event, ev.NoticeEvent) and event.kind == "continued" and event.chat_id == self.root_chat:
            self.root_messages = self.root_posted = 0  # a new run of the chat: its limits count afresh, and so does the bar
            status.round = 0
        elif isinstance(event, ev.NoticeEvent) and event.kind == "resumed" and event.chat_id == self.root_chat:
            # The run goes on where it stopped: the engine counts its posted messages (a turn cut
            # short is none, and its reply is asked for again), so the bar counts as it does.
            self.root_messages = self.root_posted
            self._count_round()

    def _count_round(self) -> None:
        """The bar's round (a group's messages) or turn (two messages) of this run."""
        n = self.root_messages
        self.status.round = n if self.team.is_group else (n + 1) // 2

    async def _draw_change(self, change: Change) -> None:
        turn = change.turn
        if isinstance(turn, MessageTurn):
            await self._draw_message(turn, change.what, change.text)
        elif isinstance(turn, ToolResultTurn):
            block = self.conversation.turns.get(turn.message_id or "") or self.current_turn
            if block is not None:
                fixed = " (arguments repaired)" if turn.repaired else ""
                mark = "✗" if turn.is_error else "←"
                block.add_tool_call(f"{mark} {self._tool_label(turn.name)}{fixed} · {turn.duration_s:.2f} s",
                                    turn.content, failed=turn.is_error)
        elif isinstance(turn, ExecutionTurn):
            await self._draw_execution(turn, change.what, change.text)
        elif isinstance(turn, NoticeTurn):
            self._draw_notice(turn)

    async def _draw_message(self, turn: MessageTurn, what: str, text: str) -> None:
        block = self.conversation.turns.get(turn.message_id)
        if what == "reasoning":
            (block or await self._turn_for(turn)).add_reasoning(text)
            self.status.state = "thinking"
        elif what == "added":
            if not turn.partial and not turn.empty:  # streamed turns are drawn with their first tokens
                (await self._turn_for(turn)).finished = True
        elif what == "posted":
            if block is not None and not block.finished:
                await block.finish(turn.content)
                if self.stream_started.pop(turn.message_id, None):
                    self.status.state = "waiting"
                self.status.streaming = sum(c for _, c in self.stream_started.values()) // 4
            if block is not None:
                for call in turn.tool_calls:
                    block.add_tool_call(f"→ {self._tool_label(call.name, '(…)')}", f"{call.name}({call.arguments})")
                if turn.truncated:
                    block.add_note("■ truncated: the model's stream closed before this reply was finished", "stopped")
        elif what == "interrupted":
            stop = self.transcript.last_stop
            self.stream_started.pop(turn.message_id, None)
            self.status.streaming = sum(c for _, c in self.stream_started.values()) // 4
            if turn.chat_id == self.root_chat and turn.streamed:  # a turn cut short is a turn taken
                self.root_messages += 1
                self._count_round()
            if block is None or block.finished:
                return
            if stop is not None and stop.outcome == "failed":
                block.mark_failed(stop.reason)
                return
            block.add_note(f"■ turn stopped ({key_label('chat.stop_turn')})" if self.turn_stop_requested else f"■ cut off: {turn.cut_reason}",
                           "stopped")
            block.finished = True
        elif what == "memory":
            note = turn.memory[-1]
            if block is not None:
                block.add_note(_memory_note(note.action, text), "memory")
            else:
                self.conversation.add_line(Text(_memory_note(note.action, text), style="dim"), "memory")

    async def _draw_execution(self, turn: ExecutionTurn, what: str, text: str) -> None:
        if what == "added":
            block = self.conversation.turns.get(turn.message_id or "")
            entry = await self.executor_pane.add_entry(turn.execution_id, turn.agent, turn.language, turn.code,
                                                       turn.action, turn.message_id if block is not None else None,
                                                       author=block.agent if block is not None else "")
            if turn.action == "skipped":
                entry.mark_skipped()
            if block is not None:
                block.execution_ids.append(turn.execution_id)
                verb = {"skipped": "skipped", "edited": "edited and run"}.get(turn.action, "run")
                block.add_note(f"▶ code {verb} as #{entry.number} (see the executor pane)", "exec")
            self.status.state = f"running code #{entry.number}"
            return
        entry = self.executor_pane.entries.get(turn.execution_id)
        if entry is None:
            return
        if what == "output":
            entry.append(text, turn.stream)
        elif what == "finished":
            entry.finish(turn.exit_code, turn.duration_s or 0.0, turn.output, turn.killed_reason)
            block = self.conversation.turns.get(entry.turn_id or "")
            if turn.exit_code != 0 and block is not None:
                block.add_note(f"✗ #{entry.number} failed: exit {turn.exit_code}", "failed")

    def _draw_notice(self, turn: NoticeTurn) -> None:
        if turn.what == "stopped":
            if turn.depth == 0:
                self._draw_stopped(turn)
        elif turn.what == "nested_chat":
            self.conversation.add_line(Text(turn.text, style="dim"))
        elif turn.what == "human_reply":  # a reply with words shows once: as the message it becomes ("you")
            if turn.text.strip() and turn.text.strip() != "exit":
                self.from_you.append(turn.text.strip())
            else:
                shown = "exit: end the chat" if turn.text.strip() else "(Enter alone: the auto-reply)"
                self.conversation.add_line(Text.assemble(("you", "bold"), ": ", shown), "you")
        elif turn.what == "memory":
            self.conversation.add_line(Text(_memory_note("", turn.text), style="dim"), "memory")
        else:
            if "stall" in turn.what.lower():
                self.status.warning = f"stall: {turn.text}"
            self.conversation.add_line(Text(f"[{turn.what}] {turn.agent}: {turn.text}", style="yellow"), "notice")
            if turn.what.startswith(("error", "executor_unavailable")):
                self.notify(turn.text, severity="error", timeout=8)

    def _draw_stopped(self, stop: NoticeTurn) -> None:
        self.stopped_event = stop
        status = self.status
        status.stop_reason = stop.reason or stop.condition
        if "stall" in stop.condition.lower() or stop.reason.startswith("stall"):
            status.warning = "stall detected"
        failed = stop.outcome == "failed"
        style = "bold red" if failed else ("bold yellow" if stop.outcome in ("cancelled", "interrupted") else "bold")
        self.conversation.add_line(Text.assemble(("■ stopped: ", style), stop.reason, (f"  [{stop.condition}]", "dim")), "stop")
        if failed:
            self.notify(stop.reason, title="the chat stopped", severity="error", timeout=10)

    def _tick(self) -> None:
        if self.started_at is not None:
            self.status.elapsed = self.elapsed_before + time.monotonic() - self.started_at
            self.status.refresh_text()

    # -- input --------------------------------------------------------------------------------

    def _update_input(self, prompt: str | None = None) -> None:
        box = self.input
        box.disabled = self.mode == "ended"
        if self.mode == "task":
            box.placeholder = f"Describe the task for {self.team.name} and press Enter{self._try()}"
        elif self.mode == "human":
            box.placeholder = prompt or "Your reply · Enter alone: the auto-reply · exit: end the chat"
        elif self.mode == "running":
            nxt = " · /next NAME chooses the next speaker" if self.team.is_group else ""
            box.placeholder = (f"Type a message: Enter queues it for the next turn, {key_label('chat.send_now')} sends it now{nxt} · "
                               f"{key_label('chat.stop_turn')} stops the turn · {key_label('chat.stop')} the run")
        elif self.mode == "resumed" and self.forked:
            box.placeholder = "Forked. Enter alone lets the agents go on from here; or type a message to take another way"
        elif self.mode == "resumed":
            box.placeholder = ("Resumed. Enter alone goes on where it stopped; or type a message to continue"
                               if self.session is not None and self.session.resumable
                               else "Resumed. Type a message to continue the conversation")
        elif self.mode == "continue":
            box.placeholder = "Turn stopped. Type a message to go on (Enter alone: let the agents continue)"
        elif self.mode == "stopped":
            box.placeholder = f"The run stopped. Type a message to continue the conversation, or {key_label('chat.back')} for home"
        else:
            box.placeholder = "This chat cannot run (see the notification)"
        self.status.state = {"task": "ready", "human": "waiting for you", "running": self.status.state}.get(self.mode, self.mode)
        self.status.refresh_text()

    @on(ChatInput.Submitted, "#input")
    def submitted(self, event: ChatInput.Submitted) -> None:
        text = event.value
        self.input.value = ""
        self.handle_input(text, now=event.now)

    def handle_input(self, text: str, now: bool = False) -> None:
        """What the user sent: a task, a reply, a command; while the agents run, a message queued for
        the next turn (``now``: the current turn is cut short and the message sent at once)."""
        stripped = text.strip()
        if self.mode == "human" and self.human_future is not None and not self.human_future.done():
            self.human_future.set_result(stripped)
            return
        if stripped.startswith("/next"):
            name = stripped[5:].strip()
            self.choose_next(name)
            return
        if stripped in ("/stop", "/quit"):
            self.stop_now("stopped by the user (/stop)")
            return
        if self.mode == "task":
            if stripped:
                self.start(stripped)
        elif self.mode == "running":
            if stripped and self.session is not None and now:
                who = self.status.speaker or "the current speaker"
                self.send_after_stop = stripped
                self.conversation.add_line(Text.assemble(("you", "bold"), (f" · now (stopping {who}'s turn): ", "dim"),
                                                         stripped), "you")
                self.action_stop_turn()
            elif stripped and self.session is not None:
                self.session.inject(stripped)
                line = self.conversation.add_line(Text.assemble(("you", "bold"), (" · queued for the next turn: ", "yellow"),
                                                                stripped), "queued")
                self.queued.append((line, stripped))
        elif self.mode in ("continue", "stopped", "resumed"):
            resumable = self.session is not None and self.session.resumable
            self.start(stripped or (None if resumable else "Continue."))

    def choose_next(self, name: str) -> None:
        if not name:
            names = [m.name for m in self.team.spec.members]
            self.notify(f"/next NAME: one of {', '.join(names)}", severity="warning")
            return
        if self.session is None:
            self.notify("/next works once the chat runs", severity="warning")
            return
        try:
            self.session.next_speaker(name)
        except ValueError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.conversation.add_line(Text.assemble(("you", "bold"), f": {name} speaks next"), "you")

    # -- actions ------------------------------------------------------------------------------

    def action_stop_turn(self) -> None:
        """Esc: cut the current turn short and stop cleanly; the user can then go on."""
        if not self.running or self.session is None:
            return
        who = self.status.speaker or "the current speaker"
        self.turn_stop_requested = True
        self.session.stop(f"the user stopped {who}'s turn ({key_label('chat.stop_turn')})")
        self._resolve_waits()
        self.status.state = "stopping…"
        self.status.refresh_text()
        self.set_timer(5.0, self._hard_stop)

    def action_stop_run(self) -> None:
        """Stop (Ctrl+X, the Stop button): asks first, then ends the run with a reason."""
        if not self.running or self.session is None:
            return
        from .dialogs import ConfirmScreen

        def answer(yes: bool | None) -> None:
            if yes:
                self.stop_now("stopped by the user (Stop)")

        self.app.push_screen(ConfirmScreen(f"Stop the run of {self.team.name}? "
                                           "(You can go on afterwards with a new message.)"), answer)

    def stop_now(self, reason: str) -> None:
        """End the run with ``reason`` (no question asked)."""
        if not self.running or self.session is None:
            return
        self.turn_stop_requested = False
        self.session.stop(reason)
        self._resolve_waits()
        self.status.state = "stopping…"
        self.status.refresh_text()
        self.set_timer(5.0, self._hard_stop)

    def _hard_stop(self) -> None:
        """A model still computing its prompt or code ignoring the stop: cancel the run."""
        if self.running and self.run_worker_ref is not None:
            self.run_worker_ref.cancel()

    def action_focus_input(self) -> None:
        self.input.focus()

    def action_toggle_executor(self) -> None:
        self.executor_pane.display = not self.executor_pane.display

    def action_toggle_lanes(self) -> None:
        self.query_one(AgentLanes).toggle_class("-hidden")

    def action_toggle_reasoning(self) -> None:
        """Open (or fold again) every turn's reasoning; turns to come follow."""
        pane = self.conversation
        pane.reasoning_open = not pane.reasoning_open
        for block in pane.turns.values():
            block.show_reasoning(pane.reasoning_open)

    # -- search, copy, export ------------------------------------------------------------------

    def action_search(self) -> None:
        bar = self.query_one(SearchBar)
        bar.open()
        if bar.query_text:
            self.find(bar.query_text, 0)

    def on_search_bar_find(self, message: SearchBar.Find) -> None:
        self.find(message.query, message.step)

    def find(self, query: str, step: int) -> None:
        """Every match of ``query`` in the conversation; go to the first (``step`` 0), next or previous."""
        self.matches = find_matches(self.conversation, query)
        total = len(self.matches)
        if not total:
            self.match_at = -1
        elif step == 0 or self.match_at < 0:
            self.match_at = 0
        else:
            self.match_at = (self.match_at + step) % total
        self._show_matches()

    def _show_matches(self) -> None:
        current = self.matches[self.match_at] if self.match_at >= 0 else None
        turns = {id(m.widget): self._turn_of(m.widget) for m in self.matches}
        current_turn = turns.get(id(current.widget)) if current is not None else None
        for block in self.conversation.turns.values():
            block.set_class(block in turns.values(), "-match")
            block.set_class(block is current_turn, "-match-current")
        self.selections = {current.widget: current.selection} if current is not None else {}
        if current is not None:
            self.conversation.scroll_to_widget(current.widget, animate=False, center=True)
        self.query_one(SearchBar).show_count(self.match_at, len(self.matches))

    def _turn_of(self, widget: Any) -> TurnBlock | None:
        node = widget
        while node is not None and not isinstance(node, TurnBlock):
            node = node.parent
        return node

    def on_search_bar_closed(self) -> None:
        self.matches, self.match_at = [], -1
        self._show_matches()
        self.input.focus()

    def copy_last_turn(self) -> None:
        turns = [t for t in self.conversation.turns.values() if t.text.strip()]
        if turns:
            turns[-1].action_copy()
        else:
            self.notify("nothing to copy yet", severity="warning", timeout=3)

    def action_export(self) -> None:
        """Export the chat (Markdown or JSON, the session's recording) to a file, saying where."""
        from .export import ExportScreen, write_export

        if self.session is None or not self.session.id:
            self.notify("nothing to export: this chat has not started (or is not recorded)", severity="warning")
            return
        session = self.session
        default = Path.cwd() / f"moot-{self.team.name}-{session.id[:8]}.md"

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            try:
                said = write_export(session, path)
            except (OSError, ValueError) as exc:
                self.notify(f"cannot export to {path}: {exc}", severity="error", timeout=10, markup=False)
                return
            self.last_export = path.resolve()
            self.notify(said, title="export", timeout=10, markup=False)

        self.app.push_screen(ExportScreen(default), chosen)

    # -- the session tree: fork from a turn ------------------------------------------------------

    def show_lineage(self) -> None:
        """The line under the title: what this session was forked from, and its forks."""
        store = self.session.store if self.session is not None and self.session.store is not None else self._store()
        self.query_one(LineageBar).show(store, self.session_id)

    def _focused_turn(self) -> TurnBlock | None:
        return self._turn_of(self.focused) if self.focused is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fork_here":  # the key forks at the focused turn (the palette asks which)
            return self._focused_turn() is not None
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()  # ("f Fork here" in the footer while a turn has the focus)

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    def action_fork_here(self) -> None:
        """Fork the session at the focused (or last selected) turn: a new session holding the
        messages up to it opens in a new chat, ready for a message; this one stays as it is.
        With no turn chosen, asks at which message."""
        if self.session is None and not self.session_id:
            self.notify("nothing to fork yet: the chat has not started", severity="warning", timeout=5)
            return
        if self.session is not None and not self.session.id:
            self.notify("this chat is not recorded (no session store), so it cannot be forked", severity="warning",
                        timeout=5)
            return
        block = self._focused_turn() or next((t for t in self.conversation.turns.values() if t.has_class("-selected")), None)
        if block is not None:
            turn = self.transcript.message(block.message_id)
            if turn is None or turn.partial:
                why = ("was cut off before it was posted, so the record does not hold it"
                       if turn is not None and turn.interrupted else "is still being written")
                self.notify(f"cannot fork at {_whose(block.label)}: it {why}; fork at an earlier turn"
                            + (f", or stop the turn first ({key_label('chat.stop_turn')})" if self.running else ""),
                            severity="warning", timeout=8, markup=False)
                return
            self.fork_at(turn.number, _whose(block.label))
            return
        last = max((t.number for t in self.transcript.messages.values() if not t.partial), default=0)
        if not last:
            self.notify("nothing to fork yet: no message has been posted", severity="warning", timeout=5)
            return
        from .dialogs import PromptScreen

        def answer(text: str | None) -> None:
            if text is not None and text.strip():
                if not text.strip().isdigit() or not 1 <= int(text) <= last:
                    self.notify(f"fork at which message? a number from 1 to {last}, not {text.strip()!r}",
                                severity="warning", timeout=6, markup=False)
                    return
                self.fork_at(int(text), "")

        self.app.push_screen(PromptScreen(f"Fork this session at which message? (1-{last}; or focus a turn and "
                                          f"press {key_label('chat.fork')})", str(last)), answer)

    def fork_at(self, number: int, what: str = "") -> None:
        """The fork at message ``number`` (1 = first), opened in a new chat screen. A running chat
        forks what is recorded so far (and goes on running here)."""
        store = self.session.store if self.session is not None else self._store()
        try:
            said = f"forked from “{store.get(self.session_id).title}” at message {number}" + (f" ({what})" if what else "")
            screen = ChatScreen(self.team, self.models, executor=self.executor_override, work_dir=self.work_dir,
                                forked=said)
            if self.session is not None:
                session = self.session.fork(number, **screen._session_options())  # (records what came so far)
                screen.session, screen.session_id = session, session.id
            else:  # a chat that could not go on (busy, damaged): the store forks it all the same
                screen.session_id = store.fork(self.session_id, number)
            replay = []
            for data in store.events(screen.session_id):
                try:
                    replay.append(ev.Event.from_dict(data))
                except (ValueError, TypeError):
                    continue  # an event type this moot does not know: the rest is shown
            screen.replay = replay
        except Exception as exc:  # a message not in the record, a store that fails, a team that cannot be rebuilt
            self.notify(f"cannot fork at message {number}: {exc}", severity="error", timeout=10, markup=False)
            return
        self.notify(f"{said}: new session {screen.session_id} (the original, {self.session_id}, is unchanged)",
                    title="fork", timeout=8, markup=False)
        self.show_lineage()
        self.app.show_chat(screen)

    def on_agent_lanes_filter(self, message: AgentLanes.Filter) -> None:
        """A lane selected: only that agent's turns (None: everyone's)."""
        for block in self.conversation.query(TurnBlock):
            block.display = message.agent is None or block.agent == message.agent

    async def action_back(self) -> None:
        """Back to Home; a running chat goes on there (Home marks it and brings you back)."""
        await self.app.action_home()

    @on(Button.Pressed, "#stop-button")
    def stop_pressed(self) -> None:
        self.action_stop_run()

    # -- the two panes stay linked ------------------------------------------------------------

    def on_turn_block_selected(self, message: TurnBlock.Selected) -> None:
        first = None
        for entry in self.executor_pane.entries.values():
            linked = entry.turn_id == message.turn.message_id
            entry.set_class(linked, "-linked")
            if linked and first is None:
                first = entry
        for turn in self.conversation.turns.values():
            turn.set_class(turn is message.turn, "-selected")
        if first is not None:
            self.executor_pane.scroll_to_widget(first, animate=False)

    def on_execution_entry_selected(self, message: ExecutionEntry.Selected) -> None:
        for entry in self.executor_pane.entries.values():
            entry.set_class(entry is message.entry, "-selected")
        turn = self.conversation.turns.get(message.entry.turn_id or "")
        for t in self.conversation.turns.values():
            t.set_class(t is turn, "-linked")
        if turn is not None:
            self.conversation.scroll_to_widget(turn, animate=False)

    def palette_commands(self) -> list[tuple[str, str, Any]]:
        cmds = [
            ("Stop the current turn", f"{key_label('chat.stop_turn')}: cut the turn short; then type to go on", self.action_stop_turn),
            ("Stop the run", "End the run with a reason", self.action_stop_run),
            ("Toggle the executor pane", "Show or hide the code runs", self.action_toggle_executor),
            ("Back to home", "Leave the chat (a run goes on in the background)", self.action_back),
            ("Focus the input bar", "Type a task, a reply, a message or /next NAME", self.action_focus_input),
            ("Search the conversation", f"{key_label('chat.search')}: find, next and previous", self.action_search),
            ("Copy the last turn", f"To the clipboard (on a focused turn: {key_label('chat.copy_turn')})", self.copy_last_turn),
            ("Export the chat", f"{key_label('chat.export')}: Markdown or JSON, to a file", self.action_export),
            ("Show or fold reasoning", f"{key_label('chat.toggle_reasoning')}: every turn's", self.action_toggle_reasoning),
            ("Fork from a turn", f"A new session up to the selected turn (on a focused turn: {key_label('chat.fork')}); "
             "asks which message when none is selected", self.action_fork_here),
        ]
        if self.team.is_group:
            for name in (m.name for m in self.team.spec.members):
                cmds.append((f"Next speaker: {name}", f"/next {name}", lambda n=name: self.choose_next(n)))
        if self.session is not None and self.session.built.mcp is not None:
            cmds.append(("MCP servers", "The team's MCP servers: status and tools", self.show_mcp))
        return cmds

    def show_mcp(self) -> None:
        from .mcp import McpScreen

        if self.session is not None and self.session.built.mcp is not None:
            self.app.push_screen(McpScreen(self.session.built.mcp))


def _question(agent: str, prompt: str) -> tuple[str, str]:
    """A human-input request as one clean question and what Enter alone / exit do, from AutoGen's
    prompts ("Replying as X. Provide feedback to Y. Press enter to skip and use auto-reply, ...")."""
    found = re.search(r"(?:Provide|give) feedback to (.+?)\. Press enter( to skip and use auto-reply)?", prompt)
    if found is None:
        text = prompt.strip().rstrip(":").strip()
        return (text if text and text != ">" else "Your message"), "Enter: send"
    who = found.group(1)
    as_ = f" (as {agent})" if agent != "you" else ""
    hint = "Enter alone: the auto-reply · exit: end the chat" if found.group(2) else "Enter alone or exit: end the chat"
    return f"Your reply to {who}{as_}?", hint


def _yours(events: list[ev.Event]) -> list[str]:
    """What the human wrote in a recorded chat, shown as "you" when replayed: the task (the root
    chat's first message) and each follow-up (the first message after a "continued" notice)."""
    out: list[str] = []
    root, wanted = None, True
    for e in events:
        if isinstance(e, ev.ChatStarted) and e.parent_chat_id is None and root is None:
            root = e.chat_id
        elif isinstance(e, ev.NoticeEvent) and e.kind == "continued" and e.chat_id == root:
            wanted = True
        elif wanted and isinstance(e, ev.MessagePosted) and e.chat_id == root:
            out.append((e.content or "").strip())
            wanted = False
    return out


def _whose(label: str) -> str:
    return "your turn" if label == "you" else f"{label}'s turn"


def _turn_note(turn: MessageTurn) -> str:
    """What a turn's block says under its header: why its speaker was chosen, memos recalled."""
    lines = [turn.selection.note] if turn.selection is not None else []
    lines += [f"✦ {note.text}" for note in turn.memory]
    return "\n".join(lines)


def _memory_note(action: str, text: str) -> str:
    if action == "proposed":
        return f"✦ {text} (accept or reject in the memory browser, M on home)"
    return f"✦ {text}"


def _approval_screen_type() -> type:
    from .approval import ApprovalScreen

    return ApprovalScreen
