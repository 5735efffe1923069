"""``moot memory ...``: list, search, add, edit, forget, accept, export and import memos.

The store is the one models.toml's ``[memory]`` names (embedded under the data dir, or a Chroma
server). chromadb and the embedder are imported only when a memory command runs.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console

from .cli_output import Column, print_json, print_table

if TYPE_CHECKING:
    from moot.memory.memos import Memo, MemoStore

EXIT_OK, EXIT_FAILED = 0, 1  # as in tui/cli.py; configuration errors (2) are reported by cli.main
KINDS = ("fact", "preference", "task_advice")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _store(args: argparse.Namespace) -> MemoStore:
    from moot.backends import load_models
    from moot.memory.memos import MemoStore

    return MemoStore.from_config(load_models(getattr(args, "models", None)))


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def memo_entry(memo: Memo, distance: float | None = None) -> dict[str, Any]:
    """One memo as ``--json`` prints it (field names are documented in the README)."""
    entry = {"id": memo.id, "kind": memo.kind, "agent": memo.agent, "match": memo.match, "recall": memo.recall,
             "pending": memo.pending, "replaces": memo.replaces, "session_id": memo.session_id,
             "message_id": memo.message_id, "created": memo.created, "updated": memo.updated}
    if distance is not None:
        entry["distance"] = distance
    return entry


def _table(memos: list[Memo], title: str, distances: list[float] | None = None) -> None:
    columns = [Column("id", no_wrap=True)]
    columns += [Column(col, overflow="fold") for col in ("kind", "agent", "recall", "match", "updated")]
    if distances is not None:
        columns.insert(0, Column("distance", justify="right"))
    rows = []
    for i, m in enumerate(memos):
        row = [m.id + (" (pending)" if m.pending else ""), m.kind, m.agent, m.recall,
               "" if m.match == m.recall else m.match, _when(m.updated)]
        if distances is not None:
            row.insert(0, f"{distances[i]:.3f}")
        rows.append(row)
    print_table(out, title, columns, rows)


def _failed(message: str) -> int:
    err.print(f"[bold red]moot memory:[/] {message}", highlight=False)
    return EXIT_FAILED


def _guard(func: Any) -> Any:
    """Turn the memory errors a user can cause or meet into a message and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        from moot.memory.embeddings import EmbeddingError
        from moot.memory.memos import MemoryStoreError

        try:
            return func(args)
        except (MemoryStoreError, EmbeddingError) as exc:
            return _failed(str(exc))

    run.__name__ = func.__name__
    return run


@_guard
def cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    pending = True if args.pending else False
    memos = store.list(agent=args.agent, kind=args.kind, pending=pending)
    if args.json:
        print_json(out, {"store": store.where, "memos": [memo_entry(m) for m in memos]})
        return EXIT_OK
    what = "pending proposals" if args.pending else "memos"
    if not memos:
        out.print(f"no {what} in {store.where}")
        return EXIT_OK
    _table(memos, f"{len(memos)} {what} in {store.where}")
    return EXIT_OK


@_guard
def cmd_search(args: argparse.Namespace) -> int:
    store = _store(args)
    hits = store.search(args.query, k=args.k, agent=args.agent, kind=args.kind)
    if args.json:
        print_json(out, {"store": store.where, "query": args.query,
                         "memos": [memo_entry(h.memo, h.distance) for h in hits]})
        return EXIT_OK
    if not hits:
        out.print(f"nothing found in {store.where}")
        return EXIT_OK
    _table([h.memo for h in hits], f"best matches for {args.query!r} (cosine distance, lower is closer)",
           [h.distance for h in hits])
    return EXIT_OK


@_guard
def cmd_add(args: argparse.Namespace) -> int:
    from moot.memory.memos import SHARED

    if not args.text.strip():
        return _failed("the memo text is empty")
    store = _store(args)
    memo = store.add(args.match or args.text, args.text, kind=args.kind, agent=args.agent or SHARED)
    out.print(f"added {memo.id} ({memo.kind}, {memo.agent})")
    return EXIT_OK


@_guard
def cmd_edit(args: argparse.Namespace) -> int:
    if args.text is None and args.recall is None and args.kind is None and args.agent is None:
        return _failed("nothing to change: give --text, --recall, --kind or --agent")
    for value, flag in ((args.text, "--text"), (args.recall, "--recall")):
        if value is not None and not value.strip():
            return _failed(f"{flag} is empty")
    store = _store(args)
    try:
        memo = store.update(args.id, match=args.text, recall=args.recall, kind=args.kind, agent=args.agent)
    except KeyError:
        return _failed(f"no memo {args.id} in {store.where}")
    out.print(f"updated {memo.id}")
    return EXIT_OK


@_guard
def cmd_forget(args: argparse.Namespace) -> int:
    store = _store(args)
    missing = [i for i in args.ids if not store.delete(i)]
    for i in args.ids:
        if i not in missing:
            out.print(f"forgot {i}")
    if missing:
        return _failed(f"no memo {', '.join(missing)} in {store.where}")
    return EXIT_OK


@_guard
def cmd_accept(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        memo = store.accept(args.id)
    except KeyError:
        return _failed(f"no memo {args.id} in {store.where}")
    out.print(f"accepted {memo.id}")
    return EXIT_OK


@_guard
def cmd_export(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        n = store.export(args.file)
    except OSError as exc:
        return _failed(f"cannot write {args.file}: {exc}")
    out.print(f"exported {n} memo{'s' if n != 1 else ''} to {args.file}")
    return EXIT_OK


@_guard
def cmd_import(args: argparse.Namespace) -> int:
    store = _store(args)
    n = store.import_(args.file)
    out.print(f"imported {n} memo{'s' if n != 1 else ''} from {args.file} into {store.where}")
    return EXIT_OK


def add_memory_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``moot memory ...`` to the CLI's subparsers."""
    memory = subparsers.add_parser("memory", help="list, search, add, edit and forget what agents were taught")
    sub = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="every memo, oldest first")
    p.add_argument("--agent", help="only this agent's memos")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--pending", action="store_true", help="the proposals waiting for a decision instead")
    p.add_argument("--json", action="store_true", help="print JSON (fields: see the README)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("search", help="the memos closest in meaning to QUERY, best first")
    p.add_argument("query")
    p.add_argument("--agent", help="this agent's memos and the shared ones")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("-k", type=int, default=5, help="how many (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON, best first, with each memo's distance")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("add", help="teach TEXT (shared by every agent unless --agent)")
    p.add_argument("text")
    p.add_argument("--agent", help="only this agent recalls it")
    p.add_argument("--kind", choices=KINDS, default="fact")
    p.add_argument("--match", help="the text to match messages against (default: TEXT)")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("edit", help="change a memo")
    p.add_argument("id")
    p.add_argument("--text", help="new text to match (re-embedded)")
    p.add_argument("--recall", help="new text to recall")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--agent")
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser("forget", help="delete memos")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser("accept", help="accept a pending proposal (policy confirm)")
    p.add_argument("id")
    p.set_defaults(func=cmd_accept)

    p = sub.add_parser("export", help="write every memo to FILE (JSON lines)")
    p.add_argument("file")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="read memos from FILE (JSON lines), re-embedding them")
    p.add_argument("file")
    p.set_defaults(func=cmd_import)
    return memory
