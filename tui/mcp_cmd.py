"""``moot mcp list|check`` (the MCP servers moot knows of) and ``moot serve --mcp | --http ADDR``
(moot's teams served to other programs)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Console
from rich.text import Text

from .cli_output import Column, print_json, print_table

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _entries(name: str | None = None) -> list[Any]:
    from moot.agents._mcp import configured_servers

    found = configured_servers()
    if name is not None:
        found = [c for c in found if c.config is not None and c.config.name == name]
    return found


async def _probe_all(found: list[Any]) -> list[dict[str, Any]]:
    from moot.agents._mcp import probe

    async def one(c: Any) -> dict[str, Any]:
        row = {"name": c.config.name if c.config else None, "team": c.team, "file": c.source,
               "transport": c.config.transport if c.config else None,
               "runs": c.config.describe() if c.config else None,
               "approval": c.config.approval if c.config else None}
        if c.config is None:
            return {**row, "status": "invalid", "tools": [], "error": c.problem, "seconds": 0.0}
        return {**row, **await probe(c.config)}

    return list(await asyncio.gather(*(one(c) for c in found)))


def cmd_list(args: argparse.Namespace) -> int:
    rows_data = asyncio.run(_probe_all(_entries()))
    if args.json:
        print_json(out, {"servers": rows_data})
        return EXIT_OK
    rows = []
    for r in rows_data:
        status = Text(r["status"], style="green") if r["status"] == "ok" else Text(r["error"] or r["status"], style="red")
        rows.append([r["name"] or "-", r["team"] or "mcp.json", r["runs"] or "-", r["approval"] or "-", status,
                     ", ".join(r["tools"]) or "-"])
    columns = [Column("name", no_wrap=True), Column("from", no_wrap=True), Column("runs", overflow="fold"),
               Column("approval"), Column("status"), Column("tools")]
    print_table(out, "MCP servers", columns, rows)
    if not rows_data:
        from moot.agents._mcpconfig import user_mcp_file

        err.print(f"no MCP servers: declare them in {user_mcp_file()} ({{\"mcpServers\": {{...}}}}) or as "
                  f"[mcp.NAME] in a team file", markup=False)
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    found = _entries(args.name)
    if args.name and not found:
        known = sorted({c.config.name for c in _entries() if c.config is not None})
        err.print(Text(f"moot: no MCP server named {args.name!r} (servers: {', '.join(known) or 'none'})", style="red"))
        return EXIT_CONFIG
    results = asyncio.run(_probe_all(found))
    failures = 0
    for r in results:
        where = f"{r['name'] or '?'} ({r['team'] + ' team' if r['team'] else r['file']})"
        if r["status"] == "ok":
            out.print(f"[green]ok[/]    {where}: {len(r['tools'])} tools in {1000 * r['seconds']:.0f} ms: "
                      f"{', '.join(r['tools']) or '-'}", markup=True, highlight=False)
        else:
            failures += 1
            out.print(Text.assemble(("fail", "red"), f"  {where}: {r['error']}"))
    if not results:
        err.print("no MCP servers to check", markup=False)
        return EXIT_FAILED
    return EXIT_FAILED if failures else EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from moot.agents._serve import ServeError, serve_http, serve_stdio

    try:
        if args.mcp:
            serve_stdio(models=args.models, teams=args.team)
        else:
            serve_http(args.http, token_env=args.token_env, models=args.models, teams=args.team,
                       announce=lambda text: err.print(f"moot: {text}", markup=False))
    except ServeError as exc:
        err.print(Text(f"moot: {exc}", style="red"))
        return EXIT_CONFIG
    return EXIT_OK


def add_mcp_commands(subparsers) -> None:
    """``moot mcp list|check`` and ``moot serve``."""
    mcp = subparsers.add_parser("mcp", help="the MCP servers teams take tools from: list, check")
    sub = mcp.add_subparsers(dest="mcp_command", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="servers from mcp.json and team files, their status and tools")
    p.add_argument("--json", action="store_true", help="print JSON (fields: see the README)")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("check", help="start each server (or NAME), list its tools; exit 1 if one fails")
    p.add_argument("name", nargs="?", help="only servers of this name")
    p.set_defaults(func=cmd_check)

    p = subparsers.add_parser("serve", help="serve the teams to other programs: MCP on stdio, or MCP and an "
                                            "OpenAI-compatible API over HTTP")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--mcp", action="store_true", help="speak MCP on stdin/stdout (one tool run_<team> per team)")
    how.add_argument("--http", metavar="ADDR", help="HOST:PORT: Streamable HTTP at /mcp, /v1/models, /v1/chat/completions")
    p.add_argument("--token-env", metavar="VAR", help="clients must send 'Authorization: Bearer <the value of VAR>' "
                                                      "(required for an address other than loopback)")
    p.add_argument("--team", action="append", help="serve only this team (repeatable; default: every team)")
    p.set_defaults(func=cmd_serve)
