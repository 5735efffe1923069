"""``moot sessions ...``: list, show, export, import, resume, fork, replay and delete recorded sessions."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from .cli_output import Column, print_json, print_table

if TYPE_CHECKING:
    from moot.memory import SessionInfo

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
STATUS_STYLE = {"running": "cyan", "stopped": "green", "interrupted": "yellow", "failed": "red"}

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _store():
    from moot.memory import SessionStore

    return SessionStore.open_default()


def _markdown(store, session_id: str) -> str:
    """The session's transcript as Markdown: every message of every run, drawn by the reducer
    the console and the app use."""
    from moot.agents.transcript import to_markdown

    info = store.get(session_id)
    return to_markdown(store.events(info.id), info)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def outcome_of(info: SessionInfo) -> str | None:
    """How the session's last run ended: completed | failed | cancelled | interrupted (None while running)."""
    return info.outcome


def session_entry(info: SessionInfo) -> dict[str, Any]:
    """One session as ``--json`` prints it (field names are documented in the README)."""
    return {"id": info.id, "title": info.title, "team": info.team_name, "task": info.task, "status": info.status,
            "outcome": outcome_of(info), "resumable": info.resumable, "messages": info.messages,
            "stop_reason": info.stop_reason, "stop_condition": info.stop_condition, "created": info.created,
            "updated": info.updated, "parent_id": info.parent_id, "fork_message_id": info.fork_message_id,
            "default_model": info.default_model}


