"""Helpers of the MCP tests (team-file tables for the servers they start)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

FAULTY = Path(__file__).resolve().parent / "servers" / "faulty.py"
PY = sys.executable


def time_server(name: str = "time", **extra: str) -> str:
    """A team file's ``[mcp.NAME]`` table for the real mcp-server-time."""
    lines = [f"[mcp.{name}]", f"command = {PY!r}", 'args = ["-m", "mcp_server_time", "--local-timezone", "UTC"]']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def faulty_server(name: str, mode: str, **extra: str) -> str:
    lines = [f"[mcp.{name}]", f"command = {PY!r}", f"args = [{str(FAULTY)!r}, {mode!r}]"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
