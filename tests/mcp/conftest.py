"""Fixtures for the MCP tests: real reference servers on stdio (mcp-server-time, mcp-server-git,
from the registry), fault stand-ins (servers/faulty.py) and a Streamable HTTP server written with
the SDK's server class, on loopback."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from mcp_helpers import free_port as _free_port


@pytest.fixture
def git_repo(tmp_path):
    """A real git repository with one commit and one changed file."""
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    (repo / "notes.txt").write_text("one\n")
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "notes.txt"], ["git", "commit", "-q", "-m", "first"]):
        subprocess.run(cmd, cwd=repo, env=env, check=True)
    (repo / "notes.txt").write_text("one\ntwo\n")
    return repo


class _Seen:
    def __init__(self, app):
        self.app = app
        self.headers: list[dict[str, str]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await self.app(scope, receive, send)


@pytest.fixture
def http_server():
    """A Streamable HTTP MCP server (the SDK's MCPServer) on loopback, in a thread: tools add and
    shout. Yields (url, the request headers it saw)."""
    yield from _web_server("http")


@pytest.fixture
def sse_server():
    """The same server over the legacy SSE transport; yields (url of /sse, the headers it saw)."""
    yield from _web_server("sse")


def _web_server(transport):
    import uvicorn
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("calc")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def shout(text: str) -> str:
        """The text in capitals."""
        return text.upper()

    port = _free_port()
    app = _Seen(server.streamable_http_app() if transport == "http" else server.sse_app())
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    web = uvicorn.Server(config)
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not web.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the MCP HTTP fixture did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/{'mcp' if transport == 'http' else 'sse'}", app.headers
    web.should_exit = True
    thread.join(10)