def message_entries(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every posted message in the order it was posted (nested chats too: ``chat_id`` tells them apart)."""
    return [{"id": e.get("message_id"), "chat_id": e.get("chat_id"), "sender": e.get("sender"),
             "recipient": e.get("recipient"), "role": e.get("role"), "content": e.get("content"),
             "tool_calls": list(e.get("tool_calls") or ()), "ts": e.get("ts")}
            for e in events if e["type"] == "message"]


def lineage(sessions: list[Any]) -> list[tuple[Any, int]]:
    """Sessions as a fork tree, ``(info, depth)``: each session (most recent first) followed by
    the forks made from it, indented one deeper; a fork whose parent is not in the list (older,
    deleted) starts a tree of its own."""
    ids = {s.id for s in sessions}
    children: dict[str | None, list[Any]] = {}
    for s in sessions:
        children.setdefault(s.parent_id if s.parent_id in ids else None, []).append(s)
    out: list[tuple[Any, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for s in children.get(parent, []):
            out.append((s, depth))
            walk(s.id, depth + 1)

    walk(None, 0)
    return out


def tree_title(info: Any, depth: int, width: int | None = None) -> str:
    """The title drawn in a fork tree: "└ " under its parent, one step in per generation."""
    title = info.title or getattr(info, "task", "") or ""
    text = ("  " * (depth - 1) + "└ " if depth else "") + title
    return text if width is None else text[:width]


def cmd_list(args: argparse.Namespace) -> int:
    sessions = _store().list(limit=args.limit)
    if args.json:
        print_json(out, {"sessions": [session_entry(s) for s in sessions]})
        return EXIT_OK
    if not sessions:
        out.print("no sessions yet (every `moot run` records one)")
        return EXIT_OK
    rows = []
    for s, depth in lineage(sessions):
        status = Text(s.status, style=STATUS_STYLE.get(s.status, ""))
        if s.parent_id:
            status.append(f" (fork of {s.parent_id})", style="dim")
        rows.append([s.id, _when(s.updated), s.team_name or "-", status, str(s.messages), tree_title(s, depth)])
    columns = [Column("id", no_wrap=True), Column("updated", no_wrap=True), Column("team", no_wrap=True),
               Column("status"), Column("messages", justify="right"), Column("title")]
    print_table(out, "sessions, most recent first (a fork under the session it came from)", columns, rows)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    store = _store()
    if args.json:
        info = store.get(args.id)
        print_json(out, {"session": session_entry(info), "messages": message_entries(store.events(info.id))})
        return EXIT_OK
    text = _markdown(store, args.id)
    if args.raw or not out.is_terminal:
        out.print(text, markup=False, end="")
    else:
        from rich.markdown import Markdown  # here, not at the top: it costs the app's first frame ~85 ms

        out.print(Markdown(text))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    store = _store()
    text = _markdown(store, args.id) if args.format == "md" else store.export(args.id, "json")
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        err.print(f"wrote {args.output}")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    store = _store()
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    sid = store.import_json(text)
    out.print(sid)
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    store = _store()
    info = store.get(args.id)
    store.delete(info.id)
    err.print(f"deleted session {info.id} ({info.messages} messages)")
    return EXIT_OK


def cmd_fork(args: argparse.Namespace) -> int:
    store = _store()
    sid = store.fork(args.id, args.at, title=args.title)
    out.print(sid)
    err.print(f"forked: resume it with `moot sessions resume {sid}`")
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    """Go on with a session: where its last run stopped, or with ``--message`` as a new turn of
    the same chat (exactly like typing it in the app)."""
    from moot.agents import Session

    from .headless import ConsoleRenderer, run_session

    store = _store()
    info = store.get(args.id)
    mode = args.human_input
    if mode is None and not sys.stdin.isatty():
        mode = "NEVER"
    if args.message is None and not info.resumable:
        err.print(Text(f"moot: session {info.id} completed ({info.stop_reason or '-'}); there is nothing to resume. "
                       f"Go on with a message: moot sessions resume {info.id} --message TEXT, or fork it at a "
                       f"message: moot sessions fork {info.id} --at N", style="red"))
        return EXIT_FAILED
    session = Session.open(info.id, store=store, models=args.models, human_input_mode=mode, executor=args.executor,
                           work_dir=args.work_dir, approve_imported_code=args.approve_imported_code)
    if session.imported:
        err.print(Text(f"session {info.id} was imported: its code runs where your own team {session.team.name[:40]!r} "
                       f"and your flags say, never where the record says"
                       + ("" if args.approve_imported_code else "; its first code block waits for "
                          "--approve-imported-code"), style="yellow"))
    what = "with a new message" if args.message is not None else "where it stopped"
    err.print(Text(f"session {info.id} goes on {what} (last run: {info.outcome or info.status}: "
                   f"{info.stop_reason or '-'})", style="dim"))
    renderer = ConsoleRenderer(out, err)
    return run_session(session, renderer, err, args.message)


def cmd_check(args: argparse.Namespace) -> int:
    """SQLite's integrity check of the session store; exit 2 when it is damaged (it is not changed)."""
    store = _store()
    problems = store.check()
    if not problems:
        out.print(f"the session store at {store.path} is sound")
        return EXIT_OK
    err.print(Text(f"moot: the session store at {store.path} is damaged; moot will not write to it. Move it aside "
                   f"(mv {store.path} {store.path}.damaged) to start a new one, or restore a backup:", style="red"))
    lines = [line for problem in problems for line in problem.splitlines() if line.strip()]
    for line in lines[:10]:
        err.print(f"  {line}", markup=False)
    if len(lines) > 10:
        err.print(f"  ... and {len(lines) - 10} more lines", markup=False)
    return EXIT_CONFIG


def cmd_replay(args: argparse.Namespace) -> int:
    import asyncio

    from moot.agents import a_replay_session

    from .headless import ConsoleRenderer

    renderer = ConsoleRenderer(out, err) if not args.quiet else None
    outcome = asyncio.run(a_replay_session(args.id, store=_store(), on_event=renderer,
                                           approve_imported_code=args.approve_imported_code))
    if renderer is not None:
        renderer.summary()
    if outcome.identical:
        err.print(Text(f"replay {outcome.session_id}: the transcript is identical to session {args.id}", style="green"))
        return EXIT_OK
    err.print(Text(f"replay {outcome.session_id}: the transcript differs from session {args.id}:", style="bold red"))
    for line in outcome.differences[:10]:
        err.print(f"  {line}", markup=False)
    return EXIT_FAILED


def _guard(func):
    """Store problems become one clear line and exit code 1 (2 for a damaged/newer store)."""

    def run(args: argparse.Namespace) -> int:
        from moot.memory import SessionNotFound, SessionStoreError

        try:
            return func(args)
        except SessionNotFound as exc:
            err.print(Text(f"moot: {exc}", style="red"))
            return EXIT_FAILED
        except SessionStoreError as exc:
            err.print(Text(f"moot: {exc}", style="bold red"))
            return EXIT_CONFIG if "session store" in str(exc) and "recording" not in str(exc) else EXIT_FAILED
        except ValueError as exc:
            err.print(Text(f"moot: {exc}", style="red"))
            return EXIT_FAILED

    return run


def add_sessions_commands(subparsers) -> None:
    """``moot sessions list|show|export|import|resume|fork|replay|delete``."""
    sessions = subparsers.add_parser("sessions", help="recorded sessions: list, show, export, resume, fork, replay")
    sub = sessions.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="sessions, most recent first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="print JSON (fields: see the README)")
    p.set_defaults(func=_guard(cmd_list))

    p = sub.add_parser("show", help="a session's transcript")
    p.add_argument("id", help="a session id (a unique prefix will do)")
    p.add_argument("--raw", action="store_true", help="print the Markdown as is")
    p.add_argument("--json", action="store_true", help="the session and its messages, in order, as JSON")
    p.set_defaults(func=_guard(cmd_show))

    p = sub.add_parser("export", help="a session as Markdown (to read) or JSON (to import back)")
    p.add_argument("id")
    p.add_argument("--format", choices=("md", "json"), default="md")
    p.add_argument("-o", "--output", help="a file (default: stdout)")
    p.set_defaults(func=_guard(cmd_export))

    p = sub.add_parser("import", help="import a JSON export (prints the new session's id)")
    p.add_argument("file", help="the JSON file, or - for stdin")
    p.set_defaults(func=_guard(cmd_import))

    p = sub.add_parser("resume", help="go on with a session: where it stopped, or with --message as a new turn")
    p.add_argument("id")
    p.add_argument("--message", "-m", metavar="TEXT",
                   help="continue the same chat with this message (as typing it in the app); works after any stop")
    p.add_argument("--human-input", choices=("ALWAYS", "TERMINATE", "NEVER"))
    p.add_argument("--executor", choices=("docker", "sandbox", "local"), help="where code runs (overrides the team file)")
    p.add_argument("--work-dir", help="the folder code runs in (overrides the team file)")
    p.add_argument("--approve-imported-code", action="store_true",
                   help="an imported session: run its code blocks without asking (read them first: sessions show)")
    p.set_defaults(func=_guard(cmd_resume))

    p = sub.add_parser("fork", help="a new session from a session's message (prints its id)")
    p.add_argument("id")
    p.add_argument("--at", required=True, metavar="MESSAGE", help="a message number (1 = first) or message id")
    p.add_argument("--title")
    p.set_defaults(func=_guard(cmd_fork))

    p = sub.add_parser("replay", help="run a session again on the scripted backend (its recorded replies) and compare")
    p.add_argument("id")
    p.add_argument("-q", "--quiet", action="store_true", help="only say whether the transcript is identical")
    p.add_argument("--approve-imported-code", action="store_true",
                   help="an imported session: run its recorded code blocks (read them first: sessions show)")
    p.set_defaults(func=_guard(cmd_replay))

    p = sub.add_parser("delete", help="delete a session and its events")
    p.add_argument("id")
    p.set_defaults(func=_guard(cmd_delete))
    p = sub.add_parser("check", help="check the session store's file for damage (changes nothing)")
    p.set_defaults(func=_guard(cmd_check))
